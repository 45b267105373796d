"""How the local backend describes a study to its supervisor (``request.json``'s
``study``): the tuning spec as JSON, and the trial argv with a mark for each
trial's job dir. Kept apart from the study supervisor so that reading live
state never imports the search library."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.backends.compiled import OutputLayout, flag_text
from reconciler.stack.resources import Tuning
from reconciler.tuning.study import tuning_record

JOB_DIR_MARK = "\0job-dir\0"
"""Stands for a trial's job dir in the study's argv (no real argument holds NUL)."""


def trial_argv(study: Mapping[str, Any], job_dir: str, params: Mapping[str, Any]) -> list[str]:
    """A trial's arguments: the job's, with the trial's job dir, then each tuned
    parameter as ``--name=value`` after the fixed hyperparameters and args, as the
    cloud appended them."""
    argv = [arg.replace(JOB_DIR_MARK, job_dir) for arg in study["argv"]]
    return argv + [f"--{key}={flag_text(value)}" for key, value in params.items()]


def trial_dirs(study: Mapping[str, Any], trial: str) -> tuple[str, str]:
    """A trial's job dir and output dir (``OutputLayout``)."""
    layout = OutputLayout(study["output"])
    job_dir = layout.trial_dir(study["job_dir"], trial)
    return job_dir, layout.output_dir(job_dir)


def study_request(
    tuning: Tuning,
    argv: Sequence[str],
    *,
    parallel: int,
    seed: int,
    adopt: Sequence[str],
    job_dir: str,
    layout: OutputLayout,
    stack: str,
    trial: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "tuning": tuning_record(tuning),
        "parallel": parallel,
        "seed": seed,
        "adopt": list(adopt),
        "argv": list(argv),
        "job_dir": job_dir,
        "output": layout.output,
        "stack": stack,
        "trial": dict(trial),
    }
