"""The runtime and Python versions Vertex AI has prebuilt TensorFlow images for.

Google rotates these lists under its framework support policy, so they live
in one table: `validate` checks a Vertex stack against it (with file and
line), and the Vertex backend picks its images from it.
"""

from __future__ import annotations

# runtimeVersion -> Python versions with a prebuilt training image.
VERTEX_TRAINING: dict[str, tuple[str, ...]] = {
    "2.11": ("3.10",),
    "2.12": ("3.10",),
    "2.13": ("3.10",),
    "2.14": ("3.10",),
    "2.15": ("3.10",),
    "2.16": ("3.10",),
    "2.17": ("3.10",),
}
# runtimeVersion with a prebuilt prediction image.
VERTEX_PREDICTION: tuple[str, ...] = ("2.11", "2.12", "2.13", "2.14", "2.15", "2.16", "2.17")


def training_known() -> str:
    return ", ".join(f"{r} (Python {'/'.join(p)})" for r, p in VERTEX_TRAINING.items())


def training_problem(runtime: str, python: str) -> str | None:
    if python in VERTEX_TRAINING.get(runtime, ()):
        return None
    return (
        "Vertex AI has no prebuilt TensorFlow training image for runtimeVersion "
        f"{runtime} with Python {python}"
    )


def prediction_problem(runtime: str) -> str | None:
    if runtime in VERTEX_PREDICTION:
        return None
    return f"Vertex AI has no prebuilt TensorFlow prediction image for runtimeVersion {runtime}"
