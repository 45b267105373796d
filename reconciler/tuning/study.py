"""A study's rules, on the trials its backend reports: which trial is best, whether
the study is over, and which running trials the median rule stops (what the
trainers reported: hypertune.py).

maxFailedTrials 0 "lets the service decide" (aiplatform v1,
HyperparameterTuningJob.maxFailedTrialCount, checked 2026-12-02); here it
means no bound but maxTrials: the study fails only when no trial succeeded.

Early stopping is the median automated stopping rule Vertex AI documents
(StudySpec.MedianAutomatedStoppingSpec, aiplatform v1 discovery document,
checked 2026-12-02): a running trial is stopped when its best value so far is
strictly worse than the median "performance" of the completed trials, where a
trial's performance is the running average of the values it reported up to
the running trial's last step. The rule waits for two completed trials.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from reconciler.stack.resources import Tuning, TuningParameter
from reconciler.tuning.hypertune import Measurement

FINISHED = frozenset({"SUCCEEDED", "FAILED", "STOPPED", "CANCELLED"})
COMPLETED = frozenset({"SUCCEEDED", "STOPPED"})
MEDIAN_RULE_MIN_COMPLETED = 2


class Trial(NamedTuple):
    """A trial as the rules see it."""

    id: str
    params: Mapping[str, Any]
    state: str
    metric: float | None = None
    lost: bool = False
    measurements: tuple[Measurement, ...] = ()
    error: str | None = None


def tuning_record(tuning: Tuning) -> dict[str, Any]:
    """A tuning spec as JSON, for a study's supervisor (local) or launcher (ray)."""
    return {**tuning._asdict(), "params": [p._asdict() for p in tuning.params]}


def tuning_from_record(found: Mapping[str, Any]) -> Tuning:
    params = tuple(
        TuningParameter(**{**p, "values": tuple(p.get("values", ()))}) for p in found["params"]
    )
    return Tuning(**{**found, "params": params})


def better(goal: str, a: float, b: float) -> bool:
    """Whether ``a`` is strictly better than ``b`` under ``goal``."""
    return a < b if goal == "MINIMIZE" else a > b


def best(trials: Sequence[Trial], goal: str) -> Trial | None:
    """The completed trial with the best metric (the first of equals)."""
    chosen: Trial | None = None
    for trial in trials:
        if trial.state not in COMPLETED or trial.metric is None:
            continue
        if chosen is None or better(goal, trial.metric, chosen.metric):  # type: ignore[arg-type]
            chosen = trial
    return chosen


def counted(trials: Sequence[Trial]) -> list[Trial]:
    """The trials that count toward maxTrials: every one not lost to the machinery."""
    return [t for t in trials if not t.lost]


def failed(trials: Sequence[Trial]) -> list[Trial]:
    return [t for t in trials if t.state == "FAILED" and not t.lost]


def outcome(
    tuning: Tuning, trials: Sequence[Trial], exhausted: bool = False
) -> tuple[str, str | None] | None:
    """("SUCCEEDED", None) or ("FAILED", why) once the study is over, else None."""
    bad = failed(trials)
    if tuning.max_failed_trials and len(bad) >= tuning.max_failed_trials:
        last = bad[-1]
        return "FAILED", (
            f"{len(bad)} trials failed, reaching maxFailedTrials ({tuning.max_failed_trials}); "
            f"trial {last.id} ended: {_first_line(last)}"
        )
    own = counted(trials)
    running = [t for t in own if t.state not in FINISHED]
    if running or (len(own) < tuning.max_trials and not exhausted):
        return None
    if best(trials, tuning.goal) is not None:
        return "SUCCEEDED", None
    if not any(t.state in COMPLETED for t in own):
        return "FAILED", f"no trial succeeded ({len(bad)} failed)" + (
            f"; trial {bad[-1].id} ended: {_first_line(bad[-1])}" if bad else ""
        )
    return "FAILED", f"no trial reported the metric {tuning.metric} (cloudml-hypertune)"


def _first_line(trial: Trial) -> str:
    """The line of a trial's error that says how it ended."""
    lines = [line.strip() for line in (trial.error or "").splitlines() if line.strip()]
    return lines[0].rstrip(":") if lines else "failed"


def to_stop(tuning: Tuning, trials: Sequence[Trial]) -> list[str]:
    """The running trials the median rule stops (none unless early stopping is on)."""
    if not tuning.early_stopping:
        return []
    completed = [t for t in trials if t.state in COMPLETED and t.measurements]
    if len(completed) < MEDIAN_RULE_MIN_COMPLETED:
        return []
    stopped: list[str] = []
    for trial in trials:
        if trial.state != "RUNNING" or not trial.measurements:
            continue
        step = trial.measurements[-1].step
        values = [m.value for m in trial.measurements]
        best_so_far = min(values) if tuning.goal == "MINIMIZE" else max(values)
        performances = [
            statistics.fmean(m.value for m in c.measurements[: _upto(c, step)]) for c in completed
        ]
        if better(tuning.goal, statistics.median(performances), best_so_far):
            stopped.append(trial.id)
    return stopped


def _upto(trial: Trial, step: int) -> int:
    """How many of a trial's measurements were at or before ``step`` (at least one)."""
    return max(1, sum(1 for m in trial.measurements if m.step <= step))
