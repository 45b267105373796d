"""Which fields the backends can change in place, per kind, as data.

Anything in a resource's essence (its identity) cannot change in place: a
job or a model version is immutable, so a new one replaces it. The fields
below are updated in place.
"""

from __future__ import annotations

from reconciler.stack.resources import Kind

UPDATABLE: dict[Kind, frozenset[str]] = {
    Kind.TRAINING_JOB: frozenset({"labels"}),
    Kind.MODEL: frozenset({"labels", "description"}),
    Kind.MODEL_VERSION: frozenset({"labels", "description", "default"}),
}

IMMUTABLE: dict[Kind, frozenset[str]] = {
    Kind.TRAINING_JOB: frozenset(
        {
            "trainer",
            "data",
            "hyperparameters",
            "args",
            "scaleTier",
            "machines",
            "region",
            "runtimeVersion",
            "pythonVersion",
            "outputDir",
            "hyperparameterTuning",
        }
    ),
    Kind.MODEL: frozenset({"region", "onlinePredictionLogging"}),
    Kind.MODEL_VERSION: frozenset(
        {
            "model",
            "source",
            "runtimeVersion",
            "pythonVersion",
            "framework",
            "machineType",
            "scaling",
        }
    ),
}
