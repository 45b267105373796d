"""Request bodies for Vertex AI, and Vertex's answers read back as live records.

Pure functions: what a job, a tuning spec or a version becomes in
``aiplatform`` v1 terms (DESIGN.md's tier table, gcp-api.md sections 5.1-5.7).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple

from reconciler.backends.base import JobState, LiveTrial
from reconciler.backends.compiled import CompiledVersion, Pool, Role
from reconciler.backends.google.times import seconds
from reconciler.backends.google.vertex import catalogue, servers
from reconciler.stack.resources import ServingContainer, Tuning
from reconciler.tuning.study import Trial, best

# workerPoolSpecs: the pool's index is its role (gcp-api.md section 5.1).
POOL_ORDER = (Role.CHIEF, Role.WORKER, Role.PARAMETER_SERVER, Role.EVALUATOR)

STATES = {
    "JOB_STATE_QUEUED": JobState.QUEUED,
    "JOB_STATE_PENDING": JobState.PREPARING,
    "JOB_STATE_RUNNING": JobState.RUNNING,
    "JOB_STATE_UPDATING": JobState.RUNNING,
    "JOB_STATE_PAUSED": JobState.RUNNING,
    "JOB_STATE_SUCCEEDED": JobState.SUCCEEDED,
    "JOB_STATE_PARTIALLY_SUCCEEDED": JobState.SUCCEEDED,
    "JOB_STATE_FAILED": JobState.FAILED,
    "JOB_STATE_EXPIRED": JobState.FAILED,
    "JOB_STATE_CANCELLING": JobState.CANCELLING,
    "JOB_STATE_CANCELLED": JobState.CANCELLED,
}


_ALGORITHMS = {
    "BAYESIAN": "ALGORITHM_UNSPECIFIED",  # Vertex's default is Bayesian optimisation
    "GRID_SEARCH": "GRID_SEARCH",
    "RANDOM_SEARCH": "RANDOM_SEARCH",
}
_SCALES = {None: "SCALE_TYPE_UNSPECIFIED", "NONE": "SCALE_TYPE_UNSPECIFIED"}


def worker_pools(pools: Sequence[Pool], program: Mapping[str, Any]) -> list[Any]:
    """``workerPoolSpecs``: pool 0 the chief (one replica), 1 workers, 2 parameter
    servers, 3 evaluators; a skipped pool in between is ``{}``. ``program`` is the
    pools' ``pythonPackageSpec`` or ``containerSpec``, as one key."""
    by_role = {pool.role: pool for pool in pools}
    specs: list[Any] = []
    for role in POOL_ORDER:
        pool = by_role.get(role)
        if pool is None or pool.machine_type is None:
            specs.append({})
            continue
        machine: dict[str, Any] = {"machineType": pool.machine_type}
        if pool.accelerator is not None:
            machine["acceleratorType"] = pool.accelerator.type
            machine["acceleratorCount"] = pool.accelerator.count
        specs.append(
            {
                "machineSpec": machine,
                "replicaCount": "1" if role is Role.CHIEF else str(pool.replicas),
                **{key: dict(value) for key, value in program.items()},
            }
        )
    while specs and specs[-1] == {}:
        specs.pop()
    return specs


def serving_container(container: ServingContainer) -> dict[str, Any]:
    """A version's own serving image as ``ModelContainerSpec`` (aiplatform v1), its
    server's command, port and routes filled in (servers.py)."""
    container = servers.filled(container)
    spec: dict[str, Any] = {"imageUri": container.image}
    if container.command:
        spec["command"] = list(container.command)
    if container.args:
        spec["args"] = list(container.args)
    if container.env:
        spec["env"] = env_vars(dict(container.env))
    if container.port:
        spec["ports"] = [{"containerPort": container.port}]
    if container.predict_route:
        spec["predictRoute"] = container.predict_route
    if container.health_route:
        spec["healthRoute"] = container.health_route
    return spec


def env_vars(env: Mapping[str, str]) -> list[dict[str, str]]:
    """EnvVar ``{name, value}`` list (aiplatform v1 discovery document)."""
    return [{"name": k, "value": v} for k, v in sorted(env.items())]


def study_spec(tuning: Tuning) -> dict[str, Any]:
    parameters = []
    for param in tuning.params:
        spec: dict[str, Any] = {"parameterId": param.name}
        if param.type == "DOUBLE":
            spec["doubleValueSpec"] = {"minValue": param.min, "maxValue": param.max}
        elif param.type == "INTEGER":
            spec["integerValueSpec"] = {
                "minValue": str(int(param.min or 0)),
                "maxValue": str(int(param.max or 0)),
            }
        elif param.type == "CATEGORICAL":
            spec["categoricalValueSpec"] = {"values": [str(v) for v in param.values]}
        else:  # DISCRETE
            spec["discreteValueSpec"] = {"values": [float(v) for v in param.values]}
        if param.type in ("DOUBLE", "INTEGER", "DISCRETE"):
            spec["scaleType"] = _SCALES.get(param.scale, param.scale)
        parameters.append(spec)
    study: dict[str, Any] = {
        "metrics": [{"metricId": tuning.metric, "goal": tuning.goal}],
        "parameters": parameters,
        "algorithm": _ALGORITHMS.get(tuning.algorithm, "ALGORITHM_UNSPECIFIED"),
    }
    if tuning.early_stopping:
        study["decayCurveStoppingSpec"] = {"useElapsedDuration": False}
    return study


def prediction_resources(version: CompiledVersion) -> dict[str, Any]:
    """``dedicatedResources`` from a version's machineType and scaling (no scale to
    zero on Vertex: at least one replica)."""
    machine = version.machine_type or catalogue.DEFAULT_PREDICTION_MACHINE
    if machine.startswith(catalogue.LEGACY_PREDICTION_MACHINES):
        machine = catalogue.DEFAULT_PREDICTION_MACHINE
    scaling = version.scaling
    nodes = scaling.nodes
    low = max(1, scaling.min_nodes or nodes or 1)
    high = max(low, scaling.max_nodes or nodes or low)
    return {
        "machineSpec": {"machineType": machine},
        "minReplicaCount": low,
        "maxReplicaCount": high,
    }


def alias(live_name: str) -> str:
    """A version's live name as a Vertex version alias (no underscores allowed)."""
    return live_name.replace("_", "-")


# The alias mlapply gives a version: its live name, the manifest name then the
# identity's 8 hex digits, with dashes for underscores.
_OURS = re.compile(r"[a-z][a-z0-9-]*-[0-9a-f]{8}")


def live_name(aliases: Sequence[str], recorded: Collection[str] = ()) -> str | None:
    """The live name back from a version's aliases (live names have no dashes): one
    mlapply recorded writing the model's versions, else the one of the form it
    writes. Aliases have no order (MergeVersionAliasesRequest, aiplatform v1,
    checked 2026-12-07), and people add their own ("champion"), so it is never
    merely the first that is not "default"."""
    names = [a.replace("-", "_") for a in aliases if a != "default"]
    known = [n for n in names if n in recorded]
    if known:
        return known[0]
    formed = [a for a in aliases if _OURS.fullmatch(a)]
    return formed[0].replace("-", "_") if len(formed) == 1 else None


def deployed_model_id(version: str, access_logging: bool) -> str:
    """A deployment's ``DeployedModel.id``, chosen by mlapply so that a deploy whose
    answer was lost can be looked up instead of sent again: 1-10 digits (aiplatform v1
    discovery document, DeployedModel.id, checked 2026-12-02), here 10 with no leading
    zero, from the version's live name and what cannot change in place."""
    digest = hashlib.sha256(f"{version}/{access_logging}".encode()).digest()
    return str(1_000_000_000 + int.from_bytes(digest[:8], "big") % 9_000_000_000)


def without(split: Mapping[str, int], gone: str, others: Sequence[str]) -> dict[str, int]:
    """The traffic split once ``gone`` is undeployed: its share spread over the others
    in proportion (as Google's SDK does, ``Endpoint._unallocate_traffic``), or all to the
    last of ``others`` when none of them had traffic: absent from the split, or listed
    at 0 %, as the SDK writes a deployment made with ``traffic_percentage=0``
    (python-aiplatform ``Endpoint._allocate_traffic``, read 2026-12-07). Empty when
    none remain."""
    rest = {k: v for k, v in split.items() if k != gone and k in others}
    share = split.get(gone, 0)
    if not others:
        return {}
    if not sum(rest.values()):
        return {others[-1]: 100} if share else {}
    total = sum(rest.values())
    moved = {k: v + share * v // total for k, v in rest.items()}
    leftover = 100 - sum(moved.values())
    for key in sorted(moved)[:leftover]:
        moved[key] += 1
    return moved


def endpoint_id(model: str) -> str:
    return model.replace("_", "-")


def filter_labels(labels: Mapping[str, str], display_name: str | None = None) -> str:
    terms = [f'labels.{key}="{value}"' for key, value in sorted(labels.items())]
    if display_name is not None:
        terms.append(f'display_name="{display_name}"')
    return " AND ".join(terms)


# Trial.State (aiplatform v1 discovery document, checked 2026-12-02) in the trial
# vocabulary of every backend; INFEASIBLE is a trial that failed.
TRIAL_STATES = {
    "REQUESTED": "QUEUED",
    "ACTIVE": "RUNNING",
    "STOPPING": "RUNNING",
    "SUCCEEDED": "SUCCEEDED",
    "INFEASIBLE": "FAILED",
}


class Study(NamedTuple):
    trials: tuple[LiveTrial, ...] = ()
    best: str | None = None
    metrics: Mapping[str, float] = {}


def study_of(job: Mapping[str, Any]) -> Study:
    """A tuning job's trials, its best by the study's goal, and the best one's final
    measurement (every metric it has); empty for a custom job or a listed one."""
    spec = (job.get("studySpec") or {}).get("metrics") or []
    if not spec or "trials" not in job:
        return Study()
    metric, goal = spec[0].get("metricId", ""), spec[0].get("goal", "MAXIMIZE")
    trials: list[LiveTrial] = []
    finals: dict[str, dict[str, float]] = {}
    for trial in job.get("trials", []):
        measured = {
            str(m.get("metricId")): float(m["value"])
            for m in (trial.get("finalMeasurement") or {}).get("metrics", [])
            if "value" in m
        }
        finals[str(trial.get("id"))] = measured
        trials.append(
            LiveTrial(
                id=str(trial.get("id")),
                params={
                    str(p.get("parameterId")): p.get("value") for p in trial.get("parameters", [])
                },
                state=TRIAL_STATES.get(str(trial.get("state")), str(trial.get("state"))),
                metric=measured.get(metric),
                start_time=seconds(trial.get("startTime")),
                end_time=seconds(trial.get("endTime")),
                error=trial.get("infeasibleReason"),
            )
        )
    top = best([Trial(t.id, t.params, t.state, t.metric) for t in trials], goal)
    return Study(tuple(trials), top.id if top else None, finals.get(top.id, {}) if top else {})


_CONSOLE = "https://console.cloud.google.com"
_CONSOLE_PAGES = {
    # The console moved Vertex AI's pages under agent-platform/ with the product's 2026
    # rebrand; the old ai/platform/... job links answer 404 (python-aiplatform issue
    # #6638 and its fix, pull request #6639, whose tests assert "/agent-platform/" in a
    # job's dashboard URI; job pages seen in that form in 2026; checked 2026-12-07).
    "customJobs": "agent-platform/locations/{location}/training/{id}",
    "hyperparameterTuningJobs": "agent-platform/locations/{location}/training/{id}",
    # The endpoint page, in the same form (the docs link the endpoints list at
    # agent-platform/endpoints; one endpoint's page not verified against the console).
    "endpoints": "agent-platform/locations/{location}/endpoints/{id}",
}


def console_url(resource: str) -> str | None:
    """A resource's page in the Google Cloud console, from its resource name
    (``projects/P/locations/L/customJobs/ID``); None for others."""
    parts = resource.split("/")
    if len(parts) != 6 or parts[0] != "projects" or parts[2] != "locations":
        return None
    page = _CONSOLE_PAGES.get(parts[4])
    if page is None:
        return None
    path = page.format(location=parts[3], id=parts[5])
    return f"{_CONSOLE}/{path}?project={parts[1]}"
