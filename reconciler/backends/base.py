"""The live records every backend reports, and what apply hands a driver.

The plan layer imports only this module (and ``facets`` for what a driver
can do). Live records are lenient (unknown states are kept, labels may be
anything) because they come from a server; they carry only what planning
needs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

from reconciler.backends.compiled import CompiledJob, CompiledVersion
from reconciler.backends.recorded import JobRecord, RolloutState, VersionRecord, rollout_of
from reconciler.backends.served import Served
from reconciler.identity.canonical import canonical_json, digest
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
    """The record kept when the job was submitted (``record`` reads it)."""
    lost: bool = False
    """It failed for the machinery (its supervisor or machine was lost), not for its
    trainer: resubmitted within ``retry.maxResubmits``, not counted in maxAttempts."""
    metrics: Mapping[str, float] = field(default_factory=dict)
    """The final figures it reported (a tuning job: its best trial's), by metric name."""
    trials: tuple[LiveTrial, ...] = ()
    best_trial: str | None = None
    """A tuning job's best trial by the study's goal, once one succeeded."""
    console_url: str | None = None
    """The job's page in its cloud's console, where the backend has one."""

    @property
    def record(self) -> JobRecord | None:
        """Its ``spec``, read as a job's record (None: none, or of another shape)."""
        return JobRecord.read(self.spec)


@dataclass(frozen=True)
class LiveModel(Labelled):
    description: str = ""
    region: str = ""
    online_prediction_logging: bool = False
    default_version: str | None = None
    create_time: float | None = None
    console_url: str | None = None
    """Where its cloud's console shows it (a Vertex AI endpoint's page)."""
    traffic: Mapping[str, int] = field(default_factory=dict)
    """Percent of its requests by version while they are split (a rollout); empty:
    all go to the default version."""


@dataclass(frozen=True)
class LiveVersion(Labelled):
    model: str
    state: VersionState
    description: str = ""
    deployment_uri: str | None = None
    create_time: float | None = None
    error: str | None = None
    spec: Mapping[str, Any] | None = None
    """The record kept when the version was made (``record`` reads it)."""

    @property
    def record(self) -> VersionRecord | None:
        return VersionRecord.read(self.spec)

    @property
    def rollout(self) -> RolloutState | None:
        """Where its rollout stands, as its record says (None: it had none)."""
        return rollout_of(self.spec)


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
    served: Mapping[tuple[str, str], Served] = field(default_factory=dict)
    """What versions in a rollout served in their current step, by (model, version)
    (read for the plan through the ``Traffic`` facet); not part of the digest: it
    grows with every request."""

    def job(self, name: str | None) -> LiveJob | None:
        """The job of that live name (an index made on the first question)."""
        return self._jobs_by_name.get(name) if name else None

    @functools.cached_property
    def _jobs_by_name(self) -> dict[str, LiveJob]:
        return {job.name: job for job in self.jobs}

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
                        # A split only while there is one: digests of stacks without
                        # one read as they always did (saved plans stay fresh).
                        [m.name, m.labels, m.description, m.region, m.default_version]
                        + ([dict(m.traffic)] if m.traffic else [])
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


@dataclass(frozen=True)
class JobSubmission:
    """Everything a backend needs to start one job."""

    record: LiveJob
    """The live name, the labels, and the record of the plan's spec."""
    job: CompiledJob


class VersionDeployment(NamedTuple):
    """Everything a backend needs to make one version serve."""

    record: LiveVersion
    """The live name, the model, the labels, and the record of the plan's spec."""
    version: CompiledVersion
    """What it serves and how (machines, scaling, runtime, its serving container)."""
    export: str
    """The SavedModel: a folder on this machine or a URI the backend reads."""
