"""Predicting with a deployed SavedModel in-process, like `gcloud ai-platform local predict`.

Instances are JSON objects of raw features by name, the same shape the
online-prediction APIs take (``{"instances": [...]}``). Each is checked
against the model's serving signature: an unknown or missing feature, or a
value of the wrong type, is an error naming the instance and the feature.
TensorFlow is imported here, and only when a prediction is asked for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from reconciler.diagnostics import MlapplyError

SIGNATURE = "serving_default"


def read_instances(text: str, source: str) -> list[dict[str, Any]]:
    """Instances from ``{"instances": [...]}``, a JSON list, or JSON lines."""
    stripped = text.strip()
    try:
        loaded = json.loads(stripped)
    except ValueError:
        try:
            loaded = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        except ValueError as exc:
            raise MlapplyError(
                f"{source}: not JSON ({exc})",
                'give {"instances": [...]}, a JSON list, or one JSON object per line',
            ) from exc
    if isinstance(loaded, dict) and "instances" in loaded:
        loaded = loaded["instances"]
    if isinstance(loaded, dict):
        loaded = [loaded]
    if not isinstance(loaded, list) or not all(isinstance(i, dict) for i in loaded):
        raise MlapplyError(f"{source}: instances must be JSON objects of features by name")
    if not loaded:
        raise MlapplyError(f"{source}: no instances")
    return loaded


def predict(model_dir: Path, instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    import tensorflow as tf

    try:
        signature = tf.saved_model.load(str(model_dir)).signatures[SIGNATURE]
    except (OSError, KeyError, ValueError) as exc:
        raise MlapplyError(f"cannot load the SavedModel in {model_dir}: {exc}") from exc
    specs: dict[str, Any] = signature.structured_input_signature[1]
    inputs = {}
    for name, spec in specs.items():
        values = []
        for index, instance in enumerate(instances):
            if name not in instance:
                raise MlapplyError(
                    f"instance {index}: missing feature {name!r}",
                    "the model takes: " + ", ".join(sorted(specs)),
                )
            values.append(instance[name])
        try:
            inputs[name] = tf.constant(values, dtype=spec.dtype)
        except (TypeError, ValueError) as exc:
            raise MlapplyError(
                f"feature {name!r}: cannot make {spec.dtype.name} values of {values[:3]!r}"
            ) from exc
    for index, instance in enumerate(instances):
        unknown = sorted(set(instance) - set(specs))
        if unknown:
            raise MlapplyError(
                f"instance {index}: unknown feature {unknown[0]!r}",
                "the model takes: " + ", ".join(sorted(specs)),
            )
    outputs = signature(**inputs)
    columns = {key: value.numpy().tolist() for key, value in outputs.items()}
    return [
        {key: _plain(column[i]) for key, column in columns.items()} for i in range(len(instances))
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
