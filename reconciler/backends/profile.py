"""A backend's profile: what it is, as data (no I/O, no client imports).

How a scale tier compiles to pools, which runtime and Python versions it can
run and serve, what its settings need, and, for each facet its driver does
not provide, the reason and the way out (SkyPilot's unsupported-feature
tables; whether a facet is provided is the driver's class, ``facets``).
Validate and plan read profiles; only apply and the commands that act load a
driver.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from reconciler.backends.compiled import CompiledJob, Pool
    from reconciler.backends.facets import Facet
    from reconciler.backends.prices import PriceList
    from reconciler.stack.resources import (
        Machines,
        ServingContainer,
        StackSettings,
        TrainingImage,
    )

    # The last argument is the backend's own settings (its registry row's block).
    CompilePools = Callable[[str, Machines | None, Any], tuple[Pool, ...]]
    VersionProblem = Callable[[str, str], str | None]


class TrialOutput(str, Enum):
    """Where a tuning trial writes, as each backend runs trials."""

    JOB_DIR = "job dir"
    """A trial is a job of its own with ``JOB_DIR/<trial id>`` as its job dir, as Vertex
    AI gives each trial's child job ``baseOutputDirectory = <base>/<trialId>/``
    (aiplatform v1 discovery document, CustomJobSpec.baseOutputDirectory, checked
    2026-12-02); its model goes to its own AIP_MODEL_DIR there."""
    OUTPUT_DIR = "output dir"
    """Every trial gets the same job dir and arguments, and a trainer joins TF_CONFIG's
    task.trial to its output dir, as Cloud ML Engine's samples did (gcp-api.md 3.2)."""


class Missing(NamedTuple):
    """Why a backend lacks something, and what to do instead."""

    why: str
    instead: str


class RuntimeNote(NamedTuple):
    """What a job runs on, for the plan."""

    text: str
    """``TensorFlow 2.15, Keras 2, Python 3.11``."""
    environment: str | None = None
    """The key of the environment it needs on this machine (``LiveSnapshot.environments``)."""
    size: str = ""
    """What building that environment costs, when it is not built yet."""
    mapped: bool = False
    """Whether it runs on another release than the runtime version asked for."""


class Verdict(NamedTuple):
    """What validate says of an image or machine: an error, or a warning."""

    message: str
    hint: str
    error: bool = True


class TrainingCheck(NamedTuple):
    """What a job runs on, for a profile to judge."""

    runtime: str
    python: str
    pools: Sequence[Pool]
    image: TrainingImage | None
    today: date


TODAY_VARIABLE = "MLAPPLY_TODAY"


def today() -> date:
    """The date validate judges end-of-availability dates by: today, or
    ``MLAPPLY_TODAY`` (ISO date) to validate as of another day."""
    given = os.environ.get(TODAY_VARIABLE)
    return date.fromisoformat(given) if given else date.today()


def searches(early_stopping: str, **algorithms: str) -> dict[str, str]:
    """What each tuning algorithm and early stopping is on a backend, for the plan: the
    cloud's own words, unless ``algorithms`` says what stands in for one."""
    return {
        "BAYESIAN": "Bayesian optimisation (the service's default)",
        "GRID_SEARCH": "grid search",
        "RANDOM_SEARCH": "random search",
        **algorithms,
        "EARLY_STOPPING": early_stopping,
    }


def replicas(pools: Sequence[Pool]) -> int:
    """A job's replicas over all its pools: the nodes it holds where each is a node."""
    return sum(pool.replicas for pool in pools)


class Profile(NamedTuple):
    name: str
    title: str
    """For people: ``Vertex AI (aiplatform v1)``."""
    compile_pools: CompilePools
    """A scale tier (and CUSTOM machines), with the backend's settings, as the pools a
    job gets here."""
    explains: Mapping[Facet, Missing] = MappingProxyType({})
    """Why the driver does not provide a facet, and what to do instead, for each it
    lacks (what a refusal says; tests/test_tables.py checks these against the driver)."""
    job_metrics: Missing | None = None
    """Why a job that is not a tuning job reports no metrics here (None: it does, from
    metrics.json or cloudml-hypertune), so that a gate cannot read one."""
    training_problem: VersionProblem = lambda runtime, python: None
    """Why a (runtimeVersion, pythonVersion) cannot train here, or None."""
    training_hint: str = ""
    describe_runtime: Callable[[str, str], RuntimeNote | None] = lambda runtime, python: None
    """What a (runtimeVersion, pythonVersion) runs on here, for the plan, or None."""
    default_python: str = "3.10"
    """The pythonVersion a job gets when no manifest names one."""
    settings_problem: Callable[[StackSettings], str | None] = lambda settings: None
    """Why the Stack's settings cannot work with this backend, or None."""
    default_runtime: str | None = None
    """The runtimeVersion a job gets when no manifest names one (None: mlapply's)."""
    training_check: Callable[[TrainingCheck], Verdict | None] = lambda check: None
    """Whether the image a job would run is offered (catalogue, end of availability)."""
    serving_check: Callable[[str, ServingContainer | None, date], Verdict | None] = (
        lambda runtime, container, today: None
    )
    """Whether the image a version would serve from is offered."""
    serving_machine_check: Callable[[str], Verdict | None] = lambda machine: None
    """Whether a version's ``machineType`` serves here (a warning: served on another)."""
    machine_problem: Callable[[Pool], str | None] = lambda pool: None
    """Why this backend cannot give a pool its machines, or None."""
    runs_images: bool = False
    """Whether jobs and versions here run the images the manifests name."""
    describe_image: Callable[[CompiledJob], str | None] = lambda job: None
    """The image a job runs here, for the plan (``runs container ...``), or None."""
    trial_slots: Callable[[Sequence[Pool]], int] = lambda pools: 1_000_000
    """How many trials of a study (each of these pools) run at once here; a larger
    maxParallelTrials is lowered to it, and the plan says so."""
    search_phrases: Mapping[str, str] = MappingProxyType(searches("early stopping"))
    """What each tuning algorithm (and EARLY_STOPPING) is here, for the plan."""
    notice: str | None = None
    """What validate and plan say of every stack on this backend (a shut-down API)."""
    trial_output: TrialOutput = TrialOutput.JOB_DIR
    """Where a tuning trial writes here (each its own job dir, or a folder of the output)."""
    prices: PriceList | None = None
    """The backend's list prices (None: priced only by the Stack's ``spec.prices``)."""
    job_nodes: Callable[[Sequence[Pool]], int] = replicas
    """How many nodes a job's pools hold, for a node-hour price."""
    serving_cost: str | None = None
    """Why a version here has no recurring cost (None: it holds its nodes while it
    serves)."""
