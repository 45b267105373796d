"""A TrainingJob's hyperparameterTuning spec: built and checked from its document,
what identity hashes of it, and how a plan describes it. (The spec's record is
``stack.resources.Tuning``.)"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from reconciler.stack.resources import Scalar, Tuning, TuningParameter
from reconciler.tuning import grid

if TYPE_CHECKING:
    from reconciler.manifests import LoadedDocument
    from reconciler.stack.build import BuildContext


class ParameterEssence(TypedDict):
    name: str
    type: str
    min: float | None
    max: float | None
    values: list[Scalar]
    scale: str | None


class TuningEssence(TypedDict):
    goal: str
    metric: str
    maxTrials: int
    maxParallelTrials: int
    maxFailedTrials: int
    algorithm: str
    enableEarlyStopping: bool
    params: list[ParameterEssence]


def essence(tuning: Tuning | None) -> TuningEssence | None:
    """The spec as identity hashes it (the manifests' names)."""
    if tuning is None:
        return None
    return {
        "goal": tuning.goal,
        "metric": tuning.metric,
        "maxTrials": tuning.max_trials,
        "maxParallelTrials": tuning.max_parallel_trials,
        "maxFailedTrials": tuning.max_failed_trials,
        "algorithm": tuning.algorithm,
        "enableEarlyStopping": tuning.early_stopping,
        "params": [
            {
                "name": p.name,
                "type": p.type,
                "min": p.min,
                "max": p.max,
                "values": list(p.values),
                "scale": p.scale,
            }
            for p in tuning.params
        ],
    }


_SCALE_PHRASES = {"UNIT_LOG_SCALE": "log ", "UNIT_REVERSE_LOG_SCALE": "reverse log "}


def phrase(tuning: Tuning, searches: Mapping[str, str], slots: int) -> str:
    """``tuning job: 12 trials, 2 in parallel, maximize auc over learning_rate (log
    0.0001..0.1), hidden_units {64,128}; random search``. ``searches``: how the
    backend names its algorithms and early stopping; ``slots``: how many trials it
    runs at once (a larger maxParallelTrials is lowered to it)."""
    params = []
    for param in tuning.params:
        if param.type in ("CATEGORICAL", "DISCRETE"):
            params.append(f"{param.name} {{{','.join(str(v) for v in param.values)}}}")
        else:
            scale = _SCALE_PHRASES.get(param.scale or "", "")
            low, high = (f"{v:g}" if v is not None else "?" for v in (param.min, param.max))
            params.append(f"{param.name} ({scale}{low}..{high})")
    parallel = f"{tuning.max_parallel_trials} in parallel"
    if slots < tuning.max_parallel_trials:
        parallel = (
            f"{slots} in parallel (maxParallelTrials {tuning.max_parallel_trials} lowered: "
            f"this machine runs {slots} at once)"
        )
    text = (
        f"tuning job: {tuning.max_trials} trials, {parallel}, "
        f"{tuning.goal.lower()} {tuning.metric} over {', '.join(params)}; "
        + searches.get(tuning.algorithm, tuning.algorithm.lower())
    )
    if tuning.max_failed_trials:
        text += f", up to {tuning.max_failed_trials} failed trials"
    if tuning.early_stopping:
        text += ", " + searches.get("EARLY_STOPPING", "early stopping")
    return text


def build(
    ctx: BuildContext, loaded: LoadedDocument, spec: Mapping[str, Any], fixed: Mapping[str, Any]
) -> Tuning:
    """``spec.hyperparameterTuning`` as its record, reporting (on ``ctx``) what the
    schema cannot check and the APIs would refuse."""
    doc = loaded.doc
    base = ("spec", "hyperparameterTuning")
    algorithm = spec.get("algorithm", "BAYESIAN")
    params: list[TuningParameter] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(spec["params"]):
        path = (*base, "params", i)
        name, kind = raw["name"], raw["type"]
        if name in seen:
            ctx.report(
                f'tuning parameter "{name}" is declared twice (first at params[{seen[name]}])',
                doc.at((*path, "name")),
                "each tuned parameter appears once",
            )
        seen.setdefault(name, i)
        if name in fixed:
            ctx.report(
                f'"{name}" is both a fixed hyperparameter and a tuned parameter',
                doc.at((*path, "name")),
                f"remove {name} from spec.hyperparameters, or stop tuning it",
            )
        param = TuningParameter(
            name=name,
            type=kind,
            min=raw.get("min"),
            max=raw.get("max"),
            values=tuple(raw.get("values", ())),
            scale=raw.get("scale"),
        )
        _check_parameter(ctx, doc, path, param, algorithm)
        params.append(param)
    trials = spec.get("maxTrials", 1)
    parallel = spec.get("maxParallelTrials", 1)
    combinations = grid.size(params) if algorithm == "GRID_SEARCH" and params else 0
    if combinations > trials:
        ctx.warn(
            f"GRID_SEARCH: the grid has {combinations:,} combinations; maxTrials {trials} "
            f"visits the first {trials} in declaration order",
            doc.at((*base, "maxTrials")),
            f"raise maxTrials to {combinations:,} to visit them all, or narrow the parameters",
        )
    if parallel > trials:
        ctx.warn(
            f"maxParallelTrials ({parallel}) is more than maxTrials ({trials})",
            doc.at((*base, "maxParallelTrials")),
            "at most maxTrials trials ever run at once",
        )
    return Tuning(
        metric=spec["metric"],
        params=tuple(params),
        goal=spec.get("goal", "MAXIMIZE"),
        max_trials=trials,
        max_parallel_trials=parallel,
        max_failed_trials=spec.get("maxFailedTrials", 0),
        algorithm=algorithm,
        early_stopping=spec.get("enableEarlyStopping", False),
    )


def _check_parameter(
    ctx: BuildContext, doc: Any, path: tuple[str | int, ...], param: TuningParameter, algorithm: str
) -> None:
    label = f'tuning parameter "{param.name}"'
    if algorithm == "GRID_SEARCH" and param.type == "DOUBLE":
        ctx.report(
            f"{label}: GRID_SEARCH cannot search a DOUBLE range",
            doc.at((*path, "type")),
            "use INTEGER, CATEGORICAL or DISCRETE values, or another algorithm",
        )
    if param.min is not None and param.max is not None:
        if param.min > param.max:
            ctx.report(
                f"{label}: min {param.min} is more than max {param.max}",
                doc.at((*path, "min")),
                "swap them",
            )
        if param.type == "INTEGER" and not (
            float(param.min).is_integer() and float(param.max).is_integer()
        ):
            ctx.report(f"{label}: an INTEGER range needs whole min and max", doc.at((*path, "min")))
    if param.type == "DISCRETE" and param.values:
        numbers = [float(v) for v in param.values]
        if any(b <= a for a, b in itertools.pairwise(numbers)):
            ctx.report(
                f"{label}: DISCRETE values must be strictly increasing",
                doc.at((*path, "values")),
                "sort the values and remove repeats",
            )
    if param.scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE"):
        low = param.min if param.type != "DISCRETE" else min(map(float, param.values or [0]))
        if low is not None and low <= 0:
            ctx.report(
                f"{label}: {param.scale} needs a range above 0 (lowest is {low})",
                doc.at((*path, "scale")),
                "use UNIT_LINEAR_SCALE, or a minimum above 0",
            )
    if param.type == "CATEGORICAL" and len(set(param.values)) != len(param.values):
        ctx.report(f"{label}: CATEGORICAL values repeat", doc.at((*path, "values")))
