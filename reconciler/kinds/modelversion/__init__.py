"""The ModelVersion kind: a trained SavedModel served as a version of a Model.

``build`` (the document and its checks, its gate), ``identity`` (compiled once,
hashed), ``rules`` (the plan rules, pure), ``steps`` (the apply step: the only
part that acts); ``sources`` is what the last two both read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from reconciler.kinds.base import ApplyContext, IdentityContext, LiveHandler
from reconciler.kinds.modelversion import build
from reconciler.lazy import LazyModule
from reconciler.stack.resources import ModelVersion

if TYPE_CHECKING:
    from reconciler.backends.compiled import CompiledVersion
    from reconciler.identity.desired import DesiredResource
    from reconciler.kinds.modelversion import identity, rules, steps
    from reconciler.manifests import LoadedDocument
    from reconciler.plan.diff import PlanView
    from reconciler.plan.model import Change
    from reconciler.stack.build import BuildContext, Reference
    from reconciler.stack.resources import Meta, Stack
else:  # validate builds; only plan and apply need the rest (start-up time)
    identity = LazyModule("reconciler.kinds.modelversion.identity")
    rules = LazyModule("reconciler.kinds.modelversion.rules")
    steps = LazyModule("reconciler.kinds.modelversion.steps")


class ModelVersionHandler(LiveHandler):
    record = ModelVersion
    updatable = build.UPDATABLE

    def build(self, ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> ModelVersion:
        return build.build(ctx, loaded, meta)

    def references(self, resource: Any) -> Iterable[Reference]:
        return build.references(resource)

    def check(self, ctx: BuildContext) -> None:
        build.check(ctx)

    def identify(self, resource: Any, ctx: IdentityContext) -> DesiredResource[CompiledVersion]:
        return identity.identify(resource, ctx)

    def plan(self, want: DesiredResource[Any], view: PlanView) -> Change:
        return rules.plan(want, view)

    def removed(self, view: PlanView) -> list[Change]:
        return rules.removed(view)

    def apply(self, change: Change, ctx: ApplyContext) -> str:
        return steps.apply(change, ctx)

    def next_step(self, change: Change, stack: Stack, paths: str) -> str | None:
        return steps.next_step(change, stack, paths)
