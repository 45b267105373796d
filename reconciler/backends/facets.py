"""What a driver can do, as small protocols it provides or not (its facets).

Every driver reads its stack's live state (:class:`Driver`). The rest are
capabilities: a driver class lists the facets it provides among its bases,
and a backend lacks a capability by not providing its facet (as dstack
derives what a backend can do from the mixins its compute class has). No
driver method exists only to raise. The registry derives a backend's facets
from its driver class (``registry.provides``); validate, plan and the command
line ask it, and a missing facet is one line with its profile's reason and
the way out (``Profile.explains``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    from reconciler.backends.base import (
        JobSubmission,
        LiveJob,
        LiveModel,
        LiveSnapshot,
        LiveVersion,
        VersionDeployment,
    )
    from reconciler.backends.served import Served
    from reconciler.identity.content import RemoteLister


@runtime_checkable
class Driver(Protocol):
    """What every driver does: read the live state of a stack, in bulk."""

    name: str
    poll_seconds: float
    """How often apply and the watchers look again at something under way."""

    def read_live(self, stack: str) -> LiveSnapshot:
        """Every live resource labelled with ``stack``, in bulk (never one call per resource)."""
        ...

    def remote_lister(self) -> RemoteLister | None:
        """How this backend lists remote data for fingerprints (None: it cannot)."""
        ...

    def purge(self, stack: str, jobs: Collection[str]) -> int:
        """Remove what destroy leaves after its plan: the finished ones of ``jobs`` (the
        runs its plan listed, by live name; no other) and the stack's staged objects;
        how many of those runs were removed."""
        ...


@runtime_checkable
class Jobs(Protocol):
    """Training jobs: submitted at most once, found by name, cancelled, relabelled, and
    their exported SavedModel found."""

    def submit_job(self, submission: JobSubmission) -> None:
        """Start a job; one submitted before under this name and identity (an answer
        that was lost) is not started again."""
        ...

    def get_job(self, stack: str, name: str) -> LiveJob | None:
        """One job of the stack by its live name (polled while apply waits)."""
        ...

    def cancel_job(self, name: str) -> None: ...

    def relabel_job(self, job: LiveJob) -> None:
        """Rewrite a finished job's labels (and its record)."""
        ...

    def export_of(self, stack: str, job: LiveJob, export_path: str | None) -> str:
        """Where a succeeded job's SavedModel is (a tuning job's: its best trial's);
        raises ``exports.NoExport`` saying where it looked."""
        ...


@runtime_checkable
class Studies(Protocol):
    """Hyperparameter tuning: a study of trials, run on the backend."""

    def submit_study(self, submission: JobSubmission) -> None:
        """Start a tuning job (``submission.job.tuning``); at most once, as a job."""
        ...


@runtime_checkable
class Serving(Protocol):
    """Models and their versions: deployed, updated, made default, deleted."""

    def put_model(self, model: LiveModel) -> None: ...

    def delete_model(self, name: str) -> None: ...

    def deploy_version(self, deployment: VersionDeployment) -> None:
        """Create a version serving the deployment's SavedModel (a folder or URI)."""
        ...

    def update_version(self, version: LiveVersion) -> None: ...

    def set_default(self, model: str, version: str) -> None: ...

    def delete_version(self, model: str, name: str) -> None: ...


@runtime_checkable
class Traffic(Protocol):
    """A model's requests split between its versions by weight (a rollout's steps),
    and what each version served."""

    def set_traffic(self, model: str, split: Mapping[str, int]) -> None:
        """Send each version (by live name) its percent of the model's requests (the
        percents add up to 100)."""
        ...

    def served(
        self, stack: str, model: str, versions: Sequence[str], since: float
    ) -> Mapping[str, Served]:
        """What each of ``versions`` served since ``since`` (epoch seconds); versions
        with nothing served are left out."""
        ...

    def served_series(
        self, stack: str, model: str, versions: Sequence[str], since: float, step: float
    ) -> Mapping[str, Sequence[tuple[float, Served]]]:
        """What each version served in each ``step`` seconds since ``since``: (when the
        step began, figures), oldest first; steps with nothing served left out."""
        ...


@runtime_checkable
class StackLock(Protocol):
    """The stack's apply lock, seen by every client of the backend."""

    def lock(
        self, stack: str, timeout: float, note: Callable[[str], None] = ...
    ) -> AbstractContextManager[str]:
        """Hold the stack's apply lock; waits ``timeout`` seconds, then names the holder.
        A lock whose holder is provably gone is taken over, and ``note`` says so."""
        ...

    def unlock(self, stack: str, lock_id: str) -> str:
        """Break the lock ``lock_id``; describes the holder it had."""
        ...


class LogChunk(NamedTuple):
    """Part of a log: its bytes from an offset, where the next read starts, and
    whether the log exists yet."""

    data: bytes
    offset: int
    exists: bool


@runtime_checkable
class Logs(Protocol):
    """What a job's tasks logged."""

    def read_log(self, name: str, task: str, trial: str | None = None, offset: int = 0) -> LogChunk:
        """A job's task log (``chief-0``, ``worker-1``, ``prepare``), or a trial's,
        from ``offset`` (negative: that many bytes before its end)."""
        ...

    def log_tail(self, name: str) -> str:
        """The last meaningful line the job's chief logged, or ""."""
        ...


@runtime_checkable
class Usage(Protocol):
    """Measured CPU and memory of jobs."""

    def job_usage(self, names: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        """Measured use by job: ``mean_cpu`` and ``peak_rss_bytes``, and while it runs
        ``cpu`` and ``rss_bytes`` (its tasks' latest samples together) and
        ``reported`` (the trainer's last hypertune report: its ``step`` and values) and
        ``skipped_reports`` (lines of its hypertune file that are not reports); jobs it
        has no figures for are left out."""
        ...

    def usage_series(
        self, name: str, trial: str | None = None, since: float | None = None
    ) -> Mapping[str, Sequence[tuple[float, float, int]]]:
        """A job's (or one of its trials') CPU and memory over time by task:
        (time, CPUs used, resident bytes) points, oldest first, after ``since``."""
        ...


@runtime_checkable
class TensorBoard(Protocol):
    """A real TensorBoard over the jobs' output, served from this machine."""

    def tensorboard_runs(self, jobs: Sequence[LiveJob]) -> list[tuple[str, str]]:
        """TensorBoard runs of these jobs, (name, folder) each: a job's trainer dir as
        ``manifest/live name``, a tuning job's trials as ``.../trial-N``."""
        ...

    def tensorboard_argv(self, runs: Sequence[tuple[str, str]], host: str, port: int) -> list[str]:
        """The command that serves a real TensorBoard over ``runs``."""
        ...


@runtime_checkable
class LocalModels(Protocol):
    """Versions are SavedModel folders on this machine: ``mlapply serve`` serves
    them and ``mlapply predict`` runs them in-process."""

    def model_folders(self, snapshot: LiveSnapshot) -> Mapping[str, Mapping[str, str]]:
        """Each model's serving versions: model -> version -> SavedModel folder."""
        ...

    def record_served(self, stack: str, rows: Sequence[tuple[str, str, float, Served]]) -> None:
        """Keep what ``mlapply serve`` counted: (model, version, time, figures) rows, each
        what the version served since its row before (``Traffic.served`` adds them up)."""
        ...


@runtime_checkable
class Predictions(Protocol):
    """The backend answers predictions itself (``mlapply predict`` asks it)."""

    def predict(
        self, stack: str, model: str, version: str | None, instances: Sequence[Any]
    ) -> list[Any]:
        """The predictions of a model's version (None: its default) for ``instances``."""
        ...

    def prediction_url(self, model: str, version: str | None) -> str:
        """Where a client sends ``{"instances": [...]}`` (the README's curl lines)."""
        ...


class Facet(Enum):
    """Each capability, its protocol and how people name it."""

    JOBS = (Jobs, "training jobs")
    STUDIES = (Studies, "hyperparameter tuning")
    SERVING = (Serving, "model serving")
    TRAFFIC = (Traffic, "traffic split between versions, with what each served (rollouts)")
    LOCK = (StackLock, "a stack lock")
    LOGS = (Logs, "job logs")
    USAGE = (Usage, "job CPU and memory figures")
    TENSORBOARD = (TensorBoard, "TensorBoard over the jobs' output on this machine")
    LOCAL_MODELS = (LocalModels, "serving from this machine (mlapply serve, predict)")
    PREDICTIONS = (Predictions, "predictions answered by the backend (mlapply predict)")

    def __init__(self, protocol: type, title: str) -> None:
        self.protocol = protocol
        self.title = title


def facets_of(driver_class: type) -> frozenset[Facet]:
    """The facets a driver class provides: the facet protocols among its bases."""
    return frozenset(f for f in Facet if issubclass(driver_class, f.protocol))
