"""The compiled forms: a TrainingJob, a ModelVersion and a Model as every backend
takes them, compiled once.

A TrainingJob, its Trainer and its Dataset are compiled (by the TrainingJob
kind, with the backend's profile) into one backend-neutral value: the
module and package, the trainer contract's inputs and flags, the roles of the
cluster in one vocabulary with their replicas and machines (or local
processes), the output layout, trials included, and the fingerprints of its
source and data. Its ``essence()`` is what identity hashes, the plan records
it, and each driver only translates it into its own request. This module is
the one place that formats the trainer's flags and the one that knows where a
job's output goes. A version and a model compile the same way
(``CompiledVersion``, ``CompiledModel``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from reconciler.backends.profile import TrialOutput
from reconciler.stack.resources import (
    Accelerator,
    MachineGroup,
    Machines,
    Scalar,
    Scaling,
    ServingContainer,
    TrainerFlags,
    TrainingImage,
    Tuning,
)

if TYPE_CHECKING:
    from reconciler.identity.content import Fingerprint
    from reconciler.tuning.spec import TuningEssence


class Role(str, Enum):
    """The roles of a training cluster, in one vocabulary (the manifests' ``master``
    is the chief). ``tf_config`` is the task type TF_CONFIG names it by."""

    CHIEF = "chief"
    WORKER = "worker"
    PARAMETER_SERVER = "parameterServer"
    EVALUATOR = "evaluator"

    @property
    def tf_config(self) -> str:
        return _TF_CONFIG_TYPES[self]

    @property
    def manifest_name(self) -> str:
        """What the manifests call it (spec.machines, a Trainer's spec.roles)."""
        return "master" if self is Role.CHIEF else self.value


_TF_CONFIG_TYPES = {
    Role.CHIEF: "chief",
    Role.WORKER: "worker",
    Role.PARAMETER_SERVER: "ps",
    Role.EVALUATOR: "evaluator",
}


def declared_roles(machines: Machines) -> list[tuple[Role, MachineGroup]]:
    """CUSTOM machines by role, in role order: the manifests' ``master`` is the
    chief (the one place their role names meet this vocabulary)."""
    declared = [
        (Role.CHIEF, machines.master),
        (Role.WORKER, machines.worker),
        (Role.PARAMETER_SERVER, machines.parameter_server),
        (Role.EVALUATOR, machines.evaluator),
    ]
    return [(role, group) for role, group in declared if group is not None]


class Pool(NamedTuple):
    """One role's replicas: on machines of a type (cloud), or as local processes
    (``machine_type`` None)."""

    role: Role
    replicas: int
    machine_type: str | None = None
    accelerator: Accelerator | None = None

    def essence(self) -> dict[str, Any]:
        if self.machine_type is None:
            return {"processes": self.replicas}
        found: dict[str, Any] = {"type": self.machine_type, "count": self.replicas}
        if self.accelerator is not None:
            found["accelerator"] = {"type": self.accelerator.type, "count": self.accelerator.count}
        return found

    def describe(self) -> str:
        if self.machine_type is None:
            plural = "es" if self.replicas != 1 else ""
            return f"{self.role.value}: {self.replicas} local process{plural}"
        accel = self.accelerator
        extra = f" + {accel.count}x {accel.type}" if accel else ""
        return f"{self.role.value}: {self.replicas}x {self.machine_type}{extra}"


DEFAULT_OUTPUT = "output"


class OutputLayout(NamedTuple):
    """Where a job writes, relative to its job dir: ``JOB_DIR/<output>``, and where each
    of its trials writes (``trials``)."""

    declared: str | None = None
    """``spec.outputDir`` as written (identity hashes it); None: ``output``."""
    trials: TrialOutput = TrialOutput.JOB_DIR

    @property
    def output(self) -> str:
        return self.declared or DEFAULT_OUTPUT

    def output_dir(self, job_dir: str) -> str:
        """The output folder: a gs:// URI as written, else under the job dir."""
        if self.output.startswith("gs://"):
            return self.output
        return f"{job_dir.rstrip('/')}/{self.output}"

    def trial_dir(self, job_dir: str, trial: str) -> str:
        """A trial's own job dir (``TrialOutput.JOB_DIR``)."""
        return f"{job_dir.rstrip('/')}/{trial}"

    def trial_folders(self, job_dir: str, trial: str) -> tuple[str, str]:
        """Where a trial's export is searched: (its output dir, its job dir)."""
        if self.trials is TrialOutput.OUTPUT_DIR:
            return f"{self.output_dir(job_dir)}/{trial}", job_dir
        own = self.trial_dir(job_dir, trial)
        return self.output_dir(own), own


class Inputs(NamedTuple):
    """A dataset's patterns as written, and the folder local ones are relative to."""

    dataset: str
    train: tuple[str, ...]
    eval: tuple[str, ...]
    base_dir: Path

    def local_path(self, pattern: str) -> str:
        """A pattern as a local process reads it: made absolute, gs:// as written."""
        return pattern if pattern.startswith("gs://") else str(self.base_dir / pattern)


class TrainerEssence(TypedDict):
    source: str | None
    packageUris: list[str]
    module: str
    flags: dict[str, str | None]


class DataEssence(TypedDict):
    fingerprint: str
    digest: str
    patterns: list[str]


class _JobEssence(TypedDict):
    trainer: TrainerEssence
    data: dict[str, DataEssence]
    hyperparameters: dict[str, Scalar]
    args: list[str]
    scaleTier: str
    machines: dict[str, Any]
    region: str
    runtimeVersion: str
    pythonVersion: str
    outputDir: str | None
    hyperparameterTuning: TuningEssence | None


class JobEssence(_JobEssence, total=False):
    """What a TrainingJob's identity hashes (its keys are the manifests' names; a
    change of any of them is a new job: keep them). ``env`` and ``image`` only when
    set, so that the identity of a job without them stays what it was."""

    env: dict[str, str]
    image: dict[str, Any]


class CompiledJob(NamedTuple):
    name: str
    """The TrainingJob's manifest name."""
    trainer: str
    """The Trainer's manifest name (names its package)."""
    module: str
    source: Path | None
    """The trainer package's folder, or None for prebuilt ``package_uris``."""
    source_excluded: frozenset[str]
    """Paths in ``source`` that are the stack's, not the package's (never packaged)."""
    package_uris: tuple[str, ...]
    flags: TrainerFlags
    inputs: Inputs | None
    hyperparameters: Mapping[str, Scalar]
    args: tuple[str, ...]
    scale_tier: str
    pools: tuple[Pool, ...]
    region: str
    runtime_version: str
    python_version: str
    timeout_seconds: float
    tuning: Tuning | None
    env: Mapping[str, str]
    """The manifest's environment variables for every task."""
    layout: OutputLayout
    image: TrainingImage | None = None
    """The image it runs on a cloud backend (None: the backend's prebuilt one)."""
    source_digest: str | None = None
    """The fingerprint of the trainer's source (None: prebuilt packages)."""
    data: Mapping[str, Fingerprint] = {}
    """The dataset's fingerprints by side (``train``, ``eval``)."""

    def essence(self) -> JobEssence:
        """What identity hashes: the job as compiled, and its source's and data's
        fingerprints."""
        from reconciler.tuning.spec import essence as tuning_essence

        flags = self.flags
        found: JobEssence = {
            "trainer": {
                "source": self.source_digest,
                "packageUris": list(self.package_uris),
                "module": self.module,
                "flags": {
                    "train": flags.train,
                    "eval": flags.eval,
                    "output": flags.output,
                    "jobDir": flags.job_dir,
                },
            },
            "data": {
                side: {"fingerprint": p.mode, "digest": p.digest, "patterns": list(p.patterns)}
                for side, p in self.data.items()
            },
            "hyperparameters": dict(self.hyperparameters),
            "args": list(self.args),
            "scaleTier": self.scale_tier,
            "machines": self.machines(),
            "region": self.region,
            "runtimeVersion": self.runtime_version,
            "pythonVersion": self.python_version,
            "outputDir": self.layout.declared,
            "hyperparameterTuning": tuning_essence(self.tuning),
        }
        # Only when set, so the identity of a job without them stays what it was.
        if self.env:
            found["env"] = dict(self.env)
        if self.image:
            found["image"] = self.image.essence()
        return found

    def pool(self, role: Role) -> Pool | None:
        return next((p for p in self.pools if p.role is role), None)

    def machines(self) -> dict[str, Any]:
        """The roles as identity hashes them and the plan shows them."""
        return {pool.role.value: pool.essence() for pool in self.pools}

    def describe_pools(self) -> str:
        """``chief: 1x n1-standard-4, worker: 2x ...`` for people."""
        return ", ".join(pool.describe() for pool in self.pools)

    def argv(self, job_dir: str, where: Callable[[Inputs, str], str] | None = None) -> list[str]:
        """The trainer contract's arguments (DESIGN.md): the data, output and job-dir
        flags under the names the Trainer declares (a null flag is not passed),
        then each hyperparameter as ``--name=value``, then the args verbatim.
        ``where`` turns a dataset pattern into the path the job reads."""
        place = where or (lambda inputs, pattern: inputs.local_path(pattern))
        flags, inputs = self.flags, self.inputs
        argv: list[str] = []
        if inputs is not None:
            if flags.train and inputs.train:
                argv.append(f"{flags.train}={','.join(place(inputs, p) for p in inputs.train)}")
            if flags.eval and inputs.eval:
                argv.append(f"{flags.eval}={','.join(place(inputs, p) for p in inputs.eval)}")
        if flags.output:
            argv.append(f"{flags.output}={self.layout.output_dir(job_dir)}")
        if flags.job_dir:
            argv.append(f"{flags.job_dir}={job_dir}")
        argv.extend(f"--{name}={flag_text(value)}" for name, value in self.hyperparameters.items())
        argv.extend(self.args)
        return argv


def flag_text(value: Scalar) -> str:
    """A hyperparameter's value as a flag carries it (``--name=VALUE``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _VersionEssence(TypedDict):
    model: str
    source: dict[str, str | None]
    runtimeVersion: str
    pythonVersion: str
    framework: str
    machineType: str
    scaling: dict[str, int | None]


class VersionEssence(_VersionEssence, total=False):
    """What a ModelVersion's identity hashes (the manifests' names: keep them);
    ``servingContainer`` only when set."""

    servingContainer: dict[str, Any]


class CompiledVersion(NamedTuple):
    """A ModelVersion as every backend serves it."""

    model: str
    """The live name of its model."""
    job: str | None
    """The live name of the job whose export it serves (None: ``uri``)."""
    export_path: str | None
    uri: str | None
    runtime_version: str
    python_version: str
    framework: str
    machine_type: str
    scaling: Scaling
    serving_container: ServingContainer | None = None

    def essence(self) -> VersionEssence:
        source: dict[str, str | None] = (
            {"job": self.job, "exportPath": self.export_path} if self.job else {"uri": self.uri}
        )
        found: VersionEssence = {
            "model": self.model,
            "source": source,
            "runtimeVersion": self.runtime_version,
            "pythonVersion": self.python_version,
            "framework": self.framework,
            "machineType": self.machine_type,
            "scaling": {
                "minNodes": self.scaling.min_nodes,
                "maxNodes": self.scaling.max_nodes,
                "nodes": self.scaling.nodes,
            },
        }
        # Only when set, so the identity of a version without one stays what it was.
        if self.serving_container:
            found["servingContainer"] = self.serving_container.essence()
        return found


class ModelEssence(TypedDict):
    region: str
    onlinePredictionLogging: bool


class CompiledModel(NamedTuple):
    """A Model: what cannot change in place (a change replaces it)."""

    region: str
    online_prediction_logging: bool

    def essence(self) -> ModelEssence:
        return {"region": self.region, "onlinePredictionLogging": self.online_prediction_logging}


Compiled = CompiledJob | CompiledVersion | CompiledModel
"""What a kind with a live counterpart compiles to (``DesiredResource.compiled``)."""
