"""The local backend's profile: distributed tiers as local processes, no tuning yet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.backends.profile import Capability, Missing, Profile

if TYPE_CHECKING:
    from reconciler.backends.compiled import Pool
    from reconciler.stack.resources import LocalSettings, Machines

_DISTRIBUTED = frozenset({"STANDARD_1", "PREMIUM_1"})


def compile_pools(tier: str, machines: Machines | None, local: LocalSettings) -> tuple[Pool, ...]:
    """One process per replica: CUSTOM as declared, STANDARD_1 and PREMIUM_1 in the
    Stack's ``local.replicas`` shape (the machine cannot hold the cloud's), any
    other tier one chief."""
    from reconciler.backends.compiled import Pool, Role, declared_roles

    if tier == "CUSTOM" and machines is not None:
        return tuple(Pool(role, group.count) for role, group in declared_roles(machines))
    shape = [(Role.CHIEF, 1)]
    if tier in _DISTRIBUTED:
        shape += [
            (Role.WORKER, local.workers),
            (Role.PARAMETER_SERVER, local.parameter_servers),
            (Role.EVALUATOR, local.evaluators),
        ]
    return tuple(Pool(role, count) for role, count in shape if count > 0)


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
