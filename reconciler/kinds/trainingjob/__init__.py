"""The TrainingJob kind: a trainer run on data with hyperparameters, on a scale tier.

Deciding and doing are apart: ``build`` (the document as its record, and its
checks), ``identity`` (compiled once, hashed), ``rules`` (the plan rules, pure;
``reasons`` says why in words) and ``steps`` (the apply step: the only part
that acts). The handler below is the kind's row of the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from reconciler.kinds.base import ApplyContext, IdentityContext, LiveHandler
from reconciler.kinds.trainingjob import build
from reconciler.kinds.trainingjob.identity import compiled_job, job_live_name
from reconciler.lazy import LazyModule
from reconciler.stack.resources import TrainingJob

if TYPE_CHECKING:
    from reconciler.backends.compiled import CompiledJob
    from reconciler.identity.desired import DesiredResource
    from reconciler.kinds.trainingjob import identity, rules, steps
    from reconciler.manifests import LoadedDocument
    from reconciler.plan.diff import PlanView
    from reconciler.plan.model import Change
    from reconciler.stack.build import BuildContext, Reference
    from reconciler.stack.resources import Meta
else:  # validate builds; only plan and apply need the rest (start-up time)
    identity = LazyModule("reconciler.kinds.trainingjob.identity")
    rules = LazyModule("reconciler.kinds.trainingjob.rules")
    steps = LazyModule("reconciler.kinds.trainingjob.steps")

__all__ = ["TrainingJobHandler", "compiled_job", "job_live_name"]


class TrainingJobHandler(LiveHandler):
    record = TrainingJob
    updatable = build.UPDATABLE
    retrainable = True

    def build(self, ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> TrainingJob:
        return build.build(ctx, loaded, meta)

    def references(self, resource: Any) -> Iterable[Reference]:
        return build.references(resource)

    def check(self, ctx: BuildContext) -> None:
        build.check(ctx)

    def identify(self, resource: Any, ctx: IdentityContext) -> DesiredResource[CompiledJob]:
        return identity.identify(resource, ctx)

    def plan(self, want: DesiredResource[Any], view: PlanView) -> Change:
        return rules.plan(want, view)

    def removed(self, view: PlanView) -> list[Change]:
        return rules.removed(view)

    def apply(self, change: Change, ctx: ApplyContext) -> str:
        return steps.apply(change, ctx)
