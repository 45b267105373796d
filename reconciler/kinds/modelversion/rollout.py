"""A rollout's judgement (pure): where a version stands in its steps, and whether
what it served lets it move on, makes it wait, or sends it back.

A step moves on once it has held for its time with at least ``minRequests``
requests to the version and every gate passing. Once a step has that many
requests, a gate that fails sends the version back at once (as Argo Rollouts'
and Flagger's analyses fail a canary on the first failed check, not at the end
of the step). Fewer requests prove nothing either way: the step waits.
Both the plan and the apply step judge with this, so the plan says what apply
will do with the figures it read.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from reconciler.backends.recorded import RolloutState
from reconciler.backends.served import Served
from reconciler.plan.phrases import duration
from reconciler.stack.resources import Rollout


class Move(str, Enum):
    HOLD = "hold"
    ADVANCE = "advance"
    ROLL_BACK = "roll back"


class Verdict(NamedTuple):
    move: Move
    where: str
    """``traffic 10 % -> 50 %: step 1 of 3``."""
    figures: str
    """``held 12 min of 10 min; errors 0.2 % < 1 %, p99 41 ms < 200 ms over 5,130
    requests``."""
    failed: str | None = None
    """The gates that failed, for the record of a rollback."""

    @property
    def text(self) -> str:
        return f"{self.where}; {self.figures}"


def percent(fraction: float) -> str:
    return f"{fraction * 100:.3g} %"


def position(rollout: Rollout, step: int) -> str:
    """``traffic 10 % -> 50 %: step 1 of 3`` (the share now, and the next step's)."""
    steps = rollout.steps
    index = min(step, len(steps) - 1)
    now = steps[index].traffic
    count = f"step {index + 1} of {len(steps)}"
    if index + 1 < len(steps):
        return f"traffic {now} % -> {steps[index + 1].traffic} %: {count}"
    return f"traffic {now} %: {count}, the last"


def judge(rollout: Rollout, state: RolloutState, served: Served, now: float) -> Verdict:
    """What the version's current step's figures say (``served``: since the step began)."""
    step = rollout.steps[min(state.step, len(rollout.steps) - 1)]
    gates = rollout.gates
    held = max(0.0, now - state.since)
    checks: list[tuple[bool, str]] = []
    if gates.max_error_rate is not None:
        rate = served.error_rate
        ok = rate <= gates.max_error_rate
        checks.append(
            (ok, f"errors {percent(rate)} {'<=' if ok else '>'} {percent(gates.max_error_rate)}")
        )
    for name, limit in gates.max_latency_ms:
        value = served.percentile(name)
        if value is None:
            checks.append((True, f"{name} not measured yet"))
            continue
        ok = value <= limit
        checks.append((ok, f"{name} {value:.0f} ms {'<=' if ok else '>'} {limit:g} ms"))
    counted = f"{served.requests:,} requests"
    if checks:
        counted = f"{', '.join(text for _, text in checks)} over {counted}"
    timing = f"held {duration(held)} of {duration(step.hold)}"
    where = position(rollout, state.step)
    if served.requests < gates.min_requests:
        waits = f"{served.requests:,} of {gates.min_requests:,} requests the gates need"
        return Verdict(Move.HOLD, where, f"{timing}; {waits}")
    failed = [text for ok, text in checks if not ok]
    if failed:
        why = f"{', '.join(failed)} over {served.requests:,} requests"
        return Verdict(Move.ROLL_BACK, where, f"{timing}; {counted}", why)
    move = Move.ADVANCE if held >= step.hold else Move.HOLD
    return Verdict(move, where, f"{timing}; {counted}")


def describe(rollout: Rollout) -> str:
    """The whole rollout in a line, for a version about to start it."""
    steps = " -> ".join(f"{s.traffic} % for {duration(s.hold)}" for s in rollout.steps)
    gates = rollout.gates
    limits = []
    if gates.max_error_rate is not None:
        limits.append(f"errors <= {percent(gates.max_error_rate)}")
    limits.extend(f"{name} <= {limit:g} ms" for name, limit in gates.max_latency_ms)
    judged = (
        f"each step gated on {' and '.join(limits)} over at least {gates.min_requests:,} requests"
        if limits
        else f"each step needs {gates.min_requests:,} requests"
    )
    return f"rolls out: {steps}; {judged}"
