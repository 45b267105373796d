"""A Model's identity: what cannot change in place (its region and logging)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    import reconciler.backends.compiled as compiled_forms
    import reconciler.identity.desired as desired_state
    from reconciler.backends.compiled import CompiledModel
    from reconciler.identity import canonical
    from reconciler.identity.desired import DesiredResource
    from reconciler.kinds.base import IdentityContext
    from reconciler.stack.resources import Model
else:
    canonical = LazyModule("reconciler.identity.canonical")
    compiled_forms = LazyModule("reconciler.backends.compiled")
    desired_state = LazyModule("reconciler.identity.desired")


def compiled_model(want: DesiredResource[Any]) -> CompiledModel:
    return desired_state.compiled_as(want, compiled_forms.CompiledModel)


def identify(model: Model, ctx: IdentityContext) -> DesiredResource[CompiledModel]:
    compiled = compiled_forms.CompiledModel(model.region, model.online_prediction_logging)
    essence = compiled.essence()
    return desired_state.DesiredResource(
        address=model.address,
        kind=model.kind,
        name=model.meta.name,
        live_name=desired_state.id_name(model.meta.name),
        hash=canonical.short(canonical.digest(essence)),
        compiled=compiled,
        essence=essence,
        mutable={"labels": dict(model.meta.labels), "description": model.description},
        prevent_destroy=model.meta.prevent_destroy,
    )
