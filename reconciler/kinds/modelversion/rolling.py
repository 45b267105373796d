"""A ModelVersion's rollout, carried out: the traffic moved step by step through
the backend's ``Traffic`` facet, as far as the gates allow within
``--rollout-wait``, and sent back when a gate fails.

Where it stands is kept in the version's record (``recorded.RolloutState``),
written before the traffic moves forward, so an apply stopped at any point is
carried on by the next: the split of the recorded step is set again first. A
rollback moves the traffic first and records it after: a crash between the two
leaves the version rolling at its step, whose figures fail the gate again.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from reconciler.backends import facets, registry
from reconciler.backends.recorded import (
    DONE,
    ROLLED_BACK,
    ROLLING,
    RolloutState,
    rollout_of,
    with_rollout,
)
from reconciler.backends.served import Served
from reconciler.kinds.base import ApplyContext, StepHeld
from reconciler.kinds.modelversion.rollout import Move, judge

if TYPE_CHECKING:
    from reconciler.backends.base import LiveVersion
    from reconciler.plan.model import Change
    from reconciler.stack.resources import Rollout


def rollout_step(change: Change, ctx: ApplyContext, record: LiveVersion) -> str | None:
    """Move the version's rollout on; what it did, or None when the version takes
    the traffic at once (no rollout, no default to take it from, or done)."""
    declared = ctx.stack.versions[change.name].rollout
    live = next(
        (v for v in ctx.live.versions if v.model == record.model and v.name == record.name),
        None,
    )
    state = rollout_of(live.spec) if live is not None else None
    if state is not None and state.state == DONE:
        return None
    if state is not None and state.state == ROLLED_BACK:
        raise StepHeld(
            f"{record.name} was rolled back: {state.why or 'by hand'}",
            f"a new version rolls out afresh; or mlapply rollout retry {change.name}",
        )
    serving = registry.facet(ctx.backend, facets.Serving)
    if state is None:
        model = next((m for m in ctx.live.models if m.name == record.model), None)
        previous = model.default_version if model is not None else None
        at_once = declared is None or not _wants_default(ctx, change)
        if at_once or previous in (None, record.name):
            return None
        state = RolloutState(ROLLING, 0, time.time(), previous, by="apply")
        _record(serving, record, state)
    if declared is None:  # its manifest no longer has a rollout: it takes the traffic now
        return _finish(change, ctx, record, state)
    traffic = registry.facet(ctx.backend, facets.Traffic)
    traffic.set_traffic(record.model, split(declared, state, record.name))
    deadline = time.monotonic() + ctx.rollout_wait
    while True:
        now = time.time()
        found = traffic.served(ctx.stack.name, record.model, [record.name], state.since)
        verdict = judge(declared, state, found.get(record.name, Served()), now)
        if verdict.move is Move.ROLL_BACK:
            if state.previous:
                traffic.set_traffic(record.model, {state.previous: 100})
            why = verdict.failed or "a gate failed"
            _record(
                serving,
                record,
                state._replace(state=ROLLED_BACK, why=why, at=now, by="apply (a gate failed)"),
            )
            raise StepHeld(
                f"rolled back at {verdict.where}: {why}; {state.previous} has all the traffic "
                "again, and the next apply keeps it so",
                f"fix the model and train a new version, or mlapply rollout retry {change.name}",
            )
        if verdict.move is Move.ADVANCE:
            if state.step + 1 >= len(declared.steps):
                return _finish(change, ctx, record, state)
            state = state._replace(step=state.step + 1, since=now)
            _record(serving, record, state)
            traffic.set_traffic(record.model, split(declared, state, record.name))
            continue
        left = deadline - time.monotonic()
        if left <= 0 or ctx.stop.is_set():
            return (
                f"{record.name} rolling out, {verdict.text}; a later apply carries it on "
                "(or --rollout-wait)"
            )
        ctx.stop.wait(min(left, ctx.backend.poll_seconds))


def split(declared: Rollout, state: RolloutState, name: str) -> dict[str, int]:
    """The traffic of the state's step: the version's share, the rest to the previous."""
    share = declared.steps[min(state.step, len(declared.steps) - 1)].traffic
    found = {name: share}
    if share < 100 and state.previous:
        found[state.previous] = 100 - share
    return found


def _wants_default(ctx: ApplyContext, change: Change) -> bool:
    want = ctx.desired.get(change.address)
    return bool(want is not None and want.mutable["default"])


def _finish(change: Change, ctx: ApplyContext, record: LiveVersion, state: RolloutState) -> str:
    """The last step held: the version becomes the default (all the traffic), then
    the older versions go."""
    serving = registry.facet(ctx.backend, facets.Serving)
    serving.set_default(record.model, record.name)
    _record(serving, record, state._replace(state=DONE, at=time.time()))
    for target in change.live_targets:
        serving.delete_version(target.model or "", target.live_name)
    return f"{record.name} rolled out: it serves all the traffic (default)"


def _record(serving: facets.Serving, record: LiveVersion, state: RolloutState) -> None:
    spec = with_rollout(record.spec or {}, state)
    serving.update_version(dataclasses.replace(record, spec=spec))
