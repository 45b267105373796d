"""`mlapply rollout undo` and `retry`: a person's rollback, and a second try of a
version that was rolled back, as state the next plan and apply keep.

Each is worked out first (``undo_of``, ``retry_of``: what moves, and the record it
leaves), shown and confirmed by the command, then carried out (``carry_out``):
an undo moves the traffic back before it records the rollback, as a gate's does;
a retry records the new first step before it moves the traffic there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import NamedTuple

from reconciler.backends import facets, registry
from reconciler.backends.base import LiveModel, LiveSnapshot, LiveVersion
from reconciler.backends.facets import Driver
from reconciler.backends.recorded import DONE, ROLLED_BACK, ROLLING, RolloutState, with_rollout
from reconciler.diagnostics import MlapplyError
from reconciler.kinds.modelversion.rolling import split
from reconciler.stack.resources import Stack


class ManualRollout(NamedTuple):
    """What a person's undo or retry changes."""

    version: LiveVersion
    model: str
    before: Mapping[str, int]
    """The split now (version -> percent)."""
    after: dict[str, int]
    state: RolloutState
    """The record it leaves."""
    traffic_first: bool
    """Move the traffic, then record (an undo); else record, then move (a retry)."""

    def describe(self) -> str:
        def shown(split: Mapping[str, int]) -> str:
            return ", ".join(f"{v} {p} %" for v, p in sorted(split.items())) or "(none)"

        what = "rolled back" if self.state.state == ROLLED_BACK else "rolling out again"
        return (
            f"model {self.model}: traffic {shown(self.before)} -> {shown(self.after)}; "
            f"{self.version.name} marked {what}, which the next plan and apply keep"
        )


def undo_of(live: LiveSnapshot, model: str, by: str, now: float) -> ManualRollout:
    """Send the traffic of ``model``'s rollout back to the version it took it from."""
    found = _model(live, model)
    versions = [v for v in live.versions if v.model == found.name]
    rolling = [v for v in versions if (s := v.rollout) is not None and s.state == ROLLING]
    if not rolling:
        done = [v for v in versions if (s := v.rollout) is not None and s.state == DONE]
        back = [v for v in versions if (s := v.rollout) is not None and s.state == ROLLED_BACK]
        if back:
            raise MlapplyError(f"{back[0].name} of model {found.name} is rolled back already")
        if done:
            raise MlapplyError(
                f"nothing to undo: {done[0].name} finished its rollout and the version "
                "before it is deleted",
                "revert the manifest change in git, and apply: the version before rolls out",
            )
        raise MlapplyError(f"nothing to undo: no version of model {found.name} is rolling out")
    version = rolling[0]
    state = version.rollout
    assert state is not None
    if not state.previous or state.previous not in {v.name for v in versions}:
        raise MlapplyError(
            f"{version.name} rolls out from {state.previous or 'no version'}, which is gone",
            "revert the manifest change in git, and apply",
        )
    return ManualRollout(
        version,
        found.name,
        _split_now(found),
        {state.previous: 100},
        state._replace(state=ROLLED_BACK, why="rolled back by hand", at=now, by=by),
        traffic_first=True,
    )


def retry_of(stack: Stack, live: LiveSnapshot, name: str, by: str, now: float) -> ManualRollout:
    """Roll out again, from its first step, a version that was rolled back."""
    back = [
        v
        for v in live.versions
        if (s := v.rollout) is not None
        and s.state == ROLLED_BACK
        and name in (v.name, v.manifest_name)
    ]
    if not back:
        raise MlapplyError(
            f"no version {name!r} of stack {stack.name!r} is rolled back",
            "name a ModelVersion (or its live version) that `mlapply status` shows rolled back",
        )
    version = back[0]
    declared = stack.versions.get(version.manifest_name or "")
    if declared is None or declared.rollout is None:
        raise MlapplyError(
            f"{version.name}'s manifest declares no spec.rollout to roll it out by",
            "add spec.rollout to its ModelVersion",
        )
    state = version.rollout
    assert state is not None
    fresh = RolloutState(ROLLING, 0, now, state.previous, by=by)
    model = _model(live, version.model)
    return ManualRollout(
        version,
        model.name,
        _split_now(model),
        split(declared.rollout, fresh, version.name),
        fresh,
        traffic_first=False,
    )


def carry_out(backend: Driver, change: ManualRollout) -> None:
    serving = registry.facet(backend, facets.Serving)
    traffic = registry.facet(backend, facets.Traffic)
    record = dataclasses.replace(
        change.version, spec=with_rollout(change.version.spec or {}, change.state)
    )
    if change.traffic_first:
        traffic.set_traffic(change.model, change.after)
        serving.update_version(record)
    else:
        serving.update_version(record)
        traffic.set_traffic(change.model, change.after)


def _model(live: LiveSnapshot, name: str) -> LiveModel:
    for model in live.models:
        if name in (model.name, model.manifest_name, model.name.replace("_", "-")):
            return model
    known = ", ".join(sorted(m.name for m in live.models)) or "none"
    raise MlapplyError(f"no live model {name!r} (models: {known})")


def _split_now(model: LiveModel) -> Mapping[str, int]:
    if model.traffic:
        return model.traffic
    return {model.default_version: 100} if model.default_version else {}
