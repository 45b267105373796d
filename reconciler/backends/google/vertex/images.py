"""Google's prebuilt TensorFlow images for Vertex AI, by runtime, Python and GPU use.

The training images run a Python package (``pythonPackageSpec``); the
prediction images serve a SavedModel. Google rotates these lists under its
framework support policy, so they are one table: validate checks a Vertex
stack against it (with file and line) through the profile, and the driver
picks its images from it. (The end-of-availability dates and the 2026
corrections of ``shared/reference/gcp-api.md`` are the Vertex issue's.)
"""

from __future__ import annotations

from reconciler.diagnostics import MlapplyError

# runtimeVersion -> Python versions with a prebuilt training image.
TRAINING: dict[str, tuple[str, ...]] = {
    "2.11": ("3.10",),
    "2.12": ("3.10",),
    "2.13": ("3.10",),
    "2.14": ("3.10",),
    "2.15": ("3.10",),
    "2.16": ("3.10",),
    "2.17": ("3.10",),
}
# runtimeVersion with a prebuilt prediction image.
PREDICTION: tuple[str, ...] = ("2.11", "2.12", "2.13", "2.14", "2.15", "2.16", "2.17")


def training_known() -> str:
    return ", ".join(f"{r} (Python {'/'.join(p)})" for r, p in TRAINING.items())


def prediction_known() -> str:
    return ", ".join(PREDICTION)


def training_problem(runtime: str, python: str) -> str | None:
    if python in TRAINING.get(runtime, ()):
        return None
    return (
        "Vertex AI has no prebuilt TensorFlow training image for runtimeVersion "
        f"{runtime} with Python {python}"
    )


def prediction_problem(runtime: str) -> str | None:
    if runtime in PREDICTION:
        return None
    return f"Vertex AI has no prebuilt TensorFlow prediction image for runtimeVersion {runtime}"


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
        raise MlapplyError(problem, f"use one of: {prediction_known()}")
    minor = runtime.split(".")[1]
    kind = "gpu" if gpu else "cpu"
    return f"{_geography(region)}-docker.pkg.dev/vertex-ai/prediction/tf2-{kind}.2-{minor}:latest"
