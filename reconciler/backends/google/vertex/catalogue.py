"""What Vertex AI offers, as data: prebuilt images with their end of availability,
training machine types and accelerators. Each table names its source and the
date it was checked; nothing here calls Google.

"End of availability" is the date after which Google's prebuilt images can no
longer be used for new jobs or models (Vertex AI framework support policy:
https://cloud.google.com/vertex-ai/docs/framework-support-policy, and the Deep
Learning Containers policy it follows:
https://cloud.google.com/deep-learning-containers/docs/framework-support-policy,
both checked 2026-12-02). Google rotates these lists; when it adds an image,
add its row here.
"""

from __future__ import annotations

import re
from datetime import date
from typing import NamedTuple

from reconciler.backends.google.vertex import gpus

CHECKED = "2026-12-02"
REGISTRY = "docker.pkg.dev/vertex-ai/"
GEOGRAPHIES = ("us", "europe", "asia")


class Image(NamedTuple):
    """One prebuilt image, as ``{geo}-docker.pkg.dev/vertex-ai/{path}:latest``."""

    runtime: str
    """The TensorFlow minor version (a runtimeVersion)."""
    kind: str
    """``cpu``, ``gpu`` or ``tpu``."""
    path: str
    ends: date
    """Its end of availability."""

    def uri(self, geography: str) -> str:
        return f"{geography}-{REGISTRY}{self.path}:latest"


# Prebuilt training images for Python package jobs (pythonPackageSpec.executorImageUri).
# Source: https://cloud.google.com/vertex-ai/docs/supported-frameworks-list#custom_training
# ("TensorFlow": end of availability per version) and shared/reference/gcp-api.md
# "Corrections checked 2026-12-01"; checked 2026-12-02. Python 3.10 images only.
TRAINING_SOURCE = "https://cloud.google.com/vertex-ai/docs/supported-frameworks-list"
_TRAINING_ENDS = {
    "2.17": date(2026, 7, 11),
    "2.16": date(2026, 6, 28),
    "2.15": date(2025, 11, 14),
    "2.14": date(2025, 9, 26),
    "2.13": date(2025, 7, 5),
    "2.12": date(2025, 6, 30),
    "2.11": date(2024, 11, 15),
}
TRAINING: tuple[Image, ...] = (
    *(
        Image(runtime, kind, f"training/tf-{kind}.2-{runtime.split('.')[1]}.py310", ends)
        for runtime, ends in _TRAINING_ENDS.items()
        for kind in ("cpu", "gpu")
    ),
    # TPU VMs run their own image (https://cloud.google.com/vertex-ai/docs/training/
    # training-with-tpu-vm, checked 2026-12-02): one, for 2.15.
    Image("2.15", "tpu", "training/tf-tpu.2-15.cp310", date(2025, 10, 23)),
)
TRAINING_PYTHON = "3.10"
# Any of Google's prebuilt training images, by the form of its name: TensorFlow, PyTorch,
# scikit-learn and XGBoost, each for CPU, GPU or TPU, per framework and Python version
# (same source). One the table above lacks (a framework mlapply does not pick, or an
# image Google added later) is named as unchecked, not refused.
PREBUILT_TRAINING = re.compile(
    r"(us|europe|asia)-docker\.pkg\.dev/vertex-ai/training/"
    r"(tf|pytorch|sklearn|xgboost)-(cpu|gpu|tpu)\.\d+-\d+\.(py|cp)3\d+:latest"
)

# Prebuilt prediction images for TensorFlow SavedModels (ModelContainerSpec.imageUri).
# Source: https://cloud.google.com/vertex-ai/docs/predictions/pre-built-containers
# ("Available TensorFlow container images"), checked 2026-12-02: 2.14 and 2.15 end
# 2027-01-14, 2.13 ended 2025-11-28, 2.12 2025-06-30, 2.11 2024-11-15. There is no
# image for 2.16 or later (the SDK's aiplatform/constants/prediction.py stops at 2-15).
PREDICTION_SOURCE = "https://cloud.google.com/vertex-ai/docs/predictions/pre-built-containers"
_PREDICTION_ENDS = {
    "2.15": date(2027, 1, 14),
    "2.14": date(2027, 1, 14),
    "2.13": date(2025, 11, 28),
    "2.12": date(2025, 6, 30),
    "2.11": date(2024, 11, 15),
}
PREDICTION: tuple[Image, ...] = tuple(
    Image(runtime, kind, f"prediction/tf2-{kind}.2-{runtime.split('.')[1]}", ends)
    for runtime, ends in _PREDICTION_ENDS.items()
    for kind in ("cpu", "gpu")
)
# The newest runtime Vertex can still serve: a Vertex stack's default runtimeVersion.
DEFAULT_RUNTIME = "2.15"
# ML Engine's legacy online prediction machines have no Vertex equivalent: a version
# naming one serves on the default, and validate warns.
LEGACY_PREDICTION_MACHINES = ("mls1-",)
DEFAULT_PREDICTION_MACHINE = "n1-standard-2"

# Machine types for custom training. Source:
# https://cloud.google.com/vertex-ai/docs/training/configure-compute#machine-types,
# checked 2026-12-02 (n1-highcpu exists only as 16/32/64/96; e2-highcpu as 16/32).
MACHINES_SOURCE = "https://cloud.google.com/vertex-ai/docs/training/configure-compute"
TRAINING_MACHINES: frozenset[str] = frozenset(
    [f"n1-standard-{n}" for n in (4, 8, 16, 32, 64, 96)]
    + [f"n1-highmem-{n}" for n in (2, 4, 8, 16, 32, 64, 96)]
    + [f"n1-highcpu-{n}" for n in (16, 32, 64, 96)]
    + [f"e2-standard-{n}" for n in (4, 8, 16, 32)]
    + [f"e2-highmem-{n}" for n in (2, 4, 8, 16)]
    + [f"e2-highcpu-{n}" for n in (16, 32)]
    + [f"n2-standard-{n}" for n in (4, 8, 16, 32, 48, 64, 80)]
    + [f"n2-highmem-{n}" for n in (2, 4, 8, 16, 32, 48, 64, 80)]
    + [f"n2-highcpu-{n}" for n in (16, 32, 48, 64, 80)]
    + [f"n4-highcpu-{n}" for n in (2, 4, 8, 16, 32, 48, 64, 80)]
    + [f"c2-standard-{n}" for n in (4, 8, 16, 30, 60)]
    + list(gpus.BUILT_IN)  # the accelerator-optimized types: A2, A3, A4, A4X, G2, G4
    + ["cloud-tpu"]
)
# MachineSpec.acceleratorType values a training job may ask for: the GPUs of gpus.py
# and two TPUs (aiplatform v1 discovery document, revision 20261106: NVIDIA_TESLA_K80
# is marked "Deprecated: ... reached end of support"), checked 2026-12-07.
ACCELERATORS: frozenset[str] = gpus.GPUS | {"TPU_V2", "TPU_V3"}
# A TPU VM is machine type cloud-tpu with 8 TPU_V2 or TPU_V3 cores, in one pool
# (https://cloud.google.com/vertex-ai/docs/training/configure-compute#tpu, checked
# 2026-12-02).
TPU_MACHINE = "cloud-tpu"
TPU_CORES = 8
