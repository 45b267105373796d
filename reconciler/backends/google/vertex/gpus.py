"""Which GPUs each machine type of Vertex AI custom training takes, as data.

Accelerator-optimized machine types come with their GPUs (a fixed model and
count); N1 machines take some GPU models attached, in some counts, up to a
number of vCPUs per count; no other family takes GPUs. Sources, checked
2026-12-07: Compute Engine's "GPU machine types"
(https://cloud.google.com/compute/docs/gpus: the A4X, A4, A3, A2, G4 and G2
series with their GPUs, the GPUs N1 takes and its vCPU limits), Vertex AI's
"Configure compute resources for custom training" (the machine types custom
training offers), and the aiplatform v1 discovery document (revision
20261106: ``MachineSpec.acceleratorType`` names). Validate and the test fake
read this one table.
"""

from __future__ import annotations

import re

SOURCE = "https://cloud.google.com/compute/docs/gpus"

# Machine type -> (the GPU it comes with, how many).
BUILT_IN: dict[str, tuple[str, int]] = {
    **{f"a2-highgpu-{n}g": ("NVIDIA_TESLA_A100", n) for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": ("NVIDIA_TESLA_A100", 16),
    **{f"a2-ultragpu-{n}g": ("NVIDIA_A100_80GB", n) for n in (1, 2, 4, 8)},
    **{f"a3-highgpu-{n}g": ("NVIDIA_H100_80GB", n) for n in (1, 2, 4, 8)},
    "a3-megagpu-8g": ("NVIDIA_H100_MEGA_80GB", 8),
    "a3-ultragpu-8g": ("NVIDIA_H200_141GB", 8),
    "a4-highgpu-8g": ("NVIDIA_B200", 8),
    "a4x-highgpu-4g": ("NVIDIA_GB200", 4),
    **{
        f"g2-standard-{cpus}": ("NVIDIA_L4", count)
        for cpus, count in ((4, 1), (8, 1), (12, 1), (16, 1), (32, 1), (24, 2), (48, 4), (96, 8))
    },
    **{
        f"g4-standard-{cpus}": ("NVIDIA_RTX_PRO_6000", count)
        for cpus, count in ((48, 1), (96, 2), (192, 4), (384, 8))
    },
}

# GPU -> {how many on one N1 machine: the most vCPUs that machine may have}.
N1_ATTACHED: dict[str, dict[int, int]] = {
    "NVIDIA_TESLA_T4": {1: 48, 2: 48, 4: 96},
    "NVIDIA_TESLA_V100": {1: 12, 2: 24, 4: 48, 8: 96},
    "NVIDIA_TESLA_P100": {1: 16, 2: 32, 4: 64},
    "NVIDIA_TESLA_P4": {1: 24, 2: 48, 4: 96},
}

GPUS: frozenset[str] = frozenset({gpu for gpu, _ in BUILT_IN.values()} | set(N1_ATTACHED))

_N1 = re.compile(r"n1-(standard|highmem|highcpu)-(\d+)")


def problem(machine: str, gpu: str | None, count: int) -> str | None:
    """Why ``machine`` cannot have ``count`` GPUs of type ``gpu`` (None: no GPU asked),
    or None when it can. TPUs are not GPUs: another rule covers them."""
    if gpu is not None and gpu.startswith("TPU"):
        return None
    built_in = BUILT_IN.get(machine)
    if built_in is not None:
        model, number = built_in
        if (gpu, count) != (model, number):
            return (
                f"machine type {machine} comes with {number} {model}: set acceleratorType "
                f"{model} and acceleratorCount {number} ({SOURCE})"
            )
        return None
    if gpu is None:
        return None
    n1 = _N1.fullmatch(machine)
    limits = N1_ATTACHED.get(gpu)
    if n1 is None or limits is None:
        return f"{gpu} does not attach to machine type {machine}: {_where(gpu)} ({SOURCE})"
    if count not in limits:
        counts = ", ".join(map(str, sorted(limits)))
        return f"{count} {gpu} cannot attach to one N1 machine: {counts} can ({SOURCE})"
    cpus = int(n1.group(2))
    if cpus > limits[count]:
        return (
            f"{count} {gpu} attach to N1 machines of at most {limits[count]} vCPUs, and "
            f"{machine} has {cpus} ({SOURCE})"
        )
    return None


def _where(gpu: str) -> str:
    """Where a GPU can be had, in words."""
    machines = sorted(m for m, (model, _) in BUILT_IN.items() if model == gpu)
    if machines:
        return f"it comes with {', '.join(machines)}"
    if gpu in N1_ATTACHED:
        return "it attaches to n1-standard, n1-highmem and n1-highcpu machines"
    return "Vertex AI training offers it with no machine type"
