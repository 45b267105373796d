"""What a local job's trainer reported: the cloudml-hypertune metric file the runner
pointed it at (``CLOUD_ML_HP_METRIC_FILE``), and ``metrics.json`` beside its export.

A trainer opts in either way: ``hypertune.HyperTune().report_hyperparameter_
tuning_metric(tag, value, step)`` (what Cloud ML Engine and Vertex AI read), or
a JSON object of numbers in ``metrics.json`` in the folder it exports to or its
output dir (the newest one there wins). Where both name a metric, the hypertune
report wins: it is what a tuning study ranks trials by.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.tuning import hypertune
from reconciler.tuning.hypertune import Measurement

METRICS_FILE = "metrics.json"
_LARGEST_METRICS_FILE = 1 << 20


CHIEF_TASK = "chief-0"


def hypertune_file(job_dir: Path, trial: object | None, task: str = CHIEF_TASK) -> Path:
    """Where a task's cloudml-hypertune reports go, inside its job's (or trial's) folder.

    Each task has a file of its own, as each cloud replica writes to its own disk
    (the library's default is ``/tmp/hypertune/output.metrics``, cloudml-hypertune
    ``hypertune.py``, checked 2026-12-05), and the chief's is the one read: the
    replica that "reports status for the job as a whole" (Vertex AI, Distributed
    training, cloud.google.com/vertex-ai/docs/training/distributed-training, checked
    2026-12-05). A worker that reports its own evaluation does not mix it in."""
    folder = job_dir / "hypertune" / str(trial or 0)
    return folder / "output.metrics" if task == CHIEF_TASK else folder / task / "output.metrics"


def hypertune_text(job_dir: Path, request: Mapping[str, Any]) -> str:
    return hypertune.read(hypertune_file(job_dir, request.get("trial"))).text


def last_report(job_dir: Path, trial: object | None) -> tuple[dict[str, float], int]:
    """The chief's last cloudml-hypertune report (its values and ``step``), and how many
    lines of its file are not reports."""
    text = hypertune_text(job_dir, {"trial": trial})
    return hypertune.last_report(text), hypertune.skipped(text)


def trial_measurements(
    job_dir: Path, request: Mapping[str, Any], tag: str
) -> tuple[Measurement, ...]:
    return hypertune.measurements(hypertune_text(job_dir, request), tag)


def metrics_json(folder: str) -> dict[str, float]:
    """The numbers of the newest ``metrics.json`` under ``folder``."""
    root = Path(folder)
    if not root.is_dir():
        return {}
    found = [p for p in root.rglob(METRICS_FILE) if p.is_file()]
    for path in sorted(found, key=lambda p: os.stat(p).st_mtime_ns, reverse=True):
        if path.stat().st_size > _LARGEST_METRICS_FILE:
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return {
                str(k): float(v)
                for k, v in data.items()
                if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            }
    return {}


def job_figures(job_dir: Path, request: Mapping[str, Any]) -> dict[str, float]:
    """Every figure a finished job reported, by name."""
    output = str(request.get("output_dir") or request.get("job_dir") or "")
    figures = metrics_json(output) if output else {}
    if not figures and request.get("job_dir"):
        figures = metrics_json(str(request["job_dir"]))
    figures.update(hypertune.reported(hypertune_text(job_dir, request)))
    return figures
