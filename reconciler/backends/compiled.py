"""The compiled job: a TrainingJob as every backend runs it, compiled once.

A TrainingJob, its Trainer and its Dataset are compiled (by the TrainingJob
kind, with the backend's profile) into one backend-neutral value: the
module and package, the trainer contract's inputs and flags, the roles of the
cluster in one vocabulary with their replicas and machines (or local
processes), and the output layout, trials included. Identity hashes it, the
plan records it, and each driver only translates it into its own request.
This module is the one place that formats the trainer's flags and the one
that knows where a job's output goes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple

from reconciler.stack.resources import (
    Accelerator,
    MachineGroup,
    Machines,
    Scalar,
    TrainerFlags,
    TrainingImage,
    Tuning,
)


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
    """Where a job writes, relative to its job dir: ``JOB_DIR/<output>``; each tuning
    trial is a job of its own with ``JOB_DIR/<trial id>`` as its job dir, as Vertex AI
    gives each trial's child job ``baseOutputDirectory = <base>/<trialId>/`` (aiplatform
    v1 discovery document, CustomJobSpec.baseOutputDirectory, checked 2026-12-02)."""

    output: str = DEFAULT_OUTPUT

    def output_dir(self, job_dir: str) -> str:
        """The output folder: a gs:// URI as written, else under the job dir."""
        if self.output.startswith("gs://"):
            return self.output
        return f"{job_dir.rstrip('/')}/{self.output}"

    def trial_dir(self, job_dir: str, trial: str) -> str:
        return f"{job_dir.rstrip('/')}/{trial}"


class Inputs(NamedTuple):
    """A dataset's patterns as written, and the folder local ones are relative to."""

    dataset: str
    train: tuple[str, ...]
    eval: tuple[str, ...]
    base_dir: Path

    def local_path(self, pattern: str) -> str:
        """A pattern as a local process reads it: made absolute, gs:// as written."""
        return pattern if pattern.startswith("gs://") else str(self.base_dir / pattern)


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
