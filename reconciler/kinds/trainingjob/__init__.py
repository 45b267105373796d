"""The TrainingJob kind: a trainer run on data with hyperparameters, on a scale tier.

Deciding and doing are apart: ``build`` (the document as its record, and its
checks), ``identity`` (compiled once, hashed), ``rules`` (the plan rules, pure;
``reasons`` says why in words) and ``steps`` (the apply step: the only part
that acts). The handler below is the kind's row of the table.
"""

from __future__ import annotations

from typing import ClassVar

from reconciler.kinds.base import BuildPart, PackagedHandler
from reconciler.kinds.trainingjob import build
from reconciler.kinds.trainingjob.identity import compiled_job, job_live_name
from reconciler.stack.resources import TrainingJob

__all__ = ["TrainingJobHandler", "compiled_job", "job_live_name"]


class TrainingJobHandler(PackagedHandler):
    record = TrainingJob
    build_part: ClassVar[BuildPart] = build
    package = __name__
    costs = True
    updatable = build.UPDATABLE
    retrainable = True
