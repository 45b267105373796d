"""A TrainingJob's apply step: the only part of the kind that acts.

It cancels what the plan said to cancel, relabels, or submits the compiled job
(a study to the backend's ``Studies`` facet), then waits for it by name at the
backend's pace, reporting how it gets on as structured events
(``JobProgress``) that the command line renders.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from reconciler.backends import facets, recorded, registry
from reconciler.backends.recorded import Forecasted
from reconciler.kinds.base import ApplyContext, JobProgress, StepFailed
from reconciler.kinds.trainingjob.identity import compiled_job
from reconciler.lazy import LazyModule
from reconciler.plan.forecast import JobForecast

if TYPE_CHECKING:
    import reconciler.backends.base as records
    import reconciler.plan.model as plans
    from reconciler.backends.base import LiveJob
    from reconciler.plan.model import Change
    from reconciler.stack.resources import Stack, Tuning
else:
    plans = LazyModule("reconciler.plan.model")
    records = LazyModule("reconciler.backends.base")

PROGRESS_SECONDS = 2.0  # the command line decides what to show (live or plain)


def apply(change: Change, ctx: ApplyContext) -> str:
    jobs = registry.facet(ctx.backend, facets.Jobs)
    for target in change.live_targets:
        jobs.cancel_job(target.live_name)
    want = ctx.desired.get(change.address)
    if change.action is plans.Action.CANCEL or want is None:
        for target in change.live_targets:
            wait_for_job(ctx, change.address, target.live_name, quiet=True)
        return "cancelled " + ", ".join(t.live_name for t in change.live_targets)
    assert change.live_name is not None
    record = records.LiveJob(
        change.live_name,
        want.live_labels(ctx.stack.name),
        records.JobState.QUEUED,
        spec=recorded.with_forecast(want.record(), _forecast(change, ctx)),
    )
    if change.action is plans.Action.UPDATE:
        jobs.relabel_job(record)
        return "labels updated"
    job = compiled_job(want)
    if change.action in (plans.Action.CREATE, plans.Action.REPLACE):
        submission = records.JobSubmission(record, job)
        if job.tuning is not None:
            registry.facet(ctx.backend, facets.Studies).submit_study(submission)
        else:
            jobs.submit_job(submission)
        if not ctx.wait_for_jobs:
            return f"submitted {change.live_name}"
    done = wait_for_job(ctx, change.address, change.live_name, tuning=job.tuning)
    if done.state is not records.JobState.SUCCEEDED:
        raise StepFailed(
            f"{change.live_name} {done.state.value.lower()}: {done.error or ''}".strip(": ")
        )
    return f"{change.live_name} succeeded"


def _forecast(change: Change, ctx: ApplyContext) -> Forecasted | None:
    """What the plan forecast for the job it submits; a relabelled job keeps its own."""
    found = change.forecast
    if change.action is plans.Action.UPDATE:
        live = ctx.live.job(change.live_name)
        return recorded.forecasted(live.spec) if live is not None else None
    if not isinstance(found, JobForecast) or found.seconds is None:
        return None
    low, high = found.low or found.seconds, found.high or found.seconds
    return recorded.Forecasted(found.seconds, low, high, found.basis_text, found.cost)


def wait_for_job(
    ctx: ApplyContext, where: str, name: str, *, quiet: bool = False, tuning: Tuning | None = None
) -> LiveJob:
    """Poll a job by name at the backend's pace until it has finished, reporting its
    progress (where the backend measures use and keeps logs) every few seconds."""
    jobs = registry.facet(ctx.backend, facets.Jobs)
    usage = ctx.backend if isinstance(ctx.backend, facets.Usage) else None
    logs = ctx.backend if isinstance(ctx.backend, facets.Logs) else None
    started = time.monotonic()
    last_progress = started
    while True:
        job = jobs.get_job(ctx.stack.name, name)
        if job is None:
            raise StepFailed(f"{name} is not a job of this stack")
        if job.state.finished:
            return job
        if ctx.stop.is_set():
            raise StepFailed(f"{name} is still {job.state.value.lower()}; apply was interrupted")
        now = time.monotonic()
        if not quiet and now - last_progress >= PROGRESS_SECONDS:
            last_progress = now
            figures = usage.job_usage([name]).get(name, {}) if usage else {}
            tail = logs.log_tail(name) if logs else ""
            ctx.progress(where, JobProgress(job, figures, now - started, tail, tuning))
        time.sleep(ctx.backend.poll_seconds)


def next_step(change: Change, stack: Stack, paths: str) -> str | None:
    return None  # a trained job's next step is its version's
