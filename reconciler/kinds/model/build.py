"""A Model document as its record."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from reconciler.backends import registry
from reconciler.lazy import LazyModule
from reconciler.stack.resources import Meta, Model

if TYPE_CHECKING:
    from reconciler.backends import facets
    from reconciler.manifests import LoadedDocument
    from reconciler.stack.build import BuildContext, Reference
else:
    facets = LazyModule("reconciler.backends.facets")

UPDATABLE = frozenset({"labels", "description"})
"""What the backend changes in place; a region or logging change replaces the model."""


def references(model: Model) -> Iterable[Reference]:
    return ()


def check(ctx: BuildContext) -> None:
    return None


def build(ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> Model:
    spec = loaded.doc.data.get("spec", {})
    backend, serving = ctx.stack_settings().backend, facets.Facet.SERVING
    if not registry.provides(backend, serving):
        refused = registry.refusal(backend, serving)
        ctx.report(
            f"backend {backend} has no {serving.title}: {refused.message}",
            loaded.doc.at(("metadata", "name")),
            refused.hint,
        )
    regions = spec.get("regions") or [ctx.stack_settings().region]
    return Model(
        meta=meta,
        description=spec.get("description", ""),
        region=regions[0],
        online_prediction_logging=spec.get("onlinePredictionLogging", False),
    )
