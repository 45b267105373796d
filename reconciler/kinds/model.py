"""The Model kind: a named model (an Endpoint on Vertex) that holds versions.

Labels and the description change in place; a model's region and logging are
fixed at creation, so a change there deletes the model with its versions and
creates it again (delete-before-create: one name cannot be two models). A
live model no manifest declares is deleted after its versions.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from reconciler.backends import facets, registry
from reconciler.kinds.base import ApplyContext, IdentityContext, LiveHandler
from reconciler.lazy import LazyModule
from reconciler.stack.build import BuildContext
from reconciler.stack.resources import Meta, Model, ModelVersion, address

if TYPE_CHECKING:
    import reconciler.backends.base as records
    import reconciler.identity.desired as desired_state
    import reconciler.plan.fields as field_diffs
    import reconciler.plan.model as plans
    from reconciler.backends.base import LiveModel
    from reconciler.identity import canonical
    from reconciler.identity.desired import DesiredResource
    from reconciler.manifests import LoadedDocument
    from reconciler.plan.diff import PlanView
    from reconciler.plan.model import Change
else:
    canonical = LazyModule("reconciler.identity.canonical")
    desired_state = LazyModule("reconciler.identity.desired")
    field_diffs = LazyModule("reconciler.plan.fields")
    plans = LazyModule("reconciler.plan.model")
    records = LazyModule("reconciler.backends.base")


class ModelHandler(LiveHandler):
    record = Model
    updatable = frozenset({"labels", "description"})

    def build(self, ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> Model:
        spec = loaded.doc.data.get("spec", {})
        regions = spec.get("regions") or [ctx.stack_settings().region]
        return Model(
            meta=meta,
            description=spec.get("description", ""),
            region=regions[0],
            online_prediction_logging=spec.get("onlinePredictionLogging", False),
        )

    def identify(self, resource: Any, ctx: IdentityContext) -> DesiredResource:
        model: Model = resource
        essence = {
            "region": model.region,
            "onlinePredictionLogging": model.online_prediction_logging,
        }
        return desired_state.DesiredResource(
            address=model.address,
            kind=Model.kind,
            name=model.meta.name,
            live_name=desired_state.id_name(model.meta.name),
            hash=canonical.short(canonical.digest(essence)),
            essence=essence,
            mutable={"labels": dict(model.meta.labels), "description": model.description},
            prevent_destroy=model.meta.prevent_destroy,
        )

    def plan(self, want: DesiredResource, view: PlanView) -> Change:
        live = live_models(view).get(want.live_name)
        after = {**want.essence, **want.mutable}
        if live is None:
            return view.change(
                want,
                plans.Action.CREATE,
                after=after,
                reasons=(plans.Reason(plans.ReasonCode.NEW, "new model"),),
            )
        before = _view(live)
        fields = field_diffs.field_changes(before, after, self.updatable)
        if not fields:
            return view.change(want, plans.Action.NOOP, before=before, after=after)
        replace = any(f.forces_replacement for f in fields)
        reasons = [
            plans.Reason(plans.ReasonCode.FIELD_CHANGED, field_diffs.describe(f)) for f in fields
        ]
        if not replace:
            return view.change(
                want,
                plans.Action.UPDATE,
                before=before,
                after=after,
                fields=fields,
                reasons=reasons,
            )
        reasons.append(
            plans.Reason(
                plans.ReasonCode.RECREATED,
                "a model's region and logging cannot change in place: it is "
                "deleted with its versions and created again",
            )
        )
        # What apply deletes first: every version of the model, the default last.
        versions = sorted(
            (v for v in view.owned(view.live.versions) if v.model == live.name),
            key=lambda v: (v.name == live.default_version, v.name),
        )
        targets = [plans.LiveTarget(v.name, "delete", v.model) for v in versions]
        targets.append(plans.LiveTarget(live.name, "delete"))
        view.protect(want, plans.Action.REPLACE, targets)
        return view.change(
            want,
            plans.Action.REPLACE,
            before=before,
            after=after,
            fields=fields,
            reasons=reasons,
            targets=targets,
            replace_order=plans.ReplaceOrder.DELETE_BEFORE_CREATE,
        )

    def removed(self, view: PlanView) -> list[Change]:
        declared = {view.desired.resources[m.address].live_name for m in view.stack.models.values()}
        version_deletes = view.removals.get(ModelVersion.kind, [])
        models = live_models(view)
        changes = []
        for name in sorted(set(models) - declared):
            live = models[name]
            manifest = live.manifest_name or name
            where = address(self.prefix, manifest)
            view.protect_live(where, [live])
            after_versions = sorted(
                {c.address for c in version_deletes if any(t.model == name for t in c.live_targets)}
            )
            changes.append(
                plans.Change(
                    where,
                    self.kind,
                    plans.Action.DELETE,
                    manifest,
                    name,
                    reasons=(plans.Reason(plans.ReasonCode.REMOVED, "its manifest was removed"),),
                    depends_on=tuple(after_versions),
                    live_targets=(plans.LiveTarget(name, "delete"),),
                )
            )
        return changes

    def apply(self, change: Change, ctx: ApplyContext) -> str:
        serving = registry.facet(ctx.backend, facets.Serving)
        for target in change.live_targets:
            if target.model is None:
                serving.delete_model(target.live_name)
            else:
                serving.delete_version(target.model, target.live_name)
        if change.action is plans.Action.DELETE:
            return "deleted"
        want = ctx.desired[change.address]
        assert change.live_name is not None
        current = None
        if change.action is not plans.Action.REPLACE:
            current = next((m for m in ctx.live.models if m.name == change.live_name), None)
        serving.put_model(
            records.LiveModel(
                change.live_name,
                want.live_labels(ctx.stack.name),
                description=want.mutable["description"],
                region=want.essence["region"],
                online_prediction_logging=want.essence["onlinePredictionLogging"],
                default_version=current.default_version if current else None,
                create_time=current.create_time if current else time.time(),
            )
        )
        return "created" if current is None else "updated"


def live_models(view: PlanView) -> dict[str, LiveModel]:
    """The stack's live models by live name (one index per plan)."""
    return view.memo("models", lambda: {m.name: m for m in view.owned(view.live.models)})


def _view(model: LiveModel) -> dict[str, Any]:
    return {
        "region": model.region,
        "onlinePredictionLogging": model.online_prediction_logging,
        "labels": field_diffs.user_labels(model.labels),
        "description": model.description,
    }
