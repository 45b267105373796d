"""A Model document as its record."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from reconciler.stack.resources import Meta, Model

if TYPE_CHECKING:
    from reconciler.manifests import LoadedDocument
    from reconciler.stack.build import BuildContext, Reference

UPDATABLE = frozenset({"labels", "description"})
"""What the backend changes in place; a region or logging change replaces the model."""


def references(model: Model) -> Iterable[Reference]:
    return ()


def check(ctx: BuildContext) -> None:
    return None


def build(ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> Model:
    spec = loaded.doc.data.get("spec", {})
    regions = spec.get("regions") or [ctx.stack_settings().region]
    return Model(
        meta=meta,
        description=spec.get("description", ""),
        region=regions[0],
        online_prediction_logging=spec.get("onlinePredictionLogging", False),
    )
