"""The kinds table: one row per manifest kind, in dependency order.

The order is the build's (a ModelVersion reads the TrainingJob it deploys)
and the tie-break of the stack's order. Adding a kind is a schema in
``schemas/`` (and its line in ``manifest.schema.json``), a handler module
here, and a row below.
"""

from __future__ import annotations

from reconciler.kinds.base import Handler, LiveHandler
from reconciler.kinds.dataset import DatasetHandler
from reconciler.kinds.model import ModelHandler
from reconciler.kinds.modelversion import ModelVersionHandler
from reconciler.kinds.stack import StackHandler
from reconciler.kinds.trainer import TrainerHandler
from reconciler.kinds.trainingjob import TrainingJobHandler

STACK = StackHandler()
KINDS: tuple[Handler, ...] = (
    DatasetHandler(),
    TrainerHandler(),
    TrainingJobHandler(),
    ModelHandler(),
    ModelVersionHandler(),
)
LIVE: tuple[LiveHandler, ...] = tuple(k for k in KINDS if isinstance(k, LiveHandler))
BY_KIND: dict[str, Handler] = {k.kind: k for k in KINDS}
VOCABULARY: tuple[str, ...] = (STACK.kind, *BY_KIND)
"""Every kind a manifest may declare (the schemas are checked against it)."""


def live_handler(kind: str) -> LiveHandler:
    found = BY_KIND[kind]
    assert isinstance(found, LiveHandler), f"{kind} has no live counterpart"
    return found
