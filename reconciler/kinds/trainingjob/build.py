"""A TrainingJob document as its record, and the checks the schema cannot make.

Build checks the tier against its machines, the tuning spec the APIs would
reject (``tuning.spec``), hyperparameters that clash with the trainer's own
flags, and what the backend cannot do (tune, run this runtime, give these
machines, run this image, or run it much longer: its end of availability).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.backends import registry
from reconciler.backends.profile import TrainingCheck, today
from reconciler.kinds.trainingjob import keras3
from reconciler.lazy import LazyModule
from reconciler.stack.build import BuildContext, Reference, parse_duration, training_image
from reconciler.stack.resources import (
    DEFAULT_TIMEOUT_SECONDS,
    Accelerator,
    Dataset,
    MachineGroup,
    Machines,
    Meta,
    Trainer,
    TrainingJob,
)
from reconciler.tuning import spec as tuning_spec

if TYPE_CHECKING:
    from reconciler.backends import facets
    from reconciler.backends.compiled import Pool
    from reconciler.manifests import LoadedDocument
else:
    facets = LazyModule("reconciler.backends.facets")

UPDATABLE = frozenset({"labels"})
"""What the backend can change in place; anything else is a new job."""
DEFAULT_MAX_RESUBMITS = 3
# What the runner (and the cloud) set for every task, which spec.env may not override.
RESERVED_ENV = frozenset({"TF_CONFIG", "CLUSTER_SPEC"})
RESERVED_ENV_PREFIXES = ("CLOUD_ML_", "AIP_")


def build(ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> TrainingJob:
    settings = ctx.stack_settings()
    profile = registry.profile(settings.backend)
    doc = loaded.doc
    spec = doc.data["spec"]
    tier = spec.get("scaleTier", settings.scale_tier)
    machines = None
    if "machines" in spec:
        machines = _machines(spec["machines"])
        if tier != "CUSTOM":
            ctx.report(
                f"spec.machines is only allowed with scaleTier CUSTOM (this job's tier is {tier})",
                doc.key_at(("spec", "machines")),
                "set scaleTier: CUSTOM, or remove spec.machines",
            )
    elif tier == "CUSTOM":
        ctx.report(
            "scaleTier CUSTOM needs spec.machines",
            doc.at(("spec", "scaleTier")) if "scaleTier" in spec else doc.at(("spec",)),
            "add spec.machines with at least master: {type: n1-standard-4}",
        )
    tuning = None
    if "hyperparameterTuning" in spec:
        tuning = tuning_spec.build(
            ctx, loaded, spec["hyperparameterTuning"], spec.get("hyperparameters", {})
        )
        studies = facets.Facet.STUDIES
        if not registry.provides(settings.backend, studies):
            refused = registry.refusal(settings.backend, studies)
            ctx.report(
                f"backend {settings.backend} cannot run {studies.title}: {refused.message}",
                doc.key_at(("spec", "hyperparameterTuning")),
                refused.hint,
            )
    runtime = spec.get("runtimeVersion", settings.runtime_version)
    python = spec.get("pythonVersion", settings.python_version)
    problem = profile.training_problem(runtime, python)
    if problem:
        ctx.report(
            problem,
            doc.at(("spec", "runtimeVersion" if "runtimeVersion" in spec else "pythonVersion")),
            profile.training_hint or None,
        )
    env = dict(spec.get("env", {}))
    for variable in env:
        if variable in RESERVED_ENV or variable.startswith(RESERVED_ENV_PREFIXES):
            ctx.report(
                f"spec.env cannot set {variable}: mlapply sets it for every task",
                doc.key_at(("spec", "env", variable)),
                "rename the variable; the cluster, trial and output locations come "
                "from TF_CONFIG, CLOUD_ML_* and AIP_* as on the cloud",
            )
    timeout = parse_duration(spec["timeout"]) if "timeout" in spec else DEFAULT_TIMEOUT_SECONDS
    if timeout <= 0:
        ctx.report("spec.timeout must be longer than 0s", doc.at(("spec", "timeout")))
    return TrainingJob(
        meta=meta,
        trainer=spec["trainer"],
        dataset=spec.get("dataset"),
        hyperparameters=dict(spec.get("hyperparameters", {})),
        args=tuple(spec.get("args", ())),
        scale_tier=tier,
        machines=machines,
        region=spec.get("region", settings.region),
        runtime_version=runtime,
        python_version=python,
        output_dir=spec.get("outputDir"),
        tuning=tuning,
        max_attempts=spec.get("retry", {}).get("maxAttempts", 1),
        max_resubmits=spec.get("retry", {}).get("maxResubmits", DEFAULT_MAX_RESUBMITS),
        timeout_seconds=timeout,
        env=env,
        image=training_image(ctx, loaded, spec),
    )


def references(job: TrainingJob) -> Iterable[Reference]:
    yield Reference(("spec", "trainer"), Trainer.kind, job.trainer)
    if job.dataset:
        yield Reference(("spec", "dataset"), Dataset.kind, job.dataset)


def check(ctx: BuildContext) -> None:
    """Hyperparameters may not repeat a flag mlapply passes itself, and a job's cluster
    may not need a role its trainer says it cannot run, nor machines or an image the
    backend does not offer."""
    trainers: Mapping[str, Trainer] = ctx.built[Trainer.kind]
    settings = ctx.stack_settings()
    compile_pools = registry.profile(settings.backend).compile_pools
    scanned: dict[Path, bool] = {}
    for name, job in ctx.built[TrainingJob.kind].items():
        trainer = trainers.get(job.trainer)
        if trainer is None:
            continue
        pools = compile_pools(job.scale_tier, job.machines, settings.backend_settings)
        _check_roles(ctx, name, job, trainer, pools)
        _check_machines(ctx, name, job, trainer, pools)
        keras = keras3.problem(job, trainer, pools, scanned)
        if keras is not None:
            doc = ctx.documents[TrainingJob.kind][name].doc
            named = "runtimeVersion" in doc.data["spec"]
            where = doc.at(("spec", "runtimeVersion")) if named else doc.key_at(("spec",))
            ctx.warn(keras[0], where, keras[1])
        taken = {f.lstrip("-") for f in trainer.flags if f}
        tuned = [p.name for p in job.tuning.params] if job.tuning else []
        for hyper in [*job.hyperparameters, *tuned]:
            if hyper in taken:
                ctx.report(
                    f'hyperparameter "{hyper}" repeats a flag mlapply already passes '
                    f'(the trainer "{trainer.meta.name}" takes it for its inputs)',
                    ctx.documents[TrainingJob.kind][name].doc.key_at(
                        ("spec", "hyperparameters", hyper)
                    ),
                    "mlapply sets the data, output and job-dir flags itself: rename the "
                    "hyperparameter or change spec.flags in the Trainer",
                )


def _check_machines(
    ctx: BuildContext, name: str, job: TrainingJob, trainer: Trainer, pools: Sequence[Pool]
) -> None:
    """The machines and the image the job would get, against the backend's catalogue
    (validate tells before anything is submitted)."""
    settings = ctx.stack_settings()
    profile = registry.profile(settings.backend)
    doc = ctx.documents[TrainingJob.kind][name].doc
    spec = doc.data["spec"]
    for pool in pools:
        problem = profile.machine_problem(pool)
        if problem:
            role = pool.role.manifest_name
            where = (
                doc.at(("spec", "machines", role, "type"))
                if job.machines is not None
                else doc.at(("spec", "scaleTier"))
                if "scaleTier" in spec
                else doc.at(("spec",))
            )
            ctx.report(problem, where, "choose a machine type and accelerator the backend offers")
    if not profile.runs_images:
        if trainer.source is None and not trainer.package_uris:
            ctx.report(
                f'the trainer "{trainer.meta.name}" is only an image (spec.container), '
                f"and backend {settings.backend} runs a trainer's package",
                doc.at(("spec", "trainer")),
                "give the Trainer spec.source (its package directory) too",
            )
        return
    image = job.image or trainer.image
    verdict = profile.training_check(
        TrainingCheck(job.runtime_version, job.python_version, pools, image, today())
    )
    if verdict is None:
        return
    if job.image is not None:
        key = "container" if job.image.container else "executorImage"
        where = doc.at(("spec", key))
    elif trainer.image is not None:
        trainer_doc = ctx.documents[Trainer.kind][trainer.meta.name].doc
        key = "container" if trainer.image.container else "executorImage"
        where = trainer_doc.at(("spec", key))
    else:
        named = next((k for k in ("runtimeVersion", "pythonVersion") if k in spec), None)
        where = doc.at(("spec", named)) if named else doc.key_at(("spec",))
    (ctx.report if verdict.error else ctx.warn)(verdict.message, where, verdict.hint)


def _check_roles(
    ctx: BuildContext, name: str, job: TrainingJob, trainer: Trainer, pools: Sequence[Pool]
) -> None:
    if trainer.roles is None:
        return
    refused = [p for p in pools if p.role.manifest_name not in trainer.roles]
    if not refused:
        return
    doc = ctx.documents[TrainingJob.kind][name].doc
    spec = doc.data["spec"]
    what = ", ".join(p.describe() for p in refused)
    ctx.report(
        f'the trainer "{trainer.meta.name}" runs only as {", ".join(sorted(trainer.roles))} '
        f"(its spec.roles), but scale tier {job.scale_tier} needs {what} here",
        doc.at(("spec", "scaleTier")) if "scaleTier" in spec else doc.at(("spec",)),
        "use a tier of those roles (BASIC, or CUSTOM with machines of those roles), "
        "or a trainer that runs them",
    )


def _machine(spec: Mapping[str, Any], count: int | None = None) -> MachineGroup:
    accel = spec.get("accelerator")
    return MachineGroup(
        type=spec["type"],
        count=count if count is not None else spec["count"],
        accelerator=Accelerator(accel["type"], accel.get("count", 1)) if accel else None,
    )


def _machines(spec: Mapping[str, Any]) -> Machines:
    def group(key: str) -> MachineGroup | None:
        found = spec.get(key)
        return _machine(found) if found and found["count"] > 0 else None

    return Machines(
        master=_machine(spec["master"], count=1),
        worker=group("worker"),
        parameter_server=group("parameterServer"),
        evaluator=group("evaluator"),
    )
