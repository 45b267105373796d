"""The Model kind: a named model (an Endpoint on Vertex) that holds versions.

Labels and the description change in place; a model's region and logging are
fixed at creation, so a change there deletes the model with its versions and
creates it again (delete-before-create: one name cannot be two models). A live
model no manifest declares is deleted after its versions. ``build``,
``identity``, ``rules`` (pure) and ``steps`` (the only part that acts).
"""

from __future__ import annotations

from typing import ClassVar

from reconciler.kinds.base import BuildPart, PackagedHandler
from reconciler.kinds.model import build
from reconciler.stack.resources import Model


class ModelHandler(PackagedHandler):
    record = Model
    build_part: ClassVar[BuildPart] = build
    package = __name__
    updatable = build.UPDATABLE
