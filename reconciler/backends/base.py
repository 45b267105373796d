"""The Backend protocol and the live records every backend reports.

The plan layer imports only this module. Live records are lenient (unknown
states are kept, labels may be anything) because they come from a server;
they carry only what planning needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from reconciler.backends.compiled import CompiledJob
from reconciler.identity.canonical import canonical_json, digest
from reconciler.identity.content import RemoteLister
from reconciler.stack.resources import LABEL_HASH, LABEL_NAME, LABEL_PROTECTED, LABEL_STACK


class JobState(str, Enum):
    QUEUED = "QUEUED"
    PREPARING = "PREPARING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"

    @property
    def active(self) -> bool:
        return self in (JobState.QUEUED, JobState.PREPARING, JobState.RUNNING)

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class VersionState(str, Enum):
    """A version's state as reported. READY: it serves. UPLOADED: the backend holds
    the model but does not serve it (Vertex AI, where a version is an upload and a
    deployment, when the deployment did not finish); the next apply deploys it."""

    READY = "READY"
    UPLOADED = "UPLOADED"


@dataclass(frozen=True)
class Labelled:
    """What every live record has: its name and labels (identity lives there)."""

    name: str
    labels: Mapping[str, str]

    @property
    def manifest_name(self) -> str | None:
        return self.labels.get(LABEL_NAME)

    @property
    def hash(self) -> str | None:
        return self.labels.get(LABEL_HASH)

    @property
    def stack(self) -> str | None:
        return self.labels.get(LABEL_STACK)

    @property
    def protected(self) -> bool:
        return self.labels.get(LABEL_PROTECTED) == "true"


@dataclass(frozen=True)
class LiveTrial:
    """One trial of a tuning job, as its backend reports it."""

    id: str
    """The trial id: "1", "2" ... (as Vertex AI and ML Engine numbered them)."""
    params: Mapping[str, Any]
    state: str
    """QUEUED, RUNNING, SUCCEEDED, FAILED, STOPPED (stopped early) or CANCELLED."""
    metric: float | None = None
    """Its final value of the study's metric."""
    start_time: float | None = None
    end_time: float | None = None
    error: str | None = None
    lost: bool = False
    """Ended by the machinery, not its trainer: run again, not counted as failed."""


@dataclass(frozen=True)
class LiveJob(Labelled):
    state: JobState
    create_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    error: str | None = None
    spec: Mapping[str, Any] | None = None
    """The identity record stored when the job was submitted (essence and details)."""
    lost: bool = False
    """It failed for the machinery (its supervisor or machine was lost), not for its
    trainer: resubmitted within ``retry.maxResubmits``, not counted in maxAttempts."""
    metrics: Mapping[str, float] = field(default_factory=dict)
    """The final figures it reported (a tuning job: its best trial's), by metric name."""
    trials: tuple[LiveTrial, ...] = ()
    best_trial: str | None = None
    console_url: str | None = None
    """The job's page in its cloud's console, where the backend has one."""
    """A tuning job's best trial by the study's goal, once one succeeded."""


@dataclass(frozen=True)
class LiveModel(Labelled):
    description: str = ""
    region: str = ""
    online_prediction_logging: bool = False
    default_version: str | None = None
    create_time: float | None = None
    console_url: str | None = None
    """Where its cloud's console shows it (a Vertex AI endpoint's page)."""


@dataclass(frozen=True)
class LiveVersion(Labelled):
    model: str
    state: VersionState
    description: str = ""
    deployment_uri: str | None = None
    create_time: float | None = None
    error: str | None = None
    spec: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class LivePackage(Labelled):
    digest: str
    uri: str
    create_time: float | None = None


@dataclass(frozen=True)
class LiveSnapshot:
    """Everything live that carries one stack's label, read in bulk."""

    stack: str
    jobs: tuple[LiveJob, ...] = ()
    models: tuple[LiveModel, ...] = ()
    versions: tuple[LiveVersion, ...] = ()
    packages: tuple[LivePackage, ...] = ()
    environments: frozenset[str] = frozenset()
    """The runtime environments this machine has built (the local backend's), by key;
    not part of the digest: building one changes nothing a plan acts on."""

    @property
    def digest(self) -> str:
        """Changes whenever anything live changes (not when it is merely read again)."""

        def rows(items: list[list[Any]]) -> list[str]:
            return sorted(canonical_json(item) for item in items)

        return digest(
            {
                "jobs": rows([[j.name, j.labels, j.state.value, j.error] for j in self.jobs]),
                "models": rows(
                    [
                        [m.name, m.labels, m.description, m.region, m.default_version]
                        for m in self.models
                    ]
                ),
                "versions": rows(
                    [
                        [v.model, v.name, v.labels, v.state.value, v.description]
                        for v in self.versions
                    ]
                ),
                "packages": rows([[p.name, p.digest] for p in self.packages]),
            }
        )


class Backend(Protocol):
    """What the planner needs from a backend; apply adds the verbs that change things."""

    name: str

    def read_live(self, stack: str) -> LiveSnapshot:
        """Every live resource labelled with ``stack``, in bulk (never one call per resource)."""
        ...

    def remote_lister(self) -> RemoteLister | None:
        """How this backend lists gs:// data for fingerprints (None: it cannot)."""
        ...


@dataclass(frozen=True)
class JobSubmission:
    """Everything a backend needs to start one job."""

    record: LiveJob
    """The live name, the labels, and the record of the plan's spec."""
    job: CompiledJob


class ApplyBackend(Backend, Protocol):
    """The verbs apply uses. Each is idempotent where the API allows it and
    raises :class:`~reconciler.diagnostics.MlapplyError` with the reason."""

    poll_seconds: float  # how often apply looks at a running job

    def lock(
        self, stack: str, timeout: float, note: Callable[[str], None] = ...
    ) -> AbstractContextManager[str]:
        """Hold the stack's apply lock; waits ``timeout`` seconds, then names the holder.
        A lock whose holder is provably gone is taken over, and ``note`` says so."""
        ...

    def unlock(self, stack: str, lock_id: str) -> str:
        """Break the lock ``lock_id``; describes the holder it had."""
        ...

    def submit_job(self, submission: JobSubmission) -> None: ...

    def get_job(self, stack: str, name: str) -> LiveJob | None: ...

    def cancel_job(self, name: str) -> None: ...

    def relabel_job(self, job: LiveJob) -> None:
        """Rewrite a finished job's labels (and recorded spec)."""
        ...

    def log_tail(self, name: str) -> str:
        """The last line a job's chief logged, or ""."""
        ...

    def log_file(self, name: str, task: str, trial: str | None = None) -> Path:
        """The file a job's task (``chief-0``, ``worker-1``), or a task of one of its
        trials, logs to; raises where logs are not files (with where to read them
        instead)."""
        ...

    def job_usage(self, names: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        """Measured use by job where the backend measures it: ``mean_cpu`` and
        ``peak_rss_bytes``, and while it runs ``cpu`` and ``rss_bytes`` (its tasks'
        latest samples together) and ``reported`` (the trainer's last hypertune
        report: its ``step`` and values); jobs it has no figures for are left out."""
        ...

    def usage_series(
        self, name: str, trial: str | None = None, since: float | None = None
    ) -> Mapping[str, Sequence[tuple[float, float, int]]]:
        """A job's (or one of its trials') CPU and memory over time by task:
        (time, CPUs used, resident bytes) points, oldest first, after ``since``;
        empty where the backend measures none."""
        ...

    def tensorboard_runs(self, jobs: Sequence[LiveJob]) -> list[tuple[str, str]]:
        """TensorBoard runs of these jobs, (name, folder) each: a job's trainer dir as
        ``manifest/live name``, a tuning job's trials as ``.../trial-N``."""
        ...

    def tensorboard_argv(self, runs: Sequence[tuple[str, str]], host: str, port: int) -> list[str]:
        """The command that serves a real TensorBoard over ``runs``."""
        ...

    def export_of(self, stack: str, job: str, export_path: str | None) -> str | None:
        """Where a succeeded job's SavedModel is: ``export_path`` under its output
        dir, or the newest SavedModel there; None if it exported nothing."""
        ...

    def put_model(self, model: LiveModel) -> None: ...

    def delete_model(self, name: str) -> None: ...

    def deploy_version(self, version: LiveVersion, export: str) -> None:
        """Create a version serving the SavedModel at ``export`` (a folder or gs:// URI)."""
        ...

    def update_version(self, version: LiveVersion) -> None: ...

    def set_default(self, model: str, version: str) -> None: ...

    def delete_version(self, model: str, name: str) -> None: ...

    def purge(self, stack: str) -> int:
        """Remove what destroy leaves (finished job records, staged packages)."""
        ...
