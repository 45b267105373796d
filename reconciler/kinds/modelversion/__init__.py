"""The ModelVersion kind: a trained SavedModel served as a version of a Model.

``build`` (the document and its checks, its gate), ``identity`` (compiled once,
hashed), ``rules`` (the plan rules, pure), ``steps`` (the apply step: the only
part that acts); ``sources`` is what the last two both read.
"""

from __future__ import annotations

from typing import ClassVar

from reconciler.kinds.base import BuildPart, PackagedHandler
from reconciler.kinds.modelversion import build
from reconciler.stack.resources import ModelVersion


class ModelVersionHandler(PackagedHandler):
    record = ModelVersion
    build_part: ClassVar[BuildPart] = build
    package = __name__
    costs = True
    updatable = build.UPDATABLE
