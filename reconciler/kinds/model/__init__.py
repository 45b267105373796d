"""The Model kind: a named model (an Endpoint on Vertex) that holds versions.

Labels and the description change in place; a model's region and logging are
fixed at creation, so a change there deletes the model with its versions and
creates it again (delete-before-create: one name cannot be two models). A live
model no manifest declares is deleted after its versions. ``rules`` decide
(pure), ``steps`` act.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.kinds.base import ApplyContext, IdentityContext, LiveHandler
from reconciler.kinds.model import build
from reconciler.lazy import LazyModule
from reconciler.stack.resources import Model

if TYPE_CHECKING:
    import reconciler.backends.compiled as compiled_forms
    import reconciler.identity.desired as desired_state
    from reconciler.backends.compiled import CompiledModel
    from reconciler.identity import canonical
    from reconciler.identity.desired import DesiredResource
    from reconciler.kinds.model import rules, steps
    from reconciler.manifests import LoadedDocument
    from reconciler.plan.diff import PlanView
    from reconciler.plan.model import Change
    from reconciler.stack.build import BuildContext
    from reconciler.stack.resources import Meta
else:
    canonical = LazyModule("reconciler.identity.canonical")
    compiled_forms = LazyModule("reconciler.backends.compiled")
    desired_state = LazyModule("reconciler.identity.desired")
    rules = LazyModule("reconciler.kinds.model.rules")
    steps = LazyModule("reconciler.kinds.model.steps")


class ModelHandler(LiveHandler):
    record = Model
    updatable = build.UPDATABLE

    def build(self, ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> Model:
        return build.build(ctx, loaded, meta)

    def identify(self, resource: Any, ctx: IdentityContext) -> DesiredResource[CompiledModel]:
        model: Model = resource
        compiled = compiled_forms.CompiledModel(model.region, model.online_prediction_logging)
        essence = compiled.essence()
        return desired_state.DesiredResource(
            address=model.address,
            kind=Model.kind,
            name=model.meta.name,
            live_name=desired_state.id_name(model.meta.name),
            hash=canonical.short(canonical.digest(essence)),
            compiled=compiled,
            essence=essence,
            mutable={"labels": dict(model.meta.labels), "description": model.description},
            prevent_destroy=model.meta.prevent_destroy,
        )

    def plan(self, want: DesiredResource[Any], view: PlanView) -> Change:
        return rules.plan(want, view)

    def removed(self, view: PlanView) -> list[Change]:
        return rules.removed(view)

    def apply(self, change: Change, ctx: ApplyContext) -> str:
        return steps.apply(change, ctx)
