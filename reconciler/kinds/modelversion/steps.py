"""A ModelVersion's apply step: the only part of the kind that acts.

It reads the job it deploys once, finds that job's export, judges the gate
against the model's default as the plan read it, deploys the compiled version
through the backend's ``Serving`` facet, makes it the default if asked (through
its rollout's steps, when it has one: ``rollout_step``), and only then deletes
the older versions.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from reconciler.backends import facets, registry
from reconciler.kinds.base import ApplyContext, StepFailed, StepHeld
from reconciler.kinds.modelversion.identity import compiled_version
from reconciler.kinds.modelversion.rolling import rollout_step
from reconciler.kinds.modelversion.sources import default_figure, reporter, source_live_name
from reconciler.lazy import LazyModule
from reconciler.stack.resources import Stack

if TYPE_CHECKING:
    import reconciler.backends.base as records
    import reconciler.plan.model as plans
    from reconciler.backends import recorded
    from reconciler.backends.base import LiveJob
    from reconciler.identity.desired import DesiredResource
    from reconciler.plan.model import Change
    from reconciler.tuning import gates
else:
    gates = LazyModule("reconciler.tuning.gates")
    plans = LazyModule("reconciler.plan.model")
    recorded = LazyModule("reconciler.backends.recorded")
    records = LazyModule("reconciler.backends.base")


def apply(change: Change, ctx: ApplyContext) -> str:
    want = ctx.desired.get(change.address)
    if change.action is plans.Action.DELETE or want is None:
        _delete(change, ctx)
        return "deleted " + ", ".join(t.live_name for t in change.live_targets)
    assert change.live_name is not None
    version = compiled_version(want)
    record = records.LiveVersion(
        change.live_name,
        want.live_labels(ctx.stack.name),
        model=version.model,
        state=records.VersionState.READY,
        description=want.mutable["description"],
        spec=want.record(),
    )
    serving = registry.facet(ctx.backend, facets.Serving)
    # A version waiting for its job is created once the job has trained.
    if change.action in (plans.Action.CREATE, plans.Action.REPLACE, plans.Action.WAIT):
        job = _trained_job(want, ctx)
        export = _export(want, ctx, job)
        if export is None:
            return "not deployed yet: its job is still running (a later apply deploys it)"
        judged = _judge(want, ctx, job)
        if judged is not None and not judged.holds:
            raise StepHeld(
                f"{judged.text}; not deployed, and what serves now goes on serving",
                "train a better model, or change the gate",
            )
        if job is not None:
            deployed = recorded.Deployed(job.name, dict(job.metrics), job.best_trial)
            spec = recorded.with_deployed(want.record(), deployed)
            record = dataclasses.replace(record, spec=spec)
        serving.deploy_version(records.VersionDeployment(record, version, export))
    elif change.action is plans.Action.UPDATE:
        serving.update_version(record)
    rolled = rollout_step(change, ctx, record)
    if rolled is not None:
        return rolled
    if want.mutable["default"]:
        serving.set_default(version.model, change.live_name)
    _delete(change, ctx)  # older versions go only now that the new one serves
    return f"{change.live_name} serves" + (" (default)" if want.mutable["default"] else "")


def next_step(change: Change, stack: Stack, paths: str) -> str | None:
    version = stack.versions.get(change.name)
    if version is None or version.address != change.address:
        return None
    if change.action not in (plans.Action.CREATE, plans.Action.REPLACE, plans.Action.UPDATE):
        return None
    backend = stack.settings.backend
    if not (
        registry.provides(backend, facets.Facet.LOCAL_MODELS)
        or registry.provides(backend, facets.Facet.PREDICTIONS)
    ):
        return None
    return (
        f"Predict with version {change.name}: mlapply predict {version.model} {paths} "
        "--json-instances FILE (or --instances JSON)"
    )


def _delete(change: Change, ctx: ApplyContext) -> None:
    serving = registry.facet(ctx.backend, facets.Serving)
    for target in change.live_targets:
        serving.delete_version(target.model or "", target.live_name)


def _trained_job(want: DesiredResource[Any], ctx: ApplyContext) -> LiveJob | None:
    """The job a version deploys, read now (once): it may have trained in this apply."""
    name = source_live_name(want, ctx.stack, ctx.changes)
    if name is None:
        return None
    return registry.facet(ctx.backend, facets.Jobs).get_job(ctx.stack.name, name)


def _judge(
    want: DesiredResource[Any], ctx: ApplyContext, job: LiveJob | None
) -> gates.Judgement | None:
    gate = ctx.stack.versions[want.name].gate
    if gate is None or job is None:
        return None
    # The model's default as the plan read it (what the reviewed plan compared with).
    model = next((m for m in ctx.live.models if m.name == compiled_version(want).model), None)
    default = default_figure(gate, model, ctx.live.versions)
    return gates.judge(gate, job.metrics, reporter(job), default)


def _export(want: DesiredResource[Any], ctx: ApplyContext, job: LiveJob | None) -> str | None:
    """Where the SavedModel to deploy is: the URI, or the source job's export
    (None while that job still runs under --no-wait)."""
    version = compiled_version(want)
    if version.uri is not None:
        if version.uri.startswith("gs://"):
            return version.uri
        source = ctx.stack.versions[want.name].source
        return str((source.base_dir or ctx.stack.settings.root) / version.uri)
    if job is None or job.state is not records.JobState.SUCCEEDED:
        if job is not None and job.state.active and not ctx.wait_for_jobs:
            return None
        state = job.state.value.lower() if job else "missing"
        name = source_live_name(want, ctx.stack, ctx.changes)
        raise StepFailed(f"cannot deploy: job {name} is {state}")
    jobs = registry.facet(ctx.backend, facets.Jobs)
    return jobs.export_of(ctx.stack.name, job, version.export_path)
