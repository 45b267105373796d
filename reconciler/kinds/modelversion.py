"""The ModelVersion kind: a trained SavedModel served as a version of a Model.

A version is created once its source job has succeeded (create-before-delete:
the new one serves before older versions of the same manifest go), made the
default if asked, and its older versions are deleted after it serves. Blocked
on a running job it waits; on a failed one it is not deployed, and the plan
says why. A live version no manifest declares (or left under another model)
is deleted, the model's live default only once the declared default serves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.backends import facets, registry
from reconciler.kinds.base import ApplyContext, IdentityContext, LiveHandler, StepFailed
from reconciler.kinds.model import live_models
from reconciler.kinds.trainingjob import live_jobs
from reconciler.lazy import LazyModule
from reconciler.stack.build import BuildContext, Reference
from reconciler.stack.resources import (
    DEFAULT_MACHINE_TYPE,
    Gate,
    Meta,
    Model,
    ModelVersion,
    Scaling,
    ServingContainer,
    Stack,
    TrainingJob,
    VersionSource,
    address,
)

if TYPE_CHECKING:
    import reconciler.backends.base as records
    import reconciler.backends.profile as profiles
    import reconciler.identity.desired as desired_state
    import reconciler.plan.fields as field_diffs
    import reconciler.plan.model as plans
    from reconciler.backends.base import LiveJob, LiveModel, LiveVersion
    from reconciler.identity import canonical
    from reconciler.identity.desired import DesiredResource
    from reconciler.manifests import LoadedDocument
    from reconciler.plan import phrases
    from reconciler.plan.diff import PlanView
    from reconciler.plan.model import (
        Action,
        Change,
        FieldChange,
        LiveTarget,
        Reason,
    )
    from reconciler.tuning import gates
else:
    canonical = LazyModule("reconciler.identity.canonical")
    desired_state = LazyModule("reconciler.identity.desired")
    field_diffs = LazyModule("reconciler.plan.fields")
    phrases = LazyModule("reconciler.plan.phrases")
    plans = LazyModule("reconciler.plan.model")
    profiles = LazyModule("reconciler.backends.profile")
    records = LazyModule("reconciler.backends.base")
    gates = LazyModule("reconciler.tuning.gates")

_MUTABLE = ("labels", "description", "default")


class ModelVersionHandler(LiveHandler):
    record = ModelVersion
    updatable = frozenset(_MUTABLE)

    # Build ---------------------------------------------------------------------------

    def build(self, ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> ModelVersion:
        settings = ctx.stack_settings()
        spec = loaded.doc.data["spec"]
        source = spec["source"]
        job: TrainingJob | None = ctx.built[TrainingJob.kind].get(source.get("job", ""))
        runtime = job.runtime_version if job else settings.runtime_version
        python = job.python_version if job else settings.python_version
        scaling = spec.get("scaling", {})
        if "nodes" in scaling:
            scale = Scaling(min_nodes=None, max_nodes=None, nodes=scaling["nodes"])
        else:
            scale = Scaling(min_nodes=scaling.get("minNodes", 1), max_nodes=scaling.get("maxNodes"))
            if scale.max_nodes is not None and (scale.min_nodes or 0) > scale.max_nodes:
                ctx.report(
                    f"scaling: minNodes {scale.min_nodes} is more than maxNodes {scale.max_nodes}",
                    loaded.doc.at(("spec", "scaling", "minNodes")),
                )
        runtime = spec.get("runtimeVersion", runtime)
        profile = registry.profile(settings.backend)
        container = _serving_container(spec.get("servingContainer"))
        verdict = profile.serving_check(runtime, container, profiles.today())
        if verdict is not None:
            key = (
                ("servingContainer", "image")
                if container is not None
                else ("runtimeVersion",)
                if "runtimeVersion" in spec
                else ("source",)
            )
            (ctx.report if verdict.error else ctx.warn)(
                verdict.message, loaded.doc.at(("spec", *key)), verdict.hint
            )
        gate = _gate(ctx, loaded, spec, job, profile) if "gate" in spec else None
        return ModelVersion(
            meta=meta,
            model=spec["model"],
            source=VersionSource(
                source.get("job"),
                source.get("exportPath"),
                source.get("uri"),
                loaded.file.path.parent,
            ),
            default=spec.get("default", False),
            description=spec.get("description", ""),
            runtime_version=runtime,
            python_version=spec.get("pythonVersion", python),
            framework=spec.get("framework", "TENSORFLOW"),
            machine_type=spec.get("machineType", DEFAULT_MACHINE_TYPE),
            scaling=scale,
            serving_container=container,
            gate=gate,
        )

    def references(self, resource: Any) -> Iterable[Reference]:
        version: ModelVersion = resource
        yield Reference(("spec", "model"), Model.kind, version.model)
        if version.source.job:
            yield Reference(("spec", "source", "job"), TrainingJob.kind, version.source.job)

    def check(self, ctx: BuildContext) -> None:
        """A model has at most one default version."""
        first_default: dict[str, str] = {}
        for name, version in ctx.built[ModelVersion.kind].items():
            if not version.default:
                continue
            if version.model in first_default:
                other = first_default[version.model]
                ctx.report(
                    f'model "{version.model}" has two default versions: "{other}" and "{name}"',
                    ctx.documents[ModelVersion.kind][name].doc.at(("spec", "default")),
                    "a model has at most one default version: set default: true on one only",
                )
            else:
                first_default[version.model] = name

    # Identity ------------------------------------------------------------------------

    def identify(self, resource: Any, ctx: IdentityContext) -> DesiredResource:
        version: ModelVersion = resource
        stack = ctx.stack
        source: dict[str, Any]
        depends = [stack.models[version.model].address]
        if version.source.job:
            job: DesiredResource = ctx.facts[stack.jobs[version.source.job].address]
            source = {"job": job.live_name, "exportPath": version.source.export_path}
            depends.append(job.address)
        else:
            source = {"uri": version.source.uri}
        scaling = version.scaling
        essence = {
            "model": desired_state.id_name(version.model),
            "source": source,
            "runtimeVersion": version.runtime_version,
            "pythonVersion": version.python_version,
            "framework": version.framework,
            "machineType": version.machine_type,
            "scaling": {
                "minNodes": scaling.min_nodes,
                "maxNodes": scaling.max_nodes,
                "nodes": scaling.nodes,
            },
            # Only when set, so the identity of a version without one stays what it was.
            **(
                {"servingContainer": version.serving_container.essence()}
                if version.serving_container
                else {}
            ),
        }
        hash_ = canonical.short(canonical.digest(essence))
        return desired_state.DesiredResource(
            address=version.address,
            kind=ModelVersion.kind,
            name=version.meta.name,
            live_name=f"{desired_state.id_name(version.meta.name)}_{hash_}",
            hash=hash_,
            essence=essence,
            mutable={
                "labels": dict(version.meta.labels),
                "description": version.description,
                "default": version.default,
            },
            depends_on=tuple(depends),
            prevent_destroy=version.meta.prevent_destroy,
        )

    # Plan ----------------------------------------------------------------------------

    def plan(self, want: DesiredResource, view: PlanView) -> Change:
        model_live = str(want.essence["model"])
        versions = [v for v in live_versions(view).get(want.name, []) if v.model == model_live]
        # One of this identity that does not serve yet is created (deployed) again.
        current = next(
            (v for v in versions if v.hash == want.hash and v.state is records.VersionState.READY),
            None,
        )
        older = [v for v in versions if v.hash != want.hash]
        model = live_models(view).get(model_live)
        after = {**want.essence, **want.mutable}
        targets = _default_last(older, model)
        if current is not None:
            return self._existing(want, view, current, model, older, targets, after)

        blocked = _source_blocker(want, view)
        if blocked is not None:
            action, why = blocked
            # Waiting: apply deploys it once the job has trained, then removes the older ones.
            return view.change(
                want,
                action,
                after=after,
                reasons=(why,),
                depends=want.depends_on,
                targets=targets if action is plans.Action.WAIT else (),
            )
        reasons: list[Reason] = []
        held = _gate_reason(want, view, model)
        if held is not None and held[0] is not None:
            # Held: not deployed, and what serves now goes on serving.
            return view.change(
                want, plans.Action.BLOCKED, after=after, reasons=(held[0],), depends=want.depends_on
            )
        before = None
        fields: list[FieldChange] = []
        if older:
            newest = max(older, key=lambda v: (v.create_time or 0.0, v.name))
            before = {**(_spec_view(newest) or {}), **_mutable_view(newest, model)}
            fields = field_diffs.field_changes(before, after, self.updatable)
            reasons.extend(
                plans.Reason(plans.ReasonCode.FIELD_CHANGED, field_diffs.describe(f))
                for f in fields
                if f.forces_replacement
            )
            names = ", ".join(v.name for v in older)
            reasons.append(
                plans.Reason(
                    plans.ReasonCode.DELETES_OLDER,
                    f"then {names} deleted once the new version serves",
                )
            )
            action = plans.Action.REPLACE
            view.protect(want, action, targets)
        else:
            action = plans.Action.CREATE
            reasons.append(plans.Reason(plans.ReasonCode.NEW, _what_it_deploys(want, view)))
        if held is not None:
            reasons.append(held[1])
        if want.mutable["default"]:
            text = "becomes the default version of model " + model_live
            reasons.append(plans.Reason(plans.ReasonCode.FIELD_CHANGED, text))
        return view.change(
            want,
            action,
            before=before,
            after=after,
            fields=fields,
            reasons=reasons,
            depends=want.depends_on,
            targets=targets,
            replace_order=plans.ReplaceOrder.CREATE_BEFORE_DELETE,
        )

    def _existing(
        self,
        want: DesiredResource,
        view: PlanView,
        current: LiveVersion,
        model: LiveModel | None,
        older: Sequence[LiveVersion],
        targets: Sequence[LiveTarget],
        after: Mapping[str, Any],
    ) -> Change:
        # Same hash, same essence: no need to decode the live record's spec.

        before = {**want.essence, **_mutable_view(current, model)}
        fields = [
            f
            for f in field_diffs.field_changes(
                {k: before[k] for k in _MUTABLE}, {k: after[k] for k in _MUTABLE}, self.updatable
            )
            # The API cannot unset a default; a version stays default until another takes over.
            if not (f.path == ("default",) and f.before is True and f.after is False)
        ]
        reasons = [
            plans.Reason(plans.ReasonCode.FIELD_CHANGED, field_diffs.describe(f)) for f in fields
        ]
        drift = False
        if want.mutable["default"] and model is not None and model.default_version != current.name:
            # Was it default when mlapply last wrote it? Then someone switched it since.
            drift = (current.spec or {}).get("mutable", {}).get("default") is True
            shown = model.default_version or "(none)"
            switch = (
                plans.Reason(
                    plans.ReasonCode.CHANGED_OUTSIDE,
                    f"changed outside mlapply: the default version of {model.name} is "
                    f"{shown}, the manifests say {current.name}",
                )
                if drift
                else plans.Reason(
                    plans.ReasonCode.FIELD_CHANGED,
                    f"becomes the default version of {model.name} (instead of {shown})",
                )
            )
            reasons = [
                switch if f.path == ("default",) else r
                for f, r in zip(fields, reasons, strict=True)
            ]
        action = plans.Action.UPDATE if fields else plans.Action.NOOP
        if older:
            names = ", ".join(v.name for v in older)
            reasons.append(
                plans.Reason(
                    plans.ReasonCode.DELETES_OLDER, f"older {names} still deployed: deleted"
                )
            )
            view.protect(want, plans.Action.DELETE, targets)
            if action is plans.Action.NOOP:
                action = plans.Action.DELETE
        return view.change(
            want,
            action,
            live_name=current.name,
            before=before,
            after=after,
            fields=fields,
            reasons=reasons,
            targets=targets,
            drift=drift,
        )

    def removed(self, view: PlanView) -> list[Change]:
        desired = view.desired.resources
        # A declared version's live model; versions left under another model go too.
        declared = {
            v.meta.name: desired[v.address].essence["model"] for v in view.stack.versions.values()
        }
        declared_models = {desired[m.address].live_name for m in view.stack.models.values()}
        # A live default that leaves goes only once the declared default serves.
        new_defaults = {
            desired[v.address].essence["model"]: v.address
            for v in view.stack.versions.values()
            if desired[v.address].mutable["default"]
        }
        models = live_models(view)
        removed_models = set(models) - declared_models
        changes: list[Change] = []
        versions = live_versions(view)
        for name in sorted(versions):
            gone = [
                v
                for v in versions[name]
                if declared.get(name) != v.model or v.model in removed_models
            ]
            if not gone:
                continue
            where = address(self.prefix, name)
            if name in declared:
                where = f'{where}["{gone[0].model}"]'
            if name not in declared:
                why = "its manifest was removed"
            elif gone[0].model in removed_models:
                why = "its model was removed"
            else:
                why = "its manifest now names another model"
            after_switch = {
                new_defaults.get(v.model)
                for v in gone
                if (found := models.get(v.model)) and found.default_version == v.name
            }
            view.protect_live(where, gone)
            targets: list[LiveTarget] = []
            for model_name in sorted({v.model for v in gone}):
                targets.extend(
                    _default_last(
                        [v for v in gone if v.model == model_name], models.get(model_name)
                    )
                )
            changes.append(
                plans.Change(
                    where,
                    self.kind,
                    plans.Action.DELETE,
                    name,
                    None,
                    reasons=tuple(
                        plans.Reason(
                            plans.ReasonCode.REMOVED, f"{v.name} of model {v.model}: {why}"
                        )
                        for v in gone
                    ),
                    depends_on=tuple(sorted(a for a in after_switch if a and a != where)),
                    live_targets=tuple(targets),
                )
            )
        return changes

    # Apply ---------------------------------------------------------------------------

    def apply(self, change: Change, ctx: ApplyContext) -> str:
        want = ctx.desired.get(change.address)
        if change.action is plans.Action.DELETE or want is None:
            _delete(change, ctx)
            return "deleted " + ", ".join(t.live_name for t in change.live_targets)
        assert change.live_name is not None
        model = str(want.essence["model"])
        record = records.LiveVersion(
            change.live_name,
            want.live_labels(ctx.stack.name),
            model=model,
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
            judged = _judge_at_apply(want, ctx, job)
            if judged is not None and not judged.holds:
                raise StepFailed(
                    f"{judged.text}; not deployed, and what serves now goes on serving",
                    "train a better model, or change the gate",
                )
            if job is not None:
                deployed = {"job": job.name, "metrics": dict(job.metrics)}
                if job.best_trial is not None:
                    deployed["trial"] = job.best_trial
                record = dataclasses.replace(record, spec={**want.record(), "deployed": deployed})
            serving.deploy_version(records.VersionDeployment(record, export))
        elif change.action is plans.Action.UPDATE:
            serving.update_version(record)
        if want.mutable["default"]:
            serving.set_default(model, change.live_name)
        _delete(change, ctx)  # older versions go only now that the new one serves
        return f"{change.live_name} serves" + (" (default)" if want.mutable["default"] else "")

    def next_step(self, change: Change, stack: Stack, paths: str) -> str | None:
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


def _gate(
    ctx: BuildContext,
    loaded: LoadedDocument,
    spec: Mapping[str, Any],
    job: TrainingJob | None,
    profile: profiles.Profile,
) -> Gate | None:
    """The gate, checked against what its source can report."""
    given, at = spec["gate"], ("spec", "gate")
    metric = given["metric"]
    tuning = job.tuning if job is not None else None
    if job is None and "uri" in spec["source"]:
        ctx.report(
            "a gate reads the metric a job reported, and a version from source.uri has no job",
            loaded.doc.key_at(at),
            "deploy from source.job, or remove the gate",
        )
        return None
    if tuning is not None and metric != tuning.metric:
        ctx.report(
            f'the gate\'s metric "{metric}" is not what tuning job {job.meta.name if job else ""} '
            f"reports: its trials are measured by {tuning.metric}",
            loaded.doc.at((*at, "metric")),
            f"gate on {tuning.metric}",
        )
        return None
    missing = profile.job_metrics
    if tuning is None and job is not None and missing is not None:
        ctx.report(
            f"backend {profile.name} cannot gate on {metric}: {missing.why}",
            loaded.doc.key_at(at),
            missing.instead,
        )
        return None
    goal = given.get("goal", tuning.goal if tuning is not None else None)
    if goal is None:
        ctx.report(
            f"the gate does not say whether {metric} should be large or small",
            loaded.doc.key_at(at),
            f"add goal: MINIMIZE (smaller {metric} is better) or goal: MAXIMIZE",
        )
        return None
    if tuning is not None and goal != tuning.goal:
        ctx.report(
            f"the gate's goal {goal} contradicts tuning job {job.meta.name if job else ''}'s "
            f"{tuning.goal} of {metric}",
            loaded.doc.at((*at, "goal")),
            "use the tuning job's goal, or leave goal out",
        )
        return None
    threshold = given.get("threshold")
    return Gate(
        metric=metric,
        goal=goal,
        threshold=float(threshold) if threshold is not None else None,
        must_beat_default=given.get("mustBeatDefault", False),
    )


def _serving_container(given: Mapping[str, Any] | None) -> ServingContainer | None:
    if given is None:
        return None
    return ServingContainer(
        image=given["image"],
        command=tuple(given.get("command", ())),
        args=tuple(given.get("args", ())),
        env=tuple(sorted(given.get("env", {}).items())),
        port=given.get("port"),
        predict_route=given.get("predictRoute"),
        health_route=given.get("healthRoute"),
    )


def live_versions(view: PlanView) -> dict[str, list[LiveVersion]]:
    """The stack's live versions by manifest name, oldest first."""
    return view.by_manifest("versions", view.live.versions)


def _default_last(versions: Iterable[LiveVersion], model: LiveModel | None) -> list[LiveTarget]:
    """Delete targets in the order the APIs allow: a model's default version last."""

    default = model.default_version if model else None
    ordered = sorted(versions, key=lambda v: v.name == default)
    return [plans.LiveTarget(v.name, "delete", v.model) for v in ordered]


def _delete(change: Change, ctx: ApplyContext) -> None:
    serving = registry.facet(ctx.backend, facets.Serving)
    for target in change.live_targets:
        serving.delete_version(target.model or "", target.live_name)


def _source_job(want: DesiredResource, stack: Stack) -> str | None:
    """The address of the TrainingJob a version deploys, if it deploys one."""
    return next(
        (d for d in want.depends_on if isinstance(stack.resources.get(d), TrainingJob)), None
    )


def _source_change(want: DesiredResource, view: PlanView) -> Change | None:
    job_address = _source_job(want, view.stack)
    return view.planned.get(job_address) if job_address else None


def _source_blocker(want: DesiredResource, view: PlanView) -> tuple[Action, Reason] | None:
    """Why a version cannot be created in this apply, if it cannot."""

    change = _source_change(want, view)
    if change is None or change.action in (plans.Action.CREATE, plans.Action.REPLACE):
        return None  # no source job, or it trains in this apply first
    runs = live_jobs(view).get(change.name, [])
    run = next((j for j in runs if j.name == change.live_name), None)
    if run is None or run.state is records.JobState.SUCCEEDED:
        return None
    if run.state.active or run.state is records.JobState.CANCELLING:
        text = f"waits for {change.address} ({phrases.state_phrase(run, view.options.now)})"
        return plans.Action.WAIT, plans.Reason(plans.ReasonCode.WAITS_FOR_JOB, text)
    text = f"cannot deploy: {run.name} of {change.address} {run.state.value.lower()}"
    return plans.Action.BLOCKED, plans.Reason(plans.ReasonCode.BLOCKED, text)


def _what_it_deploys(want: DesiredResource, view: PlanView) -> str:
    source = want.essence["source"]
    if "job" not in source:
        return f"deploys {source['uri']}"
    job_change = _source_change(want, view)
    if job_change is not None and job_change.action in (plans.Action.CREATE, plans.Action.REPLACE):
        tuning = view.stack.jobs[job_change.name].tuning
        what = "the best trial's export" if tuning is not None else "the export"
        return f"deploys {what} of {job_change.address} once it has trained"
    run = (
        next(
            (j for j in live_jobs(view).get(job_change.name, []) if j.name == job_change.live_name),
            None,
        )
        if job_change is not None
        else None
    )
    if run is not None and run.best_trial is not None:
        tuning = view.stack.jobs[job_change.name].tuning if job_change else None
        metric = tuning.metric if tuning else ""
        value = run.metrics.get(metric)
        figure = f", {metric} {value:.4g}" if value is not None else ""
        return f"deploys the best trial of {run.name}: trial {run.best_trial}{figure}"
    return f"deploys {source['job']} (not deployed yet, or deleted outside mlapply)"


def _spec_view(version: LiveVersion) -> dict[str, Any] | None:
    essence = (version.spec or {}).get("essence")
    if not isinstance(essence, Mapping):
        return None
    return {**essence, "labels": field_diffs.user_labels(version.labels)}


def _mutable_view(version: LiveVersion, model: LiveModel | None) -> dict[str, Any]:
    return {
        "labels": field_diffs.user_labels(version.labels),
        "description": version.description,
        "default": bool(model and model.default_version == version.name),
    }


def _source_label(job: LiveJob, stack: Stack) -> str:
    """``job tune_7d0e1788`` or ``trial 4 of tune_7d0e1788``: who reported the figures."""
    return f"trial {job.best_trial} of {job.name}" if job.best_trial else f"job {job.name}"


def _default_figure(
    gate: Gate, model: LiveModel | None, versions: Iterable[LiveVersion]
) -> gates.Default | None:
    """The model's default version, and its figure of the gate's metric when it was
    deployed (recorded in its spec's ``deployed``)."""
    if model is None or model.default_version is None:
        return None
    found = next(
        (v for v in versions if v.model == model.name and v.name == model.default_version), None
    )
    deployed = ((found.spec or {}).get("deployed") or {}) if found else {}
    value = (deployed.get("metrics") or {}).get(gate.metric)
    return gates.Default(model.default_version, float(value) if value is not None else None)


def _gate_reason(
    want: DesiredResource, view: PlanView, model: LiveModel | None
) -> tuple[Reason | None, Reason] | None:
    """The gate's reason for the plan, and it again when it holds the version back
    (None: no gate). Judged when the job has trained; else said as a condition."""
    gate = view.stack.versions[want.name].gate
    if gate is None:
        return None
    change = _source_change(want, view)
    if change is None or change.action in (plans.Action.CREATE, plans.Action.REPLACE):
        job = change.address if change is not None else "its job"
        condition = f"deployed only if {gates.describe(gate)} (checked once {job} has trained)"
        return None, plans.Reason(plans.ReasonCode.GATE, condition)
    run = next(
        (j for j in live_jobs(view).get(change.name, []) if j.name == change.live_name), None
    )
    if run is None:
        return None, plans.Reason(plans.ReasonCode.GATE, f"deployed only if {gates.describe(gate)}")
    judged = gates.judge(
        gate,
        run.metrics,
        _source_label(run, view.stack),
        _default_figure(gate, model, view.live.versions),
    )
    reason = plans.Reason(plans.ReasonCode.GATE, judged.text)
    return (None if judged.holds else reason), reason


def _source_live_name(want: DesiredResource, ctx: ApplyContext) -> str | None:
    """The live name of the job a version deploys (this apply's run of it), if any."""
    source = want.essence["source"]
    if "job" not in source:
        return None
    job_address = _source_job(want, ctx.stack)
    job_change = ctx.changes.get(job_address) if job_address else None
    return str(job_change.live_name if job_change and job_change.live_name else source["job"])


def _trained_job(want: DesiredResource, ctx: ApplyContext) -> LiveJob | None:
    """The job a version deploys, read now (once): it may have trained in this apply."""
    name = _source_live_name(want, ctx)
    if name is None:
        return None
    return registry.facet(ctx.backend, facets.Jobs).get_job(ctx.stack.name, name)


def _judge_at_apply(
    want: DesiredResource, ctx: ApplyContext, job: LiveJob | None
) -> gates.Judgement | None:
    gate = ctx.stack.versions[want.name].gate
    if gate is None or job is None:
        return None
    # The model's default as the plan read it (what the reviewed plan compared with).
    model = next((m for m in ctx.live.models if m.name == want.essence["model"]), None)
    default = _default_figure(gate, model, ctx.live.versions)
    return gates.judge(gate, job.metrics, _source_label(job, ctx.stack), default)


def _export(want: DesiredResource, ctx: ApplyContext, job: LiveJob | None) -> str | None:
    """Where the SavedModel to deploy is: the URI, or the source job's export
    (None while that job still runs under --no-wait)."""

    source = want.essence["source"]
    if "uri" in source:
        uri = str(source["uri"])
        if uri.startswith("gs://"):
            return uri
        version = ctx.stack.versions[want.name]
        return str((version.source.base_dir or ctx.stack.settings.root) / uri)
    if job is None or job.state is not records.JobState.SUCCEEDED:
        if job is not None and job.state.active and not ctx.wait_for_jobs:
            return None
        state = job.state.value.lower() if job else "missing"
        raise StepFailed(f"cannot deploy: job {_source_live_name(want, ctx)} is {state}")
    export_path = source.get("exportPath")
    jobs = registry.facet(ctx.backend, facets.Jobs)
    return jobs.export_of(ctx.stack.name, job, str(export_path) if export_path else None)
