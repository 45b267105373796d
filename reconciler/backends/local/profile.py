"""The local backend's profile: distributed tiers as local processes, real TensorFlow
runtimes for the Pythons of this machine (``runtimes``), and studies whose
parallel trials are bounded by this machine's CPUs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

from reconciler.backends.facets import Facet
from reconciler.backends.local import runtimes
from reconciler.backends.local.settings import LocalSettings
from reconciler.backends.profile import Missing, Profile, RuntimeNote
from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    from reconciler.backends import compiled
    from reconciler.backends.compiled import Pool
    from reconciler.stack.resources import Machines
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


def trial_slots(pools: Sequence[Pool]) -> int:
    """How many trials run at once here: one process of a trial per CPU."""
    processes = max(1, sum(pool.replicas for pool in pools))
    return max(1, (os.cpu_count() or 1) // processes)


def training_problem(runtime: str, python: str) -> str | None:
    found = runtimes.resolve(runtime, python)
    return found if isinstance(found, str) else None


def describe_runtime(runtime: str, python: str) -> RuntimeNote | None:
    found = runtimes.resolve(runtime, python)
    if isinstance(found, str):
        return None
    return RuntimeNote(found.describe(), found.key, runtimes.BUILT_SIZE, found.mapped)


PROFILE = Profile(
    name="local",
    title="the local backend",
    compile_pools=compile_pools,
    training_problem=training_problem,
    training_hint=(
        f"with pythonVersion {runtimes.this_python()}, runtimeVersion "
        f"{runtimes.versions_for(runtimes.this_python())} run as asked, and older 2.x ones "
        "on the oldest of those"
    ),
    describe_runtime=describe_runtime,
    default_python=runtimes.this_python(),
    trial_slots=trial_slots,
    job_nodes=lambda pools: 1,  # every process runs on this machine
    serving_cost="mlapply serve runs on this machine while you run it: no recurring cost",
    explains={
        Facet.PREDICTIONS: Missing(
            "the local backend's versions are SavedModels on this machine: mlapply predict "
            "runs them in-process, and mlapply serve serves them",
            "mlapply serve PATH, then send requests to it",
        ),
    },
    # reconciler.tuning.search and .study say why these stand in for the cloud's.
    search_phrases=MappingProxyType(
        {
            "BAYESIAN": "Bayesian optimisation (the service's default; here Optuna's TPE sampler)",
            "GRID_SEARCH": "grid search, each combination once in order",
            "RANDOM_SEARCH": "random search (Optuna's random sampler)",
            "EARLY_STOPPING": "early stopping by the median rule",
        }
    ),
)
