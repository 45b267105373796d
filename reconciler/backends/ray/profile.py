"""The Ray backend's profile: a job's replicas as tasks of CPUs on the cluster, the
cluster's own Python environment, and what this backend does not do yet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.backends.facets import Facet
from reconciler.backends.profile import Missing, Profile, RuntimeNote
from reconciler.backends.ray.settings import URI, RaySettings
from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    from reconciler.backends import compiled
    from reconciler.backends.compiled import Pool
    from reconciler.stack.resources import Machines, StackSettings
else:
    compiled = LazyModule("reconciler.backends.compiled")

# Cloud ML Engine's replica counts of its distributed tiers ("Specifying machine
# types or scale tiers", cloud.google.com/ai-platform/training/docs/machine-types,
# checked 2026-12-02; also mlengine/catalogue.py): each replica a task here.
_TIERS = {
    "STANDARD_1": ((1, 4, 3)),
    "PREMIUM_1": ((1, 19, 11)),
}
_ACCELERATED = frozenset({"BASIC_GPU", "BASIC_TPU"})


def cpus(count: float) -> str:
    """A replica's shape, as pools name machines: ``1 CPU``, ``2.5 CPUs``."""
    return f"{count:g} CPU{'' if count == 1 else 's'}"


def compile_pools(tier: str, machines: Machines | None, ray: RaySettings) -> tuple[Pool, ...]:
    """A task of ``cpusPerReplica`` CPUs per replica: CUSTOM as declared, the cloud's
    distributed tiers in its replica counts, any other tier one chief."""
    pool, role = compiled.Pool, compiled.Role
    shape = cpus(ray.cpus_per_replica)
    if tier == "CUSTOM" and machines is not None:
        return tuple(pool(r, g.count, shape) for r, g in compiled.declared_roles(machines))
    chief, workers, servers = _TIERS.get(tier, (1, 0, 0))
    counts = [(role.CHIEF, chief), (role.WORKER, workers), (role.PARAMETER_SERVER, servers)]
    return tuple(pool(r, n, shape) for r, n in counts if n)


def machine_problem(pool: Pool) -> str | None:
    if pool.accelerator is not None:
        return "the ray backend asks the cluster for CPUs only (accelerators: not yet)"
    return None


def describe_runtime(runtime: str, python: str) -> RuntimeNote:
    return RuntimeNote(
        f"the cluster's own TensorFlow: {runtime}, or a newer 2.x with the same Keras (the "
        "job checks at its start and stops with the reason otherwise)"
    )


def settings_problem(settings: StackSettings) -> str | None:
    ray = settings.backend_settings
    if isinstance(ray, RaySettings) and URI.match(ray.storage):
        return (
            f"spec.ray.storage {ray.storage}: the ray backend reads and writes its storage "
            "as a folder on every node and this machine, not as object storage (yet): mount "
            "the bucket at the same path everywhere (gcsfuse, s3fs, a CSI volume on KubeRay) "
            "and give that path"
        )
    return None


PROFILE = Profile(
    name="ray",
    title="a Ray cluster (Jobs API)",
    compile_pools=compile_pools,
    machine_problem=machine_problem,
    describe_runtime=describe_runtime,
    default_python="3.11",
    settings_problem=settings_problem,
    explains={
        Facet.TENSORBOARD: Missing(
            "a ray job's summaries are in the stack's storage folder",
            "run tensorboard --logdir on that folder",
        ),
        Facet.LOCAL_MODELS: Missing(
            "the ray backend's versions serve on the cluster (Ray Serve), not here",
            "send predictions to the cluster: mlapply predict, or the URL it prints",
        ),
    },
)
