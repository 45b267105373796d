"""What a driver keeps with a live resource, and reads back typed.

When apply makes a job or a version, the driver keeps the plan's record with
it (the local store's ``spec`` column, the Google records object): the
essence identity hashed, the details that explain a change (per-file lists),
and the fields that change in place. A later plan reads it back to say what
changed. Records come from a store or a server, so reading is lenient: a
record of another shape reads as None (the plan then says it cannot tell),
never as an error. ``format`` versions the shape (records written before it
was added read as format 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict, cast

if TYPE_CHECKING:
    from reconciler.backends.compiled import JobEssence, VersionEssence
    from reconciler.tuning.spec import TuningEssence

from reconciler.identity.desired import RECORD_FORMAT as FORMAT

Raw = Mapping[str, Any]
"""A record as kept: JSON."""


class JobDetails(TypedDict, total=False):
    trainer_files: Mapping[str, Any]
    """Relative path -> (size, sha256) of the trainer's source."""
    data_files: Mapping[str, Mapping[str, Any]]
    """By side, the dataset's files the same way."""
    trainer: str
    """The Trainer's manifest name."""


def _parts(raw: Raw | None) -> tuple[Raw, Raw, Raw] | None:
    if not isinstance(raw, Mapping) or raw.get("format", FORMAT) != FORMAT:
        return None
    essence, details, mutable = (raw.get(k) or {} for k in ("essence", "details", "mutable"))
    if not (essence and isinstance(essence, Mapping)):
        return None
    if not isinstance(details, Mapping) or not isinstance(mutable, Mapping):
        return None
    return essence, details, mutable


def _labels(mutable: Raw) -> dict[str, str] | None:
    labels = mutable.get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else None


class JobRecord(NamedTuple):
    """A TrainingJob's record: its essence, the files behind its fingerprints, and the
    labels it was given (None: not recorded)."""

    essence: JobEssence
    details: JobDetails
    labels: dict[str, str] | None

    @classmethod
    def read(cls, raw: Raw | None) -> JobRecord | None:
        parts = _parts(raw)
        if parts is None:
            return None
        essence, details, mutable = parts
        return cls(cast("JobEssence", essence), cast("JobDetails", details), _labels(mutable))

    @property
    def tuning(self) -> TuningEssence | None:
        found = self.essence.get("hyperparameterTuning")
        return found if isinstance(found, Mapping) else None

    @property
    def runtime(self) -> tuple[str, str] | None:
        """(runtimeVersion, pythonVersion) asked for."""
        runtime, python = self.essence.get("runtimeVersion"), self.essence.get("pythonVersion")
        if isinstance(runtime, str) and isinstance(python, str):
            return runtime, python
        return None


class Forecasted(NamedTuple):
    """What the plan forecast for a job when apply submitted it, kept with the job so
    that ``status`` can set it against what happened."""

    seconds: float
    low: float
    high: float
    basis: str
    cost: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self._asdict())

    @classmethod
    def read(cls, raw: Any) -> Forecasted | None:
        if not isinstance(raw, Mapping):
            return None
        numbers = [raw.get(k) for k in ("seconds", "low", "high")]
        if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
            return None
        cost = raw.get("cost")
        return cls(
            float(raw["seconds"]),
            float(raw["low"]),
            float(raw["high"]),
            str(raw.get("basis", "")),
            float(cost) if isinstance(cost, int | float) else None,
        )


def forecasted(raw: Raw | None) -> Forecasted | None:
    """What a job's record says was forecast for it (any record shape)."""
    return Forecasted.read(raw.get("forecast")) if isinstance(raw, Mapping) else None


def with_forecast(raw: Raw, forecast: Forecasted | None) -> dict[str, Any]:
    """A job's record with what was forecast for it."""
    found = dict(raw)
    if forecast is not None:
        found["forecast"] = forecast.to_json()
    return found


class Deployed(NamedTuple):
    """What a version was deployed with: its job (and trial) and the figures they
    reported, which a gate compares a later version with."""

    job: str
    metrics: dict[str, float]
    trial: str | None = None

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"job": self.job, "metrics": dict(self.metrics)}
        if self.trial is not None:
            found["trial"] = self.trial
        return found

    @classmethod
    def read(cls, raw: Any) -> Deployed | None:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("job"), str):
            return None
        metrics = raw.get("metrics")
        figures = {
            str(k): float(v)
            for k, v in (metrics.items() if isinstance(metrics, Mapping) else ())
            if isinstance(v, int | float)
        }
        trial = raw.get("trial")
        return cls(raw["job"], figures, str(trial) if trial is not None else None)


class VersionRecord(NamedTuple):
    """A ModelVersion's record: its essence, what changes in place, and what it was
    deployed with."""

    essence: VersionEssence
    labels: dict[str, str] | None
    description: str | None
    default: bool | None
    deployed: Deployed | None

    @classmethod
    def read(cls, raw: Raw | None) -> VersionRecord | None:
        parts = _parts(raw)
        if parts is None:
            return None
        essence, _, mutable = parts
        default = mutable.get("default")
        description = mutable.get("description")
        return cls(
            cast("VersionEssence", essence),
            _labels(mutable),
            description if isinstance(description, str) else None,
            default if isinstance(default, bool) else None,
            Deployed.read((raw or {}).get("deployed")),
        )


def deployed_with(raw: Raw | None) -> Deployed | None:
    """What a version's record says it was deployed with (any record shape)."""
    return Deployed.read(raw.get("deployed")) if isinstance(raw, Mapping) else None


def with_deployed(raw: Raw, deployed: Deployed | None) -> dict[str, Any]:
    """A version's record with what it is deployed with."""
    found = dict(raw)
    if deployed is not None:
        found["deployed"] = deployed.to_json()
    return found


ROLLING = "rolling"
DONE = "done"
ROLLED_BACK = "rolled-back"
"""The states of a rollout (``RolloutState.state``)."""


class RolloutState(NamedTuple):
    """Where a version's rollout stands, kept in its record: the next plan and apply
    read it, so a rollback outlives the apply that made it."""

    state: str
    """``rolling``, ``done`` or ``rolled-back``."""
    step: int
    """The index of the step it is at (or was at when it ended)."""
    since: float
    """When that step began (epoch seconds): its figures count from then."""
    previous: str | None
    """The version it takes the traffic from (the default when it began)."""
    why: str | None = None
    """Why it was rolled back."""
    at: float | None = None
    """When it was done or rolled back."""
    by: str | None = None
    """Who rolled it back: ``apply`` (a gate), or ``mlapply rollout undo`` and by whom."""

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self._asdict().items() if v is not None}

    @classmethod
    def read(cls, raw: Any) -> RolloutState | None:
        if not isinstance(raw, Mapping):
            return None
        state, step, since = raw.get("state"), raw.get("step"), raw.get("since")
        if state not in (ROLLING, DONE, ROLLED_BACK) or not isinstance(step, int):
            return None
        if not isinstance(since, int | float):
            return None

        def text(key: str) -> str | None:
            value = raw.get(key)
            return value if isinstance(value, str) else None

        at = raw.get("at")
        return cls(
            state,
            step,
            float(since),
            text("previous"),
            text("why"),
            float(at) if isinstance(at, int | float) else None,
            text("by"),
        )


def rollout_of(raw: Raw | None) -> RolloutState | None:
    """Where a version's record says its rollout stands (any record shape)."""
    return RolloutState.read(raw.get("rollout")) if isinstance(raw, Mapping) else None


def with_rollout(raw: Raw, rollout: RolloutState | None) -> dict[str, Any]:
    """A version's record with where its rollout stands."""
    found = dict(raw)
    if rollout is not None:
        found["rollout"] = rollout.to_json()
    return found


def keep_history(raw: Raw | None, before: Raw | None) -> Raw | None:
    """A version's new record, keeping what it was deployed with (which gates compare
    against) and how its rollout went, where an update does not say."""
    if raw is None:
        return raw
    if deployed_with(raw) is None:
        raw = with_deployed(raw, deployed_with(before))
    if rollout_of(raw) is None:
        raw = with_rollout(raw, rollout_of(before))
    return raw
