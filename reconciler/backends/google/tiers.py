"""Cloud ML Engine's scale tiers as Google machines, shared by the Google backends.

The table is DESIGN.md's (Backends): BASIC one n1-standard-4; BASIC_GPU an
n1-standard-8 with one T4; BASIC_TPU one TPU VM (machine type cloud-tpu, 8
TPU_V2 cores, one pool); STANDARD_1 a chief, 4 workers and 3 parameter
servers; PREMIUM_1 a chief, 19 workers and 11 parameter servers. CUSTOM
machines are taken as declared. Every machine here is one Vertex AI training
offers (vertex/catalogue.py): ML Engine's STANDARD_1 ran n1-highcpu-8, which
Vertex does not have (n1-highcpu is 16/32/64/96, checked 2026-12-02 at
https://cloud.google.com/vertex-ai/docs/training/configure-compute), so its
chief and workers are n1-highcpu-16.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from reconciler.backends.compiled import Pool, Role, declared_roles
from reconciler.stack.resources import Accelerator, MachineGroup, Machines

_T4 = Accelerator("NVIDIA_TESLA_T4", 1)
TIERS: dict[str, tuple[Pool, ...]] = {
    "BASIC": (Pool(Role.CHIEF, 1, "n1-standard-4"),),
    "BASIC_GPU": (Pool(Role.CHIEF, 1, "n1-standard-8", _T4),),
    "BASIC_TPU": (Pool(Role.CHIEF, 1, "cloud-tpu", Accelerator("TPU_V2", 8)),),
    "STANDARD_1": (
        Pool(Role.CHIEF, 1, "n1-highcpu-16"),
        Pool(Role.WORKER, 4, "n1-highcpu-16"),
        Pool(Role.PARAMETER_SERVER, 3, "n1-standard-4"),
    ),
    "PREMIUM_1": (
        Pool(Role.CHIEF, 1, "n1-highcpu-16"),
        Pool(Role.WORKER, 19, "n1-highcpu-16"),
        Pool(Role.PARAMETER_SERVER, 11, "n1-highmem-8"),
    ),
}


def _pool(role: Role, group: MachineGroup) -> Pool:
    return Pool(role, group.count, group.type, group.accelerator)


def tier_compiler(
    tiers: Mapping[str, tuple[Pool, ...]],
) -> Callable[[str, Machines | None, object], tuple[Pool, ...]]:
    """How a product compiles a tier: CUSTOM machines as declared, any other tier from
    its table (the settings do not change a cloud's tiers)."""

    def compile_pools(tier: str, machines: Machines | None, settings: object) -> tuple[Pool, ...]:
        if tier == "CUSTOM" and machines is not None:
            return tuple(_pool(role, group) for role, group in declared_roles(machines))
        return tiers[tier]

    return compile_pools


compile_pools = tier_compiler(TIERS)
