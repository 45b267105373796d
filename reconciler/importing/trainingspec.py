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

import yaml

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


def read_config(path: Path, found: Found, where: tuple[str, int]) -> dict[str, Any]:
    """A ``--config`` (or hptuning) file: YAML, or JSON (a YAML subset)."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        found.note(
            where, f"--config {path}: cannot read it ({exc.strerror}); its settings are lost"
        )
        return {}
    except yaml.YAMLError as exc:
        found.note(where, f"--config {path}: not YAML or JSON ({exc}); its settings are lost")
        return {}
    if not isinstance(loaded, dict):
        found.note(where, f"--config {path}: not a mapping; its settings are lost")
        return {}
    return loaded


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
