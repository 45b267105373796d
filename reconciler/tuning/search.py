"""The next trial's parameters, from a study's trials so far.

GRID_SEARCH walks the grid in order, as Vertex AI's grid search does (every
combination of the INTEGER, CATEGORICAL and DISCRETE values, each once).
RANDOM_SEARCH and the cloud's default Bayesian optimisation come from Optuna:
its RandomSampler, and its TPESampler (Tree-structured Parzen Estimator,
Bergstra et al. 2011) standing in for Vertex AI's Gaussian-process Vizier
designer. Optuna was chosen over Google's open-source Vizier (google-vizier
0.1.24): Vizier's default designer needs JAX and its service gRPC, a few
hundred MB for one suggestion per trial; Optuna is pure Python on numpy and
imports in 0.3 s. Optuna keeps no state here: each call rebuilds an in-memory
study from the trials the store holds, so a study killed at any point goes on
from what was recorded.

Scale types (Vertex ParameterSpec.ScaleType, aiplatform v1 discovery document,
checked 2026-12-02): UNIT_LINEAR_SCALE is uniform, UNIT_LOG_SCALE uniform in
log space; UNIT_REVERSE_LOG_SCALE, dense near the maximum, is sampled as
``min + max - x`` for a log-uniform x.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial

from reconciler.stack.resources import Scalar, Tuning, TuningParameter
from reconciler.tuning import grid

optuna.logging.set_verbosity(optuna.logging.WARNING)

Params = Mapping[str, Scalar]


class Exhausted(Exception):
    """A grid has no combination left to try."""


def next_trials(
    tuning: Tuning,
    room: int,
    reruns: Sequence[Params],
    done: Sequence[tuple[Params, float | None, str]],
    seed: int,
) -> tuple[list[dict[str, Scalar]], bool]:
    """The parameters of up to ``room`` new trials of a study (its supervisor's, on
    every backend): the lost trials' (``reruns``) again first, then the search's; and
    whether the search has nothing left (a grid walked whole)."""
    chosen: list[dict[str, Scalar]] = []
    history = list(done)
    while len(chosen) < room:
        if len(chosen) < len(reruns):
            params = dict(reruns[len(chosen)])
        else:
            try:
                params = suggest(tuning, history, seed)
            except Exhausted:
                return chosen, True
        history.append((params, None, "RUNNING"))
        chosen.append(params)
    return chosen, False


def suggest(
    tuning: Tuning, done: Sequence[tuple[Params, float | None, str]], seed: int
) -> dict[str, Scalar]:
    """The parameters of the next trial. ``done``: each trial so far as (params, its
    metric or None, state: SUCCEEDED, FAILED, STOPPED or RUNNING)."""
    if tuning.algorithm == "GRID_SEARCH":
        tried = {tuple(sorted(params.items())) for params, _, _ in done}
        for combo in grid.combinations(tuning.params):
            if tuple(sorted(combo.items())) not in tried:
                return combo
        raise Exhausted(f"all {len(tried)} combinations of the grid were tried")
    spaces = {p.name: _distribution(p) for p in tuning.params}
    # A fresh seed per trial: the same history always gives the same suggestion.
    trial_seed = seed + len(done)
    sampler: optuna.samplers.BaseSampler = (
        optuna.samplers.RandomSampler(seed=trial_seed)
        if tuning.algorithm == "RANDOM_SEARCH"
        else optuna.samplers.TPESampler(seed=trial_seed, n_startup_trials=3)
    )
    direction = (
        optuna.study.StudyDirection.MINIMIZE
        if tuning.goal == "MINIMIZE"
        else optuna.study.StudyDirection.MAXIMIZE
    )
    study = optuna.create_study(direction=direction, sampler=sampler)
    for params, metric, state in done:
        internal = {n: _to_internal(tuning, n, v) for n, v in params.items() if n in spaces}
        if len(internal) != len(spaces):
            continue  # a trial of another search space: nothing to learn from
        if state in ("SUCCEEDED", "STOPPED") and metric is not None and math.isfinite(metric):
            study.add_trial(create_trial(params=internal, distributions=spaces, value=metric))
        elif state == "RUNNING":
            study.add_trial(
                create_trial(params=internal, distributions=spaces, state=TrialState.RUNNING)
            )
        else:
            study.add_trial(
                create_trial(params=internal, distributions=spaces, state=TrialState.FAIL)
            )
    asked = study.ask(spaces)
    return {p.name: _from_internal(p, asked.params[p.name]) for p in tuning.params}


def _distribution(param: TuningParameter) -> BaseDistribution:
    if param.type in ("CATEGORICAL", "DISCRETE"):
        return CategoricalDistribution(list(param.values))
    assert param.min is not None and param.max is not None
    log = param.scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
    if param.type == "INTEGER":
        return IntDistribution(int(param.min), int(param.max), log=log)
    return FloatDistribution(float(param.min), float(param.max), log=log)


def _reversed(param: TuningParameter) -> bool:
    return param.scale == "UNIT_REVERSE_LOG_SCALE" and param.type == "DOUBLE"


def _from_internal(param: TuningParameter, value: Any) -> Scalar:
    if _reversed(param):
        assert param.min is not None and param.max is not None
        return float(param.min) + float(param.max) - float(value)
    return value  # type: ignore[no-any-return]


def _to_internal(tuning: Tuning, name: str, value: Any) -> Any:
    param = next(p for p in tuning.params if p.name == name)
    return _from_internal(param, value)  # the reflection is its own inverse
