"""Request bodies for Cloud ML Engine (``ml`` v1), and its answers as live records.

Pure functions: a compiled job as a ``Job`` with its ``trainingInput``, a tuning
spec as a ``HyperparameterSpec``, a version as a ``Version`` (gcp-api.md
sections 1.2 and 1.5, the ml v1 discovery document revision 20251213).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from reconciler.backends.base import JobState, LiveTrial
from reconciler.backends.compiled import CompiledJob, CompiledVersion, Role
from reconciler.backends.google.times import seconds
from reconciler.stack.resources import Tuning
from reconciler.tuning.study import Trial, best

# Job.state (ml v1 discovery document) in every backend's vocabulary.
STATES = {
    "QUEUED": JobState.QUEUED,
    "PREPARING": JobState.PREPARING,
    "RUNNING": JobState.RUNNING,
    "SUCCEEDED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "CANCELLING": JobState.CANCELLING,
    "CANCELLED": JobState.CANCELLED,
}
# HyperparameterOutput.state: the trial vocabulary of every backend.
TRIAL_STATES = {
    "STATE_UNSPECIFIED": "QUEUED",
    "QUEUED": "QUEUED",
    "PREPARING": "QUEUED",
    "RUNNING": "RUNNING",
    "SUCCEEDED": "SUCCEEDED",
    "FAILED": "FAILED",
    "CANCELLING": "RUNNING",
    "CANCELLED": "CANCELLED",
}
_ALGORITHMS = {
    "BAYESIAN": "ALGORITHM_UNSPECIFIED",  # ML Engine's default is Bayesian optimisation
    "GRID_SEARCH": "GRID_SEARCH",
    "RANDOM_SEARCH": "RANDOM_SEARCH",
}
# Scheduling.maxRunningTime's default, 7 days (gcp-api.md 1.2): not sent, as gcloud
# sends no scheduling unless a config names it.
DEFAULT_MAX_RUNNING_SECONDS = 7 * 24 * 3600
# TrainingInput's fields of each role's machines; the chief is ML Engine's master.
_ROLE_FIELDS = {
    Role.CHIEF: "master",
    Role.WORKER: "worker",
    Role.PARAMETER_SERVER: "parameterServer",
    Role.EVALUATOR: "evaluator",
}


def job_args(job: CompiledJob, argv: list[str], job_dir: str) -> list[str]:
    """The trainer's arguments without ``--job-dir=JOB_DIR``: the service passes
    ``jobDir`` to the trainer as ``--job-dir`` itself (gcp-api.md, corrections of
    2026-12-01), so a trainer declaring that flag would get it twice."""
    if job.flags.job_dir != "--job-dir":
        return argv
    return [a for a in argv if a != f"--job-dir={job_dir}"]


def training_input(
    job: CompiledJob,
    args: list[str],
    job_dir: str,
    package_uris: list[str],
    service_account: str | None,
) -> dict[str, Any]:
    """``TrainingInput``: the tier as ML Engine names it (CUSTOM with each role's
    machine type and count), the package, the runtime, the arguments, tuning."""
    spec: dict[str, Any] = {"scaleTier": job.scale_tier}
    if job.scale_tier == "CUSTOM":
        for pool in job.pools:
            field = _ROLE_FIELDS[pool.role]
            spec[f"{field}Type"] = pool.machine_type
            if pool.role is not Role.CHIEF:
                spec[f"{field}Count"] = str(pool.replicas)
            if pool.accelerator is not None:
                spec[f"{field}Config"] = {
                    "acceleratorConfig": {
                        "type": pool.accelerator.type,
                        "count": str(pool.accelerator.count),
                    }
                }
    spec.update(
        packageUris=package_uris,
        pythonModule=job.module,
        region=job.region,
        jobDir=job_dir,
        runtimeVersion=job.runtime_version,
        pythonVersion=job.python_version,
    )
    if args:
        spec["args"] = args
    if job.tuning is not None:
        spec["hyperparameters"] = hyperparameter_spec(job.tuning)
    if job.timeout_seconds and job.timeout_seconds != DEFAULT_MAX_RUNNING_SECONDS:
        spec["scheduling"] = {"maxRunningTime": f"{int(job.timeout_seconds)}s"}
    if service_account:
        spec["serviceAccount"] = service_account
    return spec


def hyperparameter_spec(tuning: Tuning) -> dict[str, Any]:
    params = []
    for param in tuning.params:
        spec: dict[str, Any] = {"parameterName": param.name, "type": param.type}
        if param.type in ("DOUBLE", "INTEGER"):
            spec["minValue"], spec["maxValue"] = param.min, param.max
        elif param.type == "CATEGORICAL":
            spec["categoricalValues"] = [str(v) for v in param.values]
        else:  # DISCRETE
            spec["discreteValues"] = [float(v) for v in param.values]
        if param.scale and param.type != "CATEGORICAL":
            spec["scaleType"] = param.scale
        params.append(spec)
    spec_: dict[str, Any] = {
        "goal": tuning.goal,
        "hyperparameterMetricTag": tuning.metric,
        "maxTrials": tuning.max_trials,
        "maxParallelTrials": tuning.max_parallel_trials,
        "params": params,
        "algorithm": _ALGORITHMS.get(tuning.algorithm, "ALGORITHM_UNSPECIFIED"),
    }
    if tuning.max_failed_trials:
        spec_["maxFailedTrials"] = tuning.max_failed_trials
    if tuning.early_stopping:
        spec_["enableTrialEarlyStopping"] = True
    return spec_


def version_body(
    name: str,
    description: str,
    export: str,
    version: CompiledVersion,
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """``Version``: the SavedModel's folder, its runtime, machine and scaling."""
    body: dict[str, Any] = {
        "name": name,
        "description": description,
        "deploymentUri": export,
        "runtimeVersion": version.runtime_version,
        "pythonVersion": version.python_version,
        "framework": version.framework,
        "machineType": version.machine_type,
        "labels": dict(labels),
    }
    scaling = version.scaling
    if scaling.nodes:
        body["manualScaling"] = {"nodes": scaling.nodes}
    else:
        auto: dict[str, Any] = {"minNodes": scaling.min_nodes or 1}
        if scaling.max_nodes:
            auto["maxNodes"] = scaling.max_nodes
        body["autoScaling"] = auto
    return body


def label_filter(labels: Mapping[str, str]) -> str:
    """A list filter on labels, as gcloud's documented ``labels.KEY=VALUE`` terms
    joined by AND (cloud.google.com/ml-engine/docs/resource-labels; the REST form
    is not documented further: gcp-api.md section 1.1)."""
    return " AND ".join(f"labels.{key}={value}" for key, value in sorted(labels.items()))


class Study(NamedTuple):
    trials: tuple[LiveTrial, ...] = ()
    best: str | None = None
    metrics: Mapping[str, float] = {}


def study_of(job: Mapping[str, Any]) -> Study:
    """A tuning job's trials (``trainingOutput.trials``), its best by the goal, and
    the best one's final metric under the job's metric tag."""
    spec = (job.get("trainingInput") or {}).get("hyperparameters")
    output = job.get("trainingOutput") or {}
    if not spec:
        return Study()
    metric = str(spec.get("hyperparameterMetricTag") or "training/hptuning/metric")
    trials = tuple(
        LiveTrial(
            id=str(trial.get("trialId")),
            params=dict(trial.get("hyperparameters") or {}),
            state=TRIAL_STATES.get(str(trial.get("state")), str(trial.get("state"))),
            metric=_objective(trial),
            start_time=seconds(trial.get("startTime")),
            end_time=seconds(trial.get("endTime")),
        )
        for trial in output.get("trials", [])
    )
    top = best([Trial(t.id, t.params, t.state, t.metric) for t in trials], str(spec.get("goal")))
    if top is None or top.metric is None:
        return Study(trials)
    return Study(trials, top.id, {metric: top.metric})


def _objective(trial: Mapping[str, Any]) -> float | None:
    value = (trial.get("finalMetric") or {}).get("objectiveValue")
    return None if value is None else float(value)


def console_url(project: str, job_id: str) -> str:
    """The job's page in the console as gcloud printed it after a submit
    (``https://console.cloud.google.com/mlengine/jobs/JOB?project=P``, gcloud's
    ml_engine jobs submit output)."""
    return f"https://console.cloud.google.com/mlengine/jobs/{job_id}?project={project}"
