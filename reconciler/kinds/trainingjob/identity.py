"""A TrainingJob's identity: compiled once (``CompiledJob``), with its trainer's and its
data's fingerprints; the hash is of ``CompiledJob.essence()``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    import reconciler.backends.compiled as compiled_jobs
    import reconciler.identity.desired as desired_state
    from reconciler.backends.compiled import CompiledJob
    from reconciler.identity import canonical
    from reconciler.identity.content import Fingerprint
    from reconciler.identity.desired import DesiredResource
    from reconciler.kinds.base import IdentityContext
    from reconciler.stack.resources import TrainingJob
else:
    canonical = LazyModule("reconciler.identity.canonical")
    compiled_jobs = LazyModule("reconciler.backends.compiled")
    desired_state = LazyModule("reconciler.identity.desired")


def job_live_name(name: str, hash_: str, attempt: int = 1) -> str:
    """``taxifare_dnn_<hash8>``; a retry's attempt N ends ``_N``."""
    base = f"{desired_state.id_name(name)}_{hash_}"
    return base if attempt <= 1 else f"{base}_{attempt}"


def compiled_job(want: DesiredResource[Any]) -> CompiledJob:
    return desired_state.compiled_as(want, compiled_jobs.CompiledJob)


def identify(job: TrainingJob, ctx: IdentityContext) -> DesiredResource[CompiledJob]:
    stack = ctx.stack
    trainer = stack.trainers[job.trainer]
    dataset = stack.datasets.get(job.dataset) if job.dataset else None
    source: Fingerprint | None = ctx.facts.get(trainer.address)
    prints: Mapping[str, Fingerprint] = ctx.facts.get(dataset.address, {}) if dataset else {}
    compiled = compiled_jobs.CompiledJob(
        name=job.meta.name,
        trainer=trainer.meta.name,
        module=trainer.module,
        source=trainer.source,
        source_excluded=source.excluded if source else frozenset(),
        package_uris=trainer.package_uris,
        flags=trainer.flags,
        inputs=(
            compiled_jobs.Inputs(dataset.meta.name, dataset.train, dataset.eval, dataset.base_dir)
            if dataset
            else None
        ),
        hyperparameters=job.hyperparameters,
        args=job.args,
        scale_tier=job.scale_tier,
        pools=ctx.pools(job.scale_tier, job.machines),
        region=job.region,
        runtime_version=job.runtime_version,
        python_version=job.python_version,
        timeout_seconds=job.timeout_seconds,
        tuning=job.tuning,
        env=job.env,
        layout=compiled_jobs.OutputLayout(job.output_dir, ctx.profile.trial_output),
        image=job.image or trainer.image,
        source_digest=source.digest if source else None,
        data=prints,
    )
    essence = compiled.essence()
    hash_ = canonical.short(canonical.digest(essence))
    return desired_state.DesiredResource(
        address=job.address,
        kind=job.kind,
        name=job.meta.name,
        live_name=job_live_name(job.meta.name, hash_),
        hash=hash_,
        compiled=compiled,
        essence=essence,
        mutable={"labels": dict(job.meta.labels)},
        details={
            # Shared, not copied: every job of a trainer has the same file list.
            "trainer_files": source.files if source else {},
            "data_files": {side: p.files for side, p in prints.items()},
            # Which Trainer it ran: a forecast learns from the trainer's other jobs.
            "trainer": trainer.meta.name,
        },
        prevent_destroy=job.meta.prevent_destroy,
    )
