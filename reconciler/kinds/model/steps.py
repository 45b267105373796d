"""A Model's apply step: delete what the plan lists (versions first), then create or
update the model through the backend's ``Serving`` facet."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from reconciler.backends import facets, registry
from reconciler.kinds.base import ApplyContext
from reconciler.kinds.model.identity import compiled_model
from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    import reconciler.backends.base as records
    import reconciler.plan.model as plans
    from reconciler.plan.model import Change
    from reconciler.stack.resources import Stack
else:
    plans = LazyModule("reconciler.plan.model")
    records = LazyModule("reconciler.backends.base")


def apply(change: Change, ctx: ApplyContext) -> str:
    serving = registry.facet(ctx.backend, facets.Serving)
    for target in change.live_targets:
        if target.model is None:
            serving.delete_model(target.live_name)
        else:
            serving.delete_version(target.model, target.live_name)
    if change.action is plans.Action.DELETE:
        return "deleted"
    want = ctx.desired[change.address]
    model = compiled_model(want)
    assert change.live_name is not None
    current = None
    if change.action is not plans.Action.REPLACE:
        current = next((m for m in ctx.live.models if m.name == change.live_name), None)
    serving.put_model(
        records.LiveModel(
            change.live_name,
            want.live_labels(ctx.stack.name),
            description=want.mutable["description"],
            region=model.region,
            online_prediction_logging=model.online_prediction_logging,
            default_version=current.default_version if current else None,
            create_time=current.create_time if current else time.time(),
            traffic=current.traffic if current else {},
        )
    )
    return "created" if current is None else "updated"


def next_step(change: Change, stack: Stack, paths: str) -> str | None:
    return None  # what to do next is said by the versions this serves
