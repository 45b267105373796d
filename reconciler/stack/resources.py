"""Typed resources: one frozen record per kind, every default filled in.

The small values inside them (metadata, settings, machines, tuning) are
NamedTuples: as immutable, and much cheaper to define at start-up.

These are what the plan layer consumes. They are built from schema-valid
documents by ``reconciler.stack.build``; field names follow the manifests
(snake_case for Python).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, TypeVar

from reconciler.diagnostics import Location

DEFAULT_REGION = "us-central1"
# Keras 3 (2.16+) as the local templates. A backend may have its own default
# (its profile's default_runtime: Vertex AI serves nothing newer than 2.15).
DEFAULT_RUNTIME_VERSION = "2.17"
DEFAULT_PYTHON_VERSION = "3.10"
DEFAULT_SCALE_TIER = "BASIC"
DEFAULT_MODULE = "trainer.task"
DEFAULT_MACHINE_TYPE = "n1-standard-2"
DEFAULT_TIMEOUT_SECONDS = 7 * 24 * 3600
DEFAULT_TUNING_METRIC = "training/hptuning/metric"

# Labels mlapply puts on every live resource; users may not set them. The
# live world, read by these labels, is the state: there is no state file.
LABEL_STACK = "mlapply-stack"
LABEL_NAME = "mlapply-name"
LABEL_KIND = "mlapply-kind"
LABEL_HASH = "mlapply-hash"
LABEL_PROTECTED = "mlapply-protected"
"""Set on live resources whose manifest has lifecycle.preventDestroy."""
RESERVED_LABELS = (LABEL_STACK, LABEL_NAME, LABEL_KIND, LABEL_HASH, LABEL_PROTECTED)
MAX_LABELS = 64 - len(RESERVED_LABELS)

Scalar = str | int | float | bool


def address(prefix: str, name: str) -> str:
    """A resource's address: ``job.taxifare-dnn`` (the kind's prefix and the name)."""
    return f"{prefix}.{name}"


class _Addressed:
    """Each kind's record names its kind and address prefix once, as class data."""

    kind: ClassVar[str]
    prefix: ClassVar[str]
    meta: Meta

    @property
    def address(self) -> str:
        return address(self.prefix, self.meta.name)


class Meta(NamedTuple):
    name: str
    labels: Mapping[str, str]
    """The document's labels over the stack's default labels."""
    prevent_destroy: bool
    location: Location
    """Where the document starts."""


class Budget(NamedTuple):
    """``Stack.spec.budget``: the most a plan may forecast (US dollars; None: no limit)."""

    per_apply: float | None = None
    per_job: float | None = None
    serving_per_month: float | None = None
    location: str = ""
    """Where it is written (``file:line``), for the plan's message."""


@dataclass(frozen=True)
class StackSettings(_Addressed):
    kind = "Stack"
    prefix = "stack"
    meta: Meta
    backend: str
    root: Path
    """The folder of the Stack document."""
    home: Path
    """The stack home: state, staged packages and caches, whatever the backend."""
    backend_settings: object
    """The backend's own settings, parsed by its folder (``backends.settings.own``)."""
    region: str
    runtime_version: str
    python_version: str
    scale_tier: str
    serving_container: ServingContainer | None = None
    """``spec.defaults.servingContainer``: every version's that names none."""
    serving_container_at: Location | None = None
    budget: Budget = field(default_factory=Budget)
    node_hour: float | None = None
    """``spec.prices.nodeHour``: what a node costs per hour where the backend has no
    price list."""


@dataclass(frozen=True)
class Dataset(_Addressed):
    kind = "Dataset"
    prefix = "dataset"
    meta: Meta
    train: tuple[str, ...]
    eval: tuple[str, ...]
    fingerprint: str
    base_dir: Path
    """Local paths are relative to this folder (the manifest file's)."""
    root: Path | None = None
    """The folder its local files must resolve inside (the repository); None: anywhere."""


class TrainerFlags(NamedTuple):
    train: str | None = "--train_data_paths"
    eval: str | None = "--eval_data_paths"
    output: str | None = "--output_dir"
    job_dir: str | None = "--job-dir"


class TrainingImage(NamedTuple):
    """The image a job runs on a cloud backend: a prebuilt ``executor`` that installs
    and runs the trainer's package, or a ``container`` with the trainer inside (run
    as ``command``, default ``python3 -m MODULE``, with the trainer contract's
    arguments, then ``args``)."""

    executor: str | None = None
    container: str | None = None
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()

    def essence(self) -> dict[str, Any]:
        if self.container:
            return {
                "container": self.container,
                "command": list(self.command),
                "args": list(self.args),
            }
        return {"executor": self.executor}


class ServingContainer(NamedTuple):
    """A version's own serving image (Vertex ``ModelContainerSpec``)."""

    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    port: int | None = None
    predict_route: str | None = None
    health_route: str | None = None
    server: str | None = None
    """A model server the backend knows (``tensorflow-serving``): it fills the rest."""

    def essence(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "image": self.image,
            "command": list(self.command),
            "args": list(self.args),
            "env": dict(self.env),
            "port": self.port,
            "predictRoute": self.predict_route,
            "healthRoute": self.health_route,
        }
        if self.server is not None:  # only when set: other versions' identity stays
            found["server"] = self.server
        return found

    @classmethod
    def parse(cls, given: Mapping[str, Any]) -> ServingContainer:
        """From a manifest's ``servingContainer`` (checked by its schema)."""
        return cls(
            image=given["image"],
            command=tuple(given.get("command", ())),
            args=tuple(given.get("args", ())),
            env=tuple(sorted(given.get("env", {}).items())),
            port=given.get("port"),
            predict_route=given.get("predictRoute"),
            health_route=given.get("healthRoute"),
            server=given.get("server"),
        )


@dataclass(frozen=True)
class Trainer(_Addressed):
    kind = "Trainer"
    prefix = "trainer"
    meta: Meta
    source: Path | None
    """The package directory (absolute), or None for prebuilt packages."""
    package_uris: tuple[str, ...]
    module: str
    flags: TrainerFlags
    roles: frozenset[str] | None = None
    """The roles (manifest names: master, worker, ...) it can run as; None: every one."""
    image: TrainingImage | None = None
    """The image its jobs run on a cloud backend, unless a job names its own."""


@dataclass(frozen=True)
class Accelerator:
    type: str
    count: int = 1


@dataclass(frozen=True)
class MachineGroup:
    type: str
    count: int = 1
    accelerator: Accelerator | None = None


class Machines(NamedTuple):
    master: MachineGroup
    worker: MachineGroup | None = None
    parameter_server: MachineGroup | None = None
    evaluator: MachineGroup | None = None


class TuningParameter(NamedTuple):
    name: str
    type: str
    min: float | None = None
    max: float | None = None
    values: tuple[Scalar, ...] = ()
    scale: str | None = None


class Tuning(NamedTuple):
    metric: str
    params: tuple[TuningParameter, ...]
    goal: str = "MAXIMIZE"
    max_trials: int = 1
    max_parallel_trials: int = 1
    max_failed_trials: int = 0
    algorithm: str = "BAYESIAN"
    early_stopping: bool = False


@dataclass(frozen=True)
class TrainingJob(_Addressed):
    kind = "TrainingJob"
    prefix = "job"
    meta: Meta
    trainer: str
    dataset: str | None
    hyperparameters: Mapping[str, Scalar]
    args: tuple[str, ...]
    scale_tier: str
    machines: Machines | None
    region: str
    runtime_version: str
    python_version: str
    output_dir: str | None
    tuning: Tuning | None
    max_attempts: int
    timeout_seconds: float
    max_resubmits: int = 3
    env: Mapping[str, str] = field(default_factory=dict)
    image: TrainingImage | None = None
    """Its own image; else its trainer's (cloud backends only)."""


@dataclass(frozen=True)
class Model(_Addressed):
    kind = "Model"
    prefix = "model"
    meta: Meta
    description: str
    region: str
    online_prediction_logging: bool


class Gate(NamedTuple):
    """A ModelVersion's promotion gate: it is deployed only when its job's ``metric``
    meets ``threshold`` and/or beats the model's default version's."""

    metric: str
    goal: str = "MAXIMIZE"
    threshold: float | None = None
    must_beat_default: bool = False

    def essence(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "goal": self.goal,
            "threshold": self.threshold,
            "mustBeatDefault": self.must_beat_default,
        }


class VersionSource(NamedTuple):
    job: str | None = None
    export_path: str | None = None
    uri: str | None = None
    base_dir: Path | None = None
    """A local ``uri`` is relative to this folder (the manifest file's)."""


class Scaling(NamedTuple):
    min_nodes: int | None = 1
    max_nodes: int | None = None
    nodes: int | None = None


class RolloutStep(NamedTuple):
    """One step of a rollout: the new version's share of the traffic, held this long."""

    traffic: int
    """Percent of the model's requests (1 to 100)."""
    hold: float
    """Seconds the step must hold, its gates passing, before the next one."""


class RolloutGates(NamedTuple):
    """What a version must serve to move on: judged on its own requests of the step."""

    max_error_rate: float | None = None
    """The largest share of its requests it may fail (0.01: 1 %)."""
    max_latency_ms: tuple[tuple[str, float], ...] = ()
    """(percentile "p50", "p90", "p95" or "p99", the most milliseconds) pairs."""
    min_requests: int = 100
    """How many requests of a step the gates need before they count (either way)."""


class Rollout(NamedTuple):
    """A new default version takes the traffic in steps, each gated on what it
    serves; a gate that fails sends the traffic back to the previous default."""

    steps: tuple[RolloutStep, ...]
    gates: RolloutGates


@dataclass(frozen=True)
class ModelVersion(_Addressed):
    kind = "ModelVersion"
    prefix = "version"
    meta: Meta
    model: str
    source: VersionSource
    default: bool
    description: str
    runtime_version: str
    python_version: str
    framework: str
    machine_type: str
    scaling: Scaling
    serving_container: ServingContainer | None = None
    gate: Gate | None = None
    """Checked before it is deployed; not part of its identity (a policy, not the model)."""
    rollout: Rollout | None = None
    """How it takes the traffic from the previous default; a policy, as the gate."""


Resource = StackSettings | Dataset | Trainer | TrainingJob | Model | ModelVersion
R = TypeVar("R", bound=_Addressed)


@dataclass(frozen=True)
class Stack:
    """Every resource of a stack, the references between them, and an order.

    ``resources`` holds every declared resource but the Stack's own settings,
    by address; ``dependencies`` maps each address (the settings' too) to the
    addresses it refers to; ``order`` lists them all so that each comes after
    what it depends on (ties broken by kind, then name: deterministic).
    """

    settings: StackSettings
    resources: Mapping[str, _Addressed] = field(default_factory=dict)
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    order: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.settings.meta.name

    def named(self, record: type[R]) -> dict[str, R]:
        """The resources of one kind, by manifest name (indexed once per stack)."""
        index: dict[str, dict[str, Any]] | None = self.__dict__.get("_named")
        if index is None:
            index = {}
            for resource in self.resources.values():
                index.setdefault(resource.kind, {})[resource.meta.name] = resource
            object.__setattr__(self, "_named", index)  # a cache on a frozen record
        found: dict[str, R] = index.get(record.kind, {})
        return found

    def everything(self) -> dict[str, _Addressed]:
        """Every resource by address, the Stack's settings first."""
        return {self.settings.address: self.settings, **self.resources}

    # Typed views for the code of one kind (kind modules, drivers, tests).
    @property
    def datasets(self) -> dict[str, Dataset]:
        return self.named(Dataset)

    @property
    def trainers(self) -> dict[str, Trainer]:
        return self.named(Trainer)

    @property
    def jobs(self) -> dict[str, TrainingJob]:
        return self.named(TrainingJob)

    @property
    def models(self) -> dict[str, Model]:
        return self.named(Model)

    @property
    def versions(self) -> dict[str, ModelVersion]:
        return self.named(ModelVersion)
