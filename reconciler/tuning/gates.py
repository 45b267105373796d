"""Metric gates: whether a version may be deployed, from what its job reported.

A gate names a metric and a goal, with a threshold, "must beat the default"
or both. A metric at the threshold passes it; beating the default means
strictly better than the figure the model's default version was deployed
with (the same metric, recorded at its deploy), and passes when there is no
default or it was deployed without that figure (nothing to compare with, said
so). The texts are the plan's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from reconciler.stack.resources import Gate
from reconciler.tuning.study import better


class Judgement(NamedTuple):
    holds: bool
    text: str
    value: float | None = None


class Default(NamedTuple):
    """The model's default version, and the gate's metric it was deployed with."""

    name: str
    value: float | None


def _figure(value: float) -> str:
    return f"{value:.4g}"


def describe(gate: Gate) -> str:
    """``rmse <= 3.0 and better than the default's`` for the plan."""
    parts: list[str] = []
    if gate.threshold is not None:
        sign = "<=" if gate.goal == "MINIMIZE" else ">="
        parts.append(f"{gate.metric} {sign} {_figure(gate.threshold)}")
    if gate.must_beat_default:
        word = "lower" if gate.goal == "MINIMIZE" else "higher"
        parts.append(f"{gate.metric} {word} than the default version's")
    return " and ".join(parts)


def judge(
    gate: Gate, reported: Mapping[str, float], source: str, default: Default | None
) -> Judgement:
    """Whether ``gate`` holds on the figures ``source`` (a job, a trial) reported."""
    value = reported.get(gate.metric)
    if value is None:
        said = ", ".join(sorted(reported)) or "nothing"
        return Judgement(
            False,
            f"held: {source} reported no {gate.metric} (it reported {said}); report it "
            "with cloudml-hypertune or in metrics.json beside the export",
        )
    shown = f"{gate.metric} {_figure(value)}"
    by = f" (reported by {source})"
    passed: list[str] = []
    if gate.threshold is not None:
        if better(gate.goal, gate.threshold, value):
            sign = ">" if gate.goal == "MINIMIZE" else "<"
            return Judgement(
                False, f"held: {shown} {sign} threshold {_figure(gate.threshold)}{by}", value
            )
        sign = "<=" if gate.goal == "MINIMIZE" else ">="
        passed.append(f"{sign} threshold {_figure(gate.threshold)}")
    if gate.must_beat_default:
        if default is None:
            passed.append("no default version to beat")
        elif default.value is None:
            passed.append(f"the default {default.name} was deployed without a {gate.metric}")
        elif not better(gate.goal, value, default.value):
            return Judgement(
                False,
                f"held: {shown} does not beat the default's {_figure(default.value)} "
                f"({default.name}){by}",
                value,
            )
        else:
            passed.append(f"beats the default's {_figure(default.value)} ({default.name})")
    return Judgement(True, f"gate holds: {shown}, " + ", ".join(passed) + by, value)
