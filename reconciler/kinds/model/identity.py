"""A Model's compiled form, as its apply step reads it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    import reconciler.backends.compiled as compiled_forms
    from reconciler.backends.compiled import CompiledModel
    from reconciler.identity.desired import DesiredResource
else:
    compiled_forms = LazyModule("reconciler.backends.compiled")


def compiled_model(want: DesiredResource[Any]) -> CompiledModel:
    compiled = want.compiled
    assert isinstance(compiled, compiled_forms.CompiledModel), f"{want.address} is no model"
    return compiled
