"""Google's prebuilt TensorFlow images, by runtime version, Python version and GPU use.

The training images run a Python package (``pythonPackageSpec``); the
prediction images serve a SavedModel. Which versions exist is the table in
:mod:`reconciler.stack.runtimes` (validate checks it too); an unknown
combination is a clear error naming the ones known.
"""

from __future__ import annotations

from reconciler.diagnostics import MlapplyError
from reconciler.stack.runtimes import (
    VERTEX_PREDICTION,
    prediction_problem,
    training_known,
    training_problem,
)


def _geography(region: str) -> str:
    for geo in ("us", "europe", "asia"):
        if region.startswith(geo):
            return geo
    return "us"


def training_image(runtime: str, python: str, gpu: bool, region: str) -> str:
    problem = training_problem(runtime, python)
    if problem:
        raise MlapplyError(problem, f"use one of: {training_known()}")
    minor = runtime.split(".")[1]
    kind = "gpu" if gpu else "cpu"
    py = python.replace(".", "")
    return (
        f"{_geography(region)}-docker.pkg.dev/vertex-ai/training/tf-{kind}.2-{minor}.py{py}:latest"
    )


def prediction_image(runtime: str, gpu: bool, region: str) -> str:
    problem = prediction_problem(runtime)
    if problem:
        raise MlapplyError(problem, "use one of: " + ", ".join(VERTEX_PREDICTION))
    minor = runtime.split(".")[1]
    kind = "gpu" if gpu else "cpu"
    return f"{_geography(region)}-docker.pkg.dev/vertex-ai/prediction/tf2-{kind}.2-{minor}:latest"
