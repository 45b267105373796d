"""Predicting with a deployed SavedModel in-process, like `gcloud ai-platform local predict`.

Instances are what the online-prediction APIs take (``{"instances": [...]}``,
a JSON list, or JSON lines), checked against the model's serving signature
(:mod:`reconciler.serving.signature`) exactly as `mlapply serve` checks them.
TensorFlow is imported only when a prediction is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.diagnostics import MlapplyError
from reconciler.serving.signature import InstanceError, ServingSignature, rows, strict_json


def read_instances(text: str, source: str) -> list[Any]:
    """Instances from ``{"instances": [...]}``, a JSON list, or JSON lines."""
    stripped = text.strip()
    try:
        loaded = strict_json(stripped)
    except ValueError:
        try:
            loaded = [strict_json(line) for line in stripped.splitlines() if line.strip()]
        except ValueError as exc:
            raise MlapplyError(
                f"{source}: not JSON ({exc})",
                'give {"instances": [...]}, a JSON list, or one JSON object per line',
            ) from exc
    if isinstance(loaded, dict) and "instances" in loaded:
        loaded = loaded["instances"]
    if isinstance(loaded, dict):
        loaded = [loaded]
    if not isinstance(loaded, list):
        raise MlapplyError(f"{source}: instances must be a JSON list")
    if not loaded:
        raise MlapplyError(f"{source}: no instances")
    return loaded


def predict(
    model_dir: Path, instances: list[Any], note: Callable[[str], None] = lambda _: None
) -> list[Any]:
    signature = ServingSignature.load(model_dir)
    if signature.note:
        note(signature.note)
    try:
        columns, count = signature.columns_from_instances(instances)
    except InstanceError as exc:
        raise MlapplyError(str(exc)) from exc
    return rows(signature.run(columns), 0, count)
