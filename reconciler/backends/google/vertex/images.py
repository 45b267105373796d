"""Google's prebuilt TensorFlow images, by runtime version, Python version and GPU use.

The training images run a Python package (``pythonPackageSpec``); the
prediction images serve a SavedModel. Google rotates both lists under its
framework support policy, so they live here, in one table, and an unknown
combination is a clear error naming the ones known.
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
PREDICTION: tuple[str, ...] = ("2.11", "2.12", "2.13", "2.14", "2.15", "2.16", "2.17")


def _geography(region: str) -> str:
    for geo in ("us", "europe", "asia"):
        if region.startswith(geo):
            return geo
    return "us"


def training_image(runtime: str, python: str, gpu: bool, region: str) -> str:
    if python not in TRAINING.get(runtime, ()):
        known = ", ".join(f"{r} (Python {'/'.join(p)})" for r, p in TRAINING.items())
        raise MlapplyError(
            f"Vertex AI has no prebuilt TensorFlow training image for runtimeVersion "
            f"{runtime} with Python {python}",
            f"use one of: {known}",
        )
    minor = runtime.split(".")[1]
    kind = "gpu" if gpu else "cpu"
    py = python.replace(".", "")
    return (
        f"{_geography(region)}-docker.pkg.dev/vertex-ai/training/tf-{kind}.2-{minor}.py{py}:latest"
    )


def prediction_image(runtime: str, gpu: bool, region: str) -> str:
    if runtime not in PREDICTION:
        raise MlapplyError(
            f"Vertex AI has no prebuilt TensorFlow prediction image for runtimeVersion {runtime}",
            "use one of: " + ", ".join(PREDICTION),
        )
    minor = runtime.split(".")[1]
    kind = "gpu" if gpu else "cpu"
    return f"{_geography(region)}-docker.pkg.dev/vertex-ai/prediction/tf2-{kind}.2-{minor}:latest"
