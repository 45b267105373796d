"""What a Ray job's tasks used, read back from the files its launcher wrote.

Ray's Jobs API reports no CPU or memory per job, and its dashboard's node
figures mix every job on a node; the launcher instead samples each task's own
process tree (``launcher.watch_usage``) into ``usage/TASK.json`` in the job's
(or a trial's) folder of the shared storage. These files are the trainer's
neighbours, so each read is bounded, never through a link, and a file that is
not a series is left out.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.backends.ray import staging
from reconciler.tuning import hypertune

LARGEST_SERIES = 1 << 20
"""A task's series is at most ``telemetry.MAX_SAMPLES`` points (about 30 KiB)."""
Point = tuple[float, float, int]


def _series(path: Path) -> dict[str, Any] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode) or found.st_size > LARGEST_SERIES:
            return None
        try:
            data = json.loads(handle.read())
        except (ValueError, RecursionError):
            return None
    if not isinstance(data, dict) or not isinstance(data.get("points"), list):
        return None
    return data


def _points(data: Mapping[str, Any], since: float | None) -> list[Point]:
    points: list[Point] = []
    for point in data["points"]:
        try:
            at, cpu, rss = float(point[0]), float(point[1]), int(point[2])
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if since is None or at > since:
            points.append((at, cpu, rss))
    return points


def tasks(job_dir: str) -> dict[str, dict[str, Any]]:
    """Each task's series in a job's (or trial's) folder, by task."""
    folder = Path(staging.usage_file(job_dir)).parent
    try:
        names = sorted(p for p in folder.iterdir() if p.suffix == ".json")
    except OSError:
        return {}
    found = ((path.stem, _series(path)) for path in names)
    return {task: data for task, data in found if data is not None}


def series(job_dir: str, since: float | None = None) -> dict[str, list[Point]]:
    """(time, CPUs, resident bytes) points by task, oldest first, after ``since``."""
    return {task: _points(data, since) for task, data in tasks(job_dir).items()}


def figures(runs: Sequence[str], running: Sequence[str]) -> dict[str, Any]:
    """A job's figures as ``Usage.job_usage`` gives them, from the folders of its runs
    (the job's, or a study's trials'): ``mean_cpu`` (CPU seconds of every task over the
    span from the first start to the last sample), ``peak_rss_bytes`` (the most one run
    held: its tasks' peaks added) and, of the ``running`` ones, ``cpu`` and ``rss_bytes``
    (their tasks' latest samples together) and ``reported`` (the last chief's report)."""
    found: dict[str, Any] = {}
    each = {folder: tasks(folder) for folder in runs}
    spans = [_span(data) for held in each.values() for data in held.values()]
    known = [span for span in spans if span is not None]
    if known:
        wall = max(end for _, end, _ in known) - min(start for start, _, _ in known)
        found["mean_cpu"] = sum(seconds for _, _, seconds in known) / max(wall, 1e-3)
    peaks = [
        sum(int(d["peak_rss_bytes"]) for d in held.values() if _number(d.get("peak_rss_bytes")))
        for held in each.values()
    ]
    if any(peaks):
        found["peak_rss_bytes"] = max(peaks)
    latest = [
        points[-1]
        for folder in running
        for data in each.get(folder, tasks(folder)).values()
        if data.get("ended") is None and (points := _points(data, None))
    ]
    if latest:
        found["cpu"] = sum(cpu for _, cpu, _ in latest)
        found["rss_bytes"] = sum(rss for _, _, rss in latest)
    if running:
        texts = [hypertune.read(_chief_metrics(folder)).text for folder in running]
        said = [hypertune.last_report(text) for text in texts]
        found["reported"] = next((r for r in reversed(said) if r), {})
        found["skipped_reports"] = sum(map(hypertune.skipped, texts))
    return found


def _chief_metrics(folder: str) -> str:
    return staging.metric_file(folder).replace(staging.TASK, staging.CHIEF)


def _span(data: Mapping[str, Any]) -> tuple[float, float, float] | None:
    """(start, end, CPU seconds) of a task: its mean over its run, ended or sampled."""
    points = _points(data, None)
    end = hypertune.number(data.get("ended")) or (points[-1][0] if points else None)
    start, mean = hypertune.number(data.get("started")), hypertune.number(data.get("mean_cpu"))
    if start is None or end is None or mean is None or end < start:
        return None
    return start, end, mean * (end - start)


def _number(value: Any) -> bool:
    return hypertune.number(value) is not None
