"""ML Engine's ``trainingInput`` (from a ``--config`` file and the flags) as a
TrainingJob's spec, and config files read as data.

Fields mlapply declares elsewhere (package, module, job dir, region, service
account) are taken by the caller; what no manifest field holds is returned as
notes. Field names are the ml v1 discovery document's (gcp-api.md 1.2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.diagnostics import MlapplyError

if TYPE_CHECKING:
    from reconciler.importing.gcloud import Found

_ROLES = ("master", "worker", "parameterServer", "evaluator")
_HANDLED = frozenset(
    {
        "scaleTier",
        "runtimeVersion",
        "pythonVersion",
        "hyperparameters",
        "scheduling",
        "args",
        "region",
        "jobDir",
        "packageUris",
        "pythonModule",
        "serviceAccount",
        *(f"{role}{part}" for role in _ROLES for part in ("Type", "Count", "Config")),
    }
)
_NOT_TRANSLATED = {
    "network": "mlapply does not peer jobs with a VPC network",
    "encryptionConfig": "mlapply does not set a customer-managed encryption key",
    "useChiefInTfConfig": "mlapply's runtimes name the chief 'chief' already",
    "enableWebAccess": "mlapply has no interactive shell into jobs",
}


def read_config(
    path: Path, found: Found, where: tuple[str, int], within: Path | None = None
) -> dict[str, Any]:
    """A ``--config`` (or hptuning) file: YAML, or JSON (a YAML subset), read as the
    manifests are (bounded in size, depth and alias expansion, never a FIFO or a device)
    and its values checked against the types of the ml v1 discovery document, each bad
    one an error at its file:line. A file a script names outside ``within`` (the
    script's folder) is not read."""
    from reconciler.manifests.yaml_reader import read_yaml_file

    if within is not None and not path.resolve().is_relative_to(within.resolve()):
        found.note(
            where,
            f"--config {path}: outside {within}, the imported script's folder: not read, "
            "its settings are lost (give the file to mlapply import as well)",
        )
        return {}
    if not path.exists():
        found.note(where, f"--config {path}: no such file; its settings are lost")
        return {}
    documents, problems = read_yaml_file(str(path), str(path))
    if problems:
        raise MlapplyError(problems[0].render())
    if not documents or not isinstance(documents[0].data, dict):
        found.note(where, f"--config {path}: not a mapping; its settings are lost")
        return {}
    document = documents[0]
    _check(document, (), document.data, _CONFIG)
    loaded: dict[str, Any] = document.data
    return loaded


class Fields(dict[str, Any]):
    """A mapping's known fields and their types, and those it must have."""

    def __init__(self, fields: dict[str, Any], required: tuple[str, ...] = ()) -> None:
        super().__init__(fields)
        self.required = required


Check = type | tuple[type, ...] | dict[str, Any] | list[Any]
_COUNT = (int, str)  # int64 fields are JSON strings in the REST shape (discovery document)
_ACCELERATOR = {"type": str, "count": _COUNT}
_REPLICA = {"acceleratorConfig": _ACCELERATOR, "imageUri": str}
_PARAMETER = Fields(
    {
        "parameterName": str,
        "type": str,
        "minValue": (int, float),
        "maxValue": (int, float),
        "categoricalValues": [str],
        "discreteValues": [(int, float)],
        "scaleType": str,
    },
    required=("parameterName", "type"),
)
_HYPERPARAMETERS = {
    "goal": str,
    "hyperparameterMetricTag": str,
    "maxTrials": int,
    "maxParallelTrials": int,
    "maxFailedTrials": int,
    "algorithm": str,
    "enableTrialEarlyStopping": bool,
    "resumePreviousJobId": str,
    "params": [_PARAMETER],
}
_TRAINING_INPUT = {
    **{key: str for key in ("scaleTier", "runtimeVersion", "pythonVersion", "region")},
    **{key: str for key in ("jobDir", "pythonModule", "serviceAccount", "network")},
    **{f"{role}Type": str for role in _ROLES},
    **{f"{role}Count": _COUNT for role in _ROLES if role != "master"},
    **{f"{role}Config": _REPLICA for role in _ROLES},
    "packageUris": [str],
    "args": [str],
    "hyperparameters": _HYPERPARAMETERS,
    "scheduling": {"maxRunningTime": str, "maxWaitTime": str},
}
_CONFIG = {"trainingInput": _TRAINING_INPUT, "labels": {}}
"""The fields mlapply reads, with their types (ml v1 discovery document, schemas
GoogleCloudMlV1__TrainingInput, __HyperparameterSpec, __ParameterSpec, __ReplicaConfig,
checked 2026-12-06); other fields are left to the notes."""


def _check(document: Any, at: tuple[str | int, ...], value: Any, expected: Check) -> None:
    if isinstance(expected, dict):
        if not isinstance(value, dict):
            _refuse(document, at, value, "a mapping")
        for key in getattr(expected, "required", ()):
            if key not in value:
                field = ".".join(str(part) for part in at)
                raise MlapplyError(
                    f"{document.at(at)}: {field} has no {key}", "fix the config: gcloud needs it"
                )
        for key, item in value.items():
            if key in expected:
                _check(document, (*at, key), item, expected[key])
        return
    if isinstance(expected, list):
        if not isinstance(value, list):
            _refuse(document, at, value, "a list")
        for index, item in enumerate(value):
            _check(document, (*at, index), item, expected[0])
        return
    wanted = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in wanted:
        _refuse(document, at, value, _names(wanted))
    if not isinstance(value, wanted):
        _refuse(document, at, value, _names(wanted))
    if expected == _COUNT and not str(value).isdigit():
        _refuse(document, at, value, "a whole number")


def _names(types: tuple[type, ...]) -> str:
    words = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}
    return " or ".join(dict.fromkeys(words.get(t, t.__name__) for t in types))


def _refuse(document: Any, at: tuple[str | int, ...], value: Any, wanted: str) -> None:
    field = ".".join(str(part) for part in at) or "the file"
    shown = (
        json.dumps(value)[:60]
        if isinstance(value, str | int | float | bool)
        else type(value).__name__
    )
    raise MlapplyError(
        f"{document.at(at)}: {field} is {shown}, not {wanted}",
        "fix the config: gcloud would refuse it too",
    )


def machines(spec: dict[str, Any], found: Found, where: tuple[str, int]) -> dict[str, Any]:
    """CUSTOM's machines (``spec.machines``) from masterType, workerType/Count..."""
    declared: dict[str, Any] = {}
    for role in _ROLES:
        machine = spec.get(f"{role}Type")
        if not machine:
            continue
        group: dict[str, Any] = {"type": machine}
        if role != "master":
            group["count"] = int(spec.get(f"{role}Count", 1))
        config = spec.get(f"{role}Config") or {}
        accelerator = config.get("acceleratorConfig")
        if accelerator:
            group["accelerator"] = {
                "type": accelerator["type"],
                "count": int(accelerator.get("count", 1)),
            }
        for key in sorted(set(config) - {"acceleratorConfig"}):
            found.note(
                where,
                f"{role}Config.{key}: not translated: mlapply sets machine "
                "types and accelerators only",
            )
        declared[role] = group
    return declared


def tuning(spec: dict[str, Any], found: Found, where: tuple[str, int]) -> dict[str, Any]:
    """A HyperparameterSpec as ``spec.hyperparameterTuning``."""
    out: dict[str, Any] = {
        "goal": spec.get("goal", "MAXIMIZE"),
        "metric": spec.get("hyperparameterMetricTag", "training/hptuning/metric"),
    }
    for key, name in (
        ("maxTrials", "maxTrials"),
        ("maxParallelTrials", "maxParallelTrials"),
        ("maxFailedTrials", "maxFailedTrials"),
    ):
        if key in spec:
            out[name] = int(spec[key])
    algorithm = spec.get("algorithm", "ALGORITHM_UNSPECIFIED")
    out["algorithm"] = "BAYESIAN" if algorithm == "ALGORITHM_UNSPECIFIED" else algorithm
    if spec.get("enableTrialEarlyStopping"):
        out["enableEarlyStopping"] = True
    if spec.get("resumePreviousJobId"):
        found.note(
            where,
            "hyperparameters.resumePreviousJobId: not translated: each mlapply "
            "study starts afresh (its identity is its content)",
        )
    params = []
    for param in spec.get("params", []):
        item: dict[str, Any] = {"name": param["parameterName"], "type": param["type"]}
        if "minValue" in param:
            item["min"] = param["minValue"]
        if "maxValue" in param:
            item["max"] = param["maxValue"]
        values = param.get("categoricalValues") or param.get("discreteValues")
        if values:
            item["values"] = list(values)
        if param.get("scaleType"):
            item["scale"] = param["scaleType"]
        params.append(item)
    out["params"] = params
    return out


def leftovers(spec: dict[str, Any], found: Found, where: tuple[str, int]) -> None:
    """Say what of a trainingInput no manifest field holds."""
    for key in sorted(set(spec) - _HANDLED):
        why = _NOT_TRANSLATED.get(key, "no manifest field holds it")
        found.note(where, f"trainingInput.{key} {json.dumps(spec[key])}: not translated: {why}")
    scheduling = spec.get("scheduling") or {}
    for key in sorted(set(scheduling) - {"maxRunningTime"}):
        found.note(
            where,
            f"trainingInput.scheduling.{key}: not translated: mlapply sets "
            "maxRunningTime only (spec.timeout)",
        )
