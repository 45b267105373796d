"""A TrainingJob's forecast: how long it will run and what it will cost (pure).

History is the stack's own finished runs (the live snapshot the plan read): a
succeeded run's running time (start to end), its machines, its
hyperparameters, the size of its training data and, for a study, its trials
and how many ran at once. The basis is, strongest first: past runs of the same
TrainingJob on the same machines; past runs of the same Trainer on the same
machines; past runs of the same TrainingJob on other machines (weak: said);
else none ("no history: first run", and the price per hour alone).

What time grows with is decided from the job's hyperparameters by name: the
first of ``STEPS`` it sets is its training steps (time grows with the steps,
not with the data: a step reads one batch); else the first of ``EPOCHS``
(time grows with epochs times the training data's bytes); else the data's
bytes. ``plan.estimate`` fits past runs against that measure. A study runs
its trials in rounds (as many at once as it may and the backend runs): a round
takes what a round of the past studies took, overhead and contention included,
else what a single run took (weak: a study's own overhead is not known yet).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from reconciler.kinds.indexes import live_jobs
from reconciler.kinds.trainingjob.identity import compiled_job
from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    import reconciler.backends.base as records
    import reconciler.plan.estimate as estimates
    import reconciler.plan.forecast as forecasts
    import reconciler.plan.model as plans
    from reconciler.backends.base import LiveJob
    from reconciler.backends.compiled import CompiledJob
    from reconciler.plan.costing import ForecastView
    from reconciler.plan.estimate import Estimate, Point
    from reconciler.plan.forecast import JobForecast
    from reconciler.plan.model import Change
else:
    estimates = LazyModule("reconciler.plan.estimate")
    forecasts = LazyModule("reconciler.plan.forecast")
    plans = LazyModule("reconciler.plan.model")
    records = LazyModule("reconciler.backends.base")

STEPS = ("train_steps", "max_steps", "num_train_steps", "training_steps", "num_steps", "steps")
EPOCHS = ("num_epochs", "train_epochs", "epochs", "n_epochs")


class Measure(NamedTuple):
    """What a job's time grows with: a hyperparameter (steps or epochs), the data, both."""

    name: str | None
    per_byte: bool

    def of(self, hyperparameters: Mapping[str, Any], data: float | None) -> float | None:
        value: float | None = 1.0
        if self.name is not None:
            found = hyperparameters.get(self.name)
            number = isinstance(found, int | float) and not isinstance(found, bool)
            value = float(found) if number and found is not None else None
        if value is None or not self.per_byte:
            return value
        return value * data if data else None

    def words(self) -> str:
        if self.name is None:
            return "data"
        return f"{self.name} x data" if self.per_byte else self.name


def measure_for(hyperparameters: Mapping[str, Any], data: float | None) -> Measure:
    step = next((n for n in STEPS if n in hyperparameters), None)
    if step is not None:
        return Measure(step, False)
    epoch = next((n for n in EPOCHS if n in hyperparameters), None)
    return Measure(epoch, data is not None)


class PastRun(NamedTuple):
    name: str
    manifest: str
    trainer: str | None
    machines: str
    hyperparameters: Mapping[str, Any]
    data: float | None
    seconds: float
    study: tuple[int, int] | None
    """A study's (maxTrials, maxParallelTrials); None: a single run."""
    stopped: int
    """A study's trials stopped early."""

    def rounds(self, slots: int) -> int:
        """How many rounds of trials the study ran, ``slots`` at a time at most."""
        assert self.study is not None
        trials, parallel = self.study
        return max(math.ceil(trials / max(min(parallel, slots), 1)), 1)


def forecast(change: Change, view: ForecastView) -> JobForecast | None:
    if change.action not in (plans.Action.CREATE, plans.Action.REPLACE, plans.Action.WAIT):
        return None
    want = view.desired.resources.get(change.address)
    if want is None:
        return None
    job = compiled_job(want)
    # Jobs of a tier share its compiled pools: their machines key is made once.
    key = f"forecast.machines.{job.scale_tier}.{id(job.pools)}"
    machines = view.memo(key, lambda: _machines(want.essence))
    hourly: float | None
    unpriced: str | None
    if view.prices is None:
        hourly, unpriced = None, view.unpriced()
    else:
        hourly, unpriced = view.prices.training(job.pools, job.region)
    slots, rounds = _rounds(job, view) if job.tuning is not None else (None, 1)
    if job.tuning is not None and hourly is not None:
        hourly = hourly * job.tuning.max_trials / rounds  # every trial pays for its machines
    running = _ran(view, change.live_name) if change.action is plans.Action.WAIT else None
    return _estimate(job, machines, view, Carried(hourly, unpriced, running), slots, rounds)


def standing(view: ForecastView) -> float | None:
    return None  # a job costs while it runs; nothing recurs


def _machines(essence: Mapping[str, Any]) -> str:
    return json.dumps([essence.get("scaleTier"), essence.get("machines")], sort_keys=True)


class Carried(NamedTuple):
    """What a forecast carries besides the time: its price, and a running job's time."""

    hourly: float | None
    unpriced: str | None
    running: float | None


def _estimate(
    job: CompiledJob,
    machines: str,
    view: ForecastView,
    carried: Carried,
    slots: int | None,
    rounds: int,
) -> JobForecast:
    history: History = view.memo("forecast.history", lambda: _history(view))
    train = job.data.get("train")  # jobs of a dataset share its fingerprint: sized once
    data = view.memo(f"forecast.bytes.{id(train)}", lambda: _size(getattr(train, "files", None)))
    wanted = dict(job.hyperparameters)
    if job.tuning is not None:
        for param in job.tuning.params:  # a tuned size: the middle of its range
            if param.name not in wanted and param.min is not None and param.max is not None:
                wanted[param.name] = (param.min + param.max) / 2
    measure = measure_for(wanted, data)
    work = measure.of(wanted, data)
    tier = job.scale_tier
    choices = (
        (
            forecasts.Basis.MANIFEST,
            history.of_job.get((job.name, machines), []),
            f"{job.name} on {tier}",
        ),
        (
            forecasts.Basis.TRAINER,
            history.of_trainer.get((job.trainer, machines), []),
            f"trainer {job.trainer} on {tier}",
        ),
        (
            forecasts.Basis.OTHER_MACHINES,
            history.of_job_anywhere.get(job.name, []),
            f"{job.name} on other machines",
        ),
    )
    for basis, runs, who in choices:
        points, stopped, studies = _points(runs, measure, slots)
        found = estimates.estimate(points, work) if work is not None else None
        if found is None:
            continue
        text = _basis_text(found, who, points, work, measure, studies)
        weak = found.weak or basis is forecasts.Basis.OTHER_MACHINES
        if slots is not None:
            text += _study_text(job, slots, stopped, studies)
            weak = weak or not studies
        seconds, low, high = (
            found.seconds * rounds,
            found.low * rounds,
            found.high * rounds,
        )
        return forecasts.JobForecast(basis, text, seconds, low, high, weak, **carried._asdict())
    return forecasts.JobForecast(forecasts.Basis.NONE, "no history: first run", **carried._asdict())


def _rounds(job: CompiledJob, view: ForecastView) -> tuple[int, int]:
    """A study's trials at once (its limit, as far as the backend runs them) and how
    many rounds its trials take."""
    assert job.tuning is not None
    slots = max(min(job.tuning.max_parallel_trials, view.profile.trial_slots(job.pools)), 1)
    return slots, math.ceil(job.tuning.max_trials / slots)


def _study_text(job: CompiledJob, slots: int, stopped: int, studies: bool) -> str:
    assert job.tuning is not None
    rounds = math.ceil(job.tuning.max_trials / slots)
    text = f"; {job.tuning.max_trials} trials, {slots} at a time: {rounds} round"
    text += "s" if rounds != 1 else ""
    if not studies:
        text += ", each as long as a run (a study's own overhead is not known yet)"
    if job.tuning.early_stopping:
        text += (
            f" (early stopping: {stopped} past trial{'s' if stopped != 1 else ''} stopped "
            "early, at the time they ran)"
            if stopped
            else " (early stopping may end trials sooner: not counted)"
        )
    return text


def _basis_text(
    found: Estimate,
    who: str,
    points: list[Point],
    work: float | None,
    measure: Measure,
    studies: bool,
) -> str:
    unit = ("study", "studies") if studies else ("run", "runs")
    text = f"{found.runs} past {unit[found.runs != 1]} of {who}"
    middle = statistics.median(p.work for p in points)
    if work is not None and middle > 0 and abs(work / middle - 1) > 0.05:
        ratio = work / middle
        text += (
            f", {measure.words()} {ratio:.1f}x larger"
            if ratio > 1
            else f", {measure.words()} {1 / ratio:.1f}x smaller"
        )
    if found.extrapolated:
        text += ", beyond the sizes seen"
    return text


def _points(
    runs: list[PastRun], measure: Measure, slots: int | None
) -> tuple[list[Point], int, bool]:
    """The runs as points, how many of their trials stopped early, and whether the points
    are rounds of past studies. A study is forecast by the rounds of past studies (each
    round's time, overhead and contention included), else by single runs (a round as
    long as a run); a single run by single runs, else by the rounds of past studies."""
    single: list[Point] = []
    rounds: list[Point] = []
    stopped = 0
    for run in runs:
        size = measure.of(run.hyperparameters, run.data)
        if size is None:
            continue
        if run.study is None:
            single.append(estimates.Point(size, run.seconds))
            continue
        rounds.append(estimates.Point(size, run.seconds / run.rounds(slots or 1)))
        stopped += run.stopped
    if slots is not None and rounds:
        return rounds, stopped, True
    return (single, 0, False) if single else (rounds, stopped, bool(rounds))


def _ran(view: ForecastView, name: str | None) -> float | None:
    """How long a running job has run by the plan's clock."""
    run = view.live.job(name)
    if run is None or run.start_time is None:
        return None
    return max(view.options.now - run.start_time, 0.0)


def _size(files: Any) -> float | None:
    if not isinstance(files, Mapping) or not files:
        return None
    total = 0
    for entry in files.values():
        if isinstance(entry, list | tuple) and entry and isinstance(entry[0], int):
            total += entry[0]
    return float(total) or None


class History(NamedTuple):
    """The stack's finished runs, indexed once per plan for each basis."""

    of_job: dict[tuple[str, str], list[PastRun]]
    """By (TrainingJob, machines)."""
    of_trainer: dict[tuple[str | None, str], list[PastRun]]
    """By (Trainer, machines)."""
    of_job_anywhere: dict[str, list[PastRun]]


def _history(view: ForecastView) -> History:
    found = History({}, {}, {})
    for manifest, runs in live_jobs(view).items():
        for run in runs:
            past = _past(manifest, run)
            if past is None:
                continue
            found.of_job.setdefault((manifest, past.machines), []).append(past)
            found.of_trainer.setdefault((past.trainer, past.machines), []).append(past)
            found.of_job_anywhere.setdefault(manifest, []).append(past)
    return found


def _past(manifest: str, run: LiveJob) -> PastRun | None:
    if run.state is not records.JobState.SUCCEEDED or run.lost:
        return None
    if run.start_time is None or run.end_time is None or run.end_time <= run.start_time:
        return None
    spec = run.spec or {}
    essence, details = spec.get("essence"), spec.get("details") or {}
    if not isinstance(essence, Mapping) or not isinstance(details, Mapping):
        return None  # a record of another shape: no history to learn from
    trainer = details.get("trainer")
    tuning = essence.get("hyperparameterTuning")
    study = None
    if isinstance(tuning, Mapping):
        trials, parallel = tuning.get("maxTrials"), tuning.get("maxParallelTrials")
        if isinstance(trials, int) and isinstance(parallel, int):
            study = (trials, parallel)
    hyperparameters = essence.get("hyperparameters")
    return PastRun(
        run.name,
        manifest,
        trainer if isinstance(trainer, str) else None,
        _machines(essence),
        hyperparameters if isinstance(hyperparameters, Mapping) else {},
        _size((details.get("data_files") or {}).get("train")),
        run.end_time - run.start_time,
        study,
        sum(t.state == "STOPPED" for t in run.trials),
    )
