"""How live states read in reasons: durations, a job's state and its failure (pure)."""

from __future__ import annotations

from reconciler.backends.base import JobState, LiveJob


def duration(seconds: float) -> str:
    """``45 s``, ``14 min``, ``2 h 5 min``: to the nearest unit shown (a forecast's range
    of 30 to 90 s reads "30 s to 2 min", not "to 1 min")."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = round(whole / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def state_phrase(job: LiveJob, now: float) -> str:
    """``running for 3 min``, ``queued for 12 s``."""
    if job.state is JobState.RUNNING and job.start_time:
        return f"running for {duration(now - job.start_time)}"
    if job.create_time:
        return f"{job.state.value.lower()} for {duration(now - job.create_time)}"
    return job.state.value.lower()


def failure(job: LiveJob) -> str:
    """Why a finished job did not succeed, in one line."""
    if job.state is JobState.CANCELLED:
        return f"{job.name} was cancelled (outside mlapply, or by an interrupted apply)"
    message = (job.error or "no error message").strip().splitlines()
    state = job.state.value.lower()
    return f"{job.name} {state}: {message[-1] if message else ''}".rstrip(": ")
