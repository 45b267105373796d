"""Cloud ML Engine's catalogue, as data: runtime versions, machines, scale tiers.

No I/O. Each table names where it comes from and when it was checked. The
``ml`` v1 API itself was shut down on 2025-01-31 (gcp-api.md section 4:
cloud.google.com/ai-platform/training/docs/deprecations), so this is the
catalogue as it stood at the end, for emulators and migrations.
"""

from __future__ import annotations

from datetime import date
from types import MappingProxyType

from reconciler.backends.compiled import Pool, Role
from reconciler.stack.resources import Accelerator

CHECKED = "2026-12-06"
SHUTDOWN = date(2025, 1, 31)
SHUTDOWN_SOURCE = "https://cloud.google.com/ai-platform/training/docs/deprecations"

RUNTIMES_SOURCE = "https://cloud.google.com/ai-platform/training/docs/runtime-version-list"
# Runtime versions still listed when the API closed, with the Python versions each
# ran. "Runtime versions 2.1 and later support only Python 3.7" (the tensorflow-2
# page, cloud.google.com/ai-platform/training/docs/tensorflow-2); 1.15 also ran
# Python 2.7, which mlapply's trainer contract does not support; gcp-api.md, the
# corrections of 2026-12-01: "Python 3.7 was the newest on the 2.x runtimes".
RUNTIMES: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "1.15": ("3.7",),
        "2.1": ("3.7",),
        "2.2": ("3.7",),
        "2.3": ("3.7",),
        "2.4": ("3.7",),
        "2.5": ("3.7",),
        "2.6": ("3.7",),
        "2.7": ("3.7",),
        "2.8": ("3.7",),
        "2.11": ("3.7",),
    }
)
DEFAULT_RUNTIME = "2.11"
DEFAULT_PYTHON = "3.7"

MACHINES_SOURCE = "https://cloud.google.com/ai-platform/training/docs/machine-types"
# Compute Engine machine types ML Engine training offered, and its legacy names
# (gcp-api.md section 1.2; the machine-types page). Worker, parameter-server and
# evaluator types must be of the master's category (both Compute Engine, or both
# legacy): ``category``.
COMPUTE_ENGINE_MACHINES = frozenset(
    {
        *(f"n1-standard-{n}" for n in (4, 8, 16, 32, 64, 96)),
        *(f"n1-highmem-{n}" for n in (2, 4, 8, 16, 32, 64, 96)),
        *(f"n1-highcpu-{n}" for n in (16, 32, 64, 96)),
        *(f"a2-highgpu-{n}g" for n in (1, 2, 4, 8)),
        "a2-megagpu-16g",
        "cloud_tpu",
    }
)
LEGACY_MACHINES = frozenset(
    {
        "standard",
        "large_model",
        "complex_model_s",
        "complex_model_m",
        "complex_model_l",
        "standard_gpu",
        "complex_model_m_gpu",
        "complex_model_l_gpu",
        "standard_p100",
        "complex_model_m_p100",
        "standard_v100",
        "large_model_v100",
        "complex_model_m_v100",
        "complex_model_l_v100",
    }
)
TRAINING_MACHINES = COMPUTE_ENGINE_MACHINES | LEGACY_MACHINES
# AcceleratorConfig.type (ml v1 discovery document, revision 20251213).
ACCELERATORS = frozenset(
    {
        "NVIDIA_TESLA_K80",
        "NVIDIA_TESLA_P4",
        "NVIDIA_TESLA_P100",
        "NVIDIA_TESLA_V100",
        "NVIDIA_TESLA_T4",
        "NVIDIA_TESLA_A100",
        "TPU_V2",
        "TPU_V3",
        "TPU_V2_POD",
        "TPU_V3_POD",
        "TPU_V4_POD",
    }
)

PREDICTION_SOURCE = (
    "https://cloud.google.com/ai-platform/prediction/docs/machine-types-online-prediction"
)
# Online prediction machines on the regional endpoints (REGION-ml.googleapis.com), where
# mlapply sends models and versions: Compute Engine (N1) types only ("You cannot use
# legacy (MLS1) machine types on regional endpoints",
# https://cloud.google.com/ai-platform/prediction/docs/regional-endpoints, checked
# 2026-12-07); the default is n1-standard-2 (Version.machineType, ml v1 discovery document).
REGIONAL_ENDPOINTS_SOURCE = (
    "https://cloud.google.com/ai-platform/prediction/docs/regional-endpoints, checked 2026-12-07"
)
LEGACY_PREDICTION_MACHINES = frozenset({"mls1-c1-m2", "mls1-c4-m2"})
_FAMILIES, _CPUS = ("n1-standard", "n1-highmem", "n1-highcpu"), (2, 4, 8, 16, 32)
PREDICTION_MACHINES = frozenset(f"{family}-{n}" for family in _FAMILIES for n in _CPUS)
PREDICTION_MACHINES_TEXT = (
    f"{', '.join(_FAMILIES[:-1])} or {_FAMILIES[-1]} type with "
    f"{', '.join(map(str, _CPUS[:-1]))} or {_CPUS[-1]} vCPUs"
)

# The scale tiers' clusters in ML Engine's legacy machine names (gcp-api.md section
# 1.2: the API describes the tiers, the machines of each are from the machine-types
# page as the reference recalls it). The API takes the tier itself (scaleTier);
# this table is what the plan shows and validate checks.
_K80 = Accelerator("NVIDIA_TESLA_K80", 1)
TIERS: MappingProxyType[str, tuple[Pool, ...]] = MappingProxyType(
    {
        "BASIC": (Pool(Role.CHIEF, 1, "standard"),),
        "BASIC_GPU": (Pool(Role.CHIEF, 1, "standard_gpu", _K80),),
        "BASIC_TPU": (Pool(Role.CHIEF, 1, "standard"), Pool(Role.WORKER, 1, "cloud_tpu")),
        "STANDARD_1": (
            Pool(Role.CHIEF, 1, "complex_model_s"),
            Pool(Role.WORKER, 4, "complex_model_s"),
            Pool(Role.PARAMETER_SERVER, 3, "standard"),
        ),
        "PREMIUM_1": (
            Pool(Role.CHIEF, 1, "complex_model_m"),
            Pool(Role.WORKER, 19, "complex_model_m"),
            Pool(Role.PARAMETER_SERVER, 11, "large_model"),
        ),
    }
)


def category(machine: str) -> str:
    return "legacy" if machine in LEGACY_MACHINES else "Compute Engine"
