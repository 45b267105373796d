"""Cloud ML Engine's profile (``ml`` v1): its tiers, runtime versions and machines.

Google shut the ``ml`` v1 API down on 2025-01-31. The backend speaks it
request-exact for what it is still good for: emulators that serve it,
migrating runbooks (``mlapply import``), and as the reference of the
workflow the manifests describe. Validate and plan say so on every stack
that names it.
"""

from __future__ import annotations

from datetime import date
from types import MappingProxyType

from reconciler.backends.facets import Facet
from reconciler.backends.google import prices
from reconciler.backends.google import settings as google_settings
from reconciler.backends.google.explains import TENSORBOARD_LOGDIR, kept_elsewhere
from reconciler.backends.google.machines import machine_check
from reconciler.backends.google.mlengine import catalogue
from reconciler.backends.google.tiers import tier_compiler
from reconciler.backends.profile import (
    Missing,
    Profile,
    RuntimeNote,
    TrialOutput,
    Verdict,
    searches,
)
from reconciler.stack.resources import ServingContainer, StackSettings

NOTICE = (
    f"Google shut the Cloud ML Engine API (ml v1) down on {catalogue.SHUTDOWN.isoformat()} "
    f"({catalogue.SHUTDOWN_SOURCE}): this backend speaks it request-exact for emulators "
    "and migrations only; to train on Google Cloud today, use backend: vertex"
)


compile_pools = tier_compiler(catalogue.TIERS)


def settings_problem(settings: StackSettings) -> str | None:
    return google_settings.problem("mlengine", settings.backend_settings)


def _runtimes() -> str:
    return ", ".join(catalogue.RUNTIMES)


def training_problem(runtime: str, python: str) -> str | None:
    pythons = catalogue.RUNTIMES.get(runtime)
    if pythons is None:
        return (
            f"Cloud ML Engine has no runtime version {runtime} (its runtime versions: "
            f"{_runtimes()}; {catalogue.RUNTIMES_SOURCE}, checked {catalogue.CHECKED})"
        )
    if python not in pythons:
        return f"Cloud ML Engine runtime {runtime} runs Python {', '.join(pythons)}, not {python}"
    return None


def describe_runtime(runtime: str, python: str) -> RuntimeNote | None:
    if runtime not in catalogue.RUNTIMES:
        return None
    return RuntimeNote(f"Cloud ML Engine runtime {runtime}, Python {python}")


def serving_machine_check(machine: str) -> Verdict | None:
    if machine in catalogue.PREDICTION_MACHINES:
        return None
    offered = catalogue.PREDICTION_MACHINES_TEXT
    if machine in catalogue.LEGACY_PREDICTION_MACHINES:
        return Verdict(
            f"{machine} is a legacy (MLS1) machine type, which Cloud ML Engine serves only "
            "on its global endpoint; mlapply serves on the regional endpoint "
            "(REGION-ml.googleapis.com), which takes Compute Engine (N1) types only",
            f"set spec.machineType to n1-standard-2 (the default) or another {offered} "
            f"({catalogue.REGIONAL_ENDPOINTS_SOURCE})",
        )
    return Verdict(
        f"Cloud ML Engine online prediction has no machine type {machine}",
        f"set spec.machineType to an {offered} ({catalogue.PREDICTION_SOURCE})",
    )


def serving_check(runtime: str, container: ServingContainer | None, today: date) -> Verdict | None:
    if container is not None:
        return Verdict(
            "on backend mlengine a version serves its SavedModel on an ML Engine runtime "
            "version; mlapply sends no custom serving container there",
            "remove spec.servingContainer (or use backend: vertex)",
        )
    if runtime not in catalogue.RUNTIMES:
        return Verdict(
            f"Cloud ML Engine prediction has no runtime version {runtime}",
            f"set spec.runtimeVersion to one of {_runtimes()}",
        )
    return None


machine_problem = machine_check(
    "Cloud ML Engine",
    catalogue.TRAINING_MACHINES,
    catalogue.ACCELERATORS,
    f"{catalogue.MACHINES_SOURCE}, checked {catalogue.CHECKED}",
)

PROFILE = Profile(
    name="mlengine",
    title="Cloud ML Engine (ml v1, shut down 2025-01-31)",
    compile_pools=compile_pools,
    prices=prices.MLENGINE,
    explains=kept_elsewhere(
        "Cloud ML Engine",
        logs="gcloud ai-platform jobs stream-logs JOB_ID",
        summaries="its job dir",
        tensorboard=TENSORBOARD_LOGDIR,
        serves="model version",
        predict="send requests to the model (gcloud ai-platform predict)",
    )
    | {
        # projects.models: one defaultVersion, no traffic split (ml v1 discovery
        # document in google-api-python-client, checked 2026-12-07).
        Facet.TRAFFIC: Missing(
            "Cloud ML Engine sends all of a model's requests to its default version: "
            "the ml v1 API has no traffic split to roll out in steps",
            "remove spec.rollout (the version takes the traffic at once), or move the "
            "stack to backend vertex",
        )
    },
    job_metrics=Missing(
        "Cloud ML Engine keeps no metric of a job that is not a tuning job: only "
        "trials have one (trainingOutput.trials[].finalMetric)",
        "gate a version of a tuning job on its metric (the best trial's final metric)",
    ),
    training_problem=training_problem,
    training_hint=f"Cloud ML Engine runtime versions: {_runtimes()}, each with Python 3.7",
    describe_runtime=describe_runtime,
    default_python=catalogue.DEFAULT_PYTHON,
    settings_problem=settings_problem,
    default_runtime=catalogue.DEFAULT_RUNTIME,
    serving_check=serving_check,
    serving_machine_check=serving_machine_check,
    machine_problem=machine_problem,
    search_phrases=MappingProxyType(
        searches("automated early stopping (enableTrialEarlyStopping)")
    ),
    notice=NOTICE,
    trial_output=TrialOutput.OUTPUT_DIR,
)
