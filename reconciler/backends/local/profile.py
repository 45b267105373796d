"""The local backend's profile: distributed tiers as local processes, no tuning yet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.backends.profile import Capability, Missing, Profile
from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    from reconciler.backends import compiled
    from reconciler.backends.compiled import Pool
    from reconciler.stack.resources import LocalSettings, Machines
else:
    compiled = LazyModule("reconciler.backends.compiled")

_DISTRIBUTED = frozenset({"STANDARD_1", "PREMIUM_1"})


def compile_pools(tier: str, machines: Machines | None, local: LocalSettings) -> tuple[Pool, ...]:
    """One process per replica: CUSTOM as declared, STANDARD_1 and PREMIUM_1 in the
    Stack's ``local.replicas`` shape (the machine cannot hold the cloud's), any
    other tier one chief."""
    pool, role = compiled.Pool, compiled.Role
    if tier == "CUSTOM" and machines is not None:
        return tuple(pool(r, group.count) for r, group in compiled.declared_roles(machines))
    shape = [(role.CHIEF, 1)]
    if tier in _DISTRIBUTED:
        shape += [
            (role.WORKER, local.workers),
            (role.PARAMETER_SERVER, local.parameter_servers),
            (role.EVALUATOR, local.evaluators),
        ]
    return tuple(pool(r, count) for r, count in shape if count > 0)


PROFILE = Profile(
    name="local",
    title="the local backend",
    compile_pools=compile_pools,
    lacks={
        Capability.TUNING: Missing(
            "hyperparameter tuning jobs do not run on the local backend yet",
            "run the tuning job on backend: vertex, or train fixed hyperparameters locally",
        ),
    },
)
