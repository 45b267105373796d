"""A Model's plan rules (pure): create, update in place, replace, or delete after
its versions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.kinds.indexes import live_models
from reconciler.kinds.model.build import UPDATABLE
from reconciler.lazy import LazyModule
from reconciler.stack.resources import Model, ModelVersion, address

if TYPE_CHECKING:
    import reconciler.plan.fields as field_diffs
    import reconciler.plan.model as plans
    from reconciler.backends.base import LiveModel
    from reconciler.backends.compiled import CompiledModel
    from reconciler.identity.desired import DesiredResource
    from reconciler.plan.diff import PlanView
    from reconciler.plan.model import Change
else:
    field_diffs = LazyModule("reconciler.plan.fields")
    plans = LazyModule("reconciler.plan.model")


def plan(want: DesiredResource[CompiledModel], view: PlanView) -> Change:
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
    fields = field_diffs.field_changes(before, after, UPDATABLE)
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


def removed(view: PlanView) -> list[Change]:
    declared = {view.desired.resources[m.address].live_name for m in view.stack.models.values()}
    version_deletes = view.removals.get(ModelVersion.kind, [])
    models = live_models(view)
    changes = []
    for name in sorted(set(models) - declared):
        live = models[name]
        manifest = live.manifest_name or name
        where = address(Model.prefix, manifest)
        view.protect_live(where, [live])
        after_versions = sorted(
            {c.address for c in version_deletes if any(t.model == name for t in c.live_targets)}
        )
        changes.append(
            plans.Change(
                where,
                Model.kind,
                plans.Action.DELETE,
                manifest,
                name,
                reasons=(plans.Reason(plans.ReasonCode.REMOVED, "its manifest was removed"),),
                depends_on=tuple(after_versions),
                live_targets=(plans.LiveTarget(name, "delete"),),
            )
        )
    return changes


def _view(model: LiveModel) -> dict[str, Any]:
    return {
        "region": model.region,
        "onlinePredictionLogging": model.online_prediction_logging,
        "labels": field_diffs.user_labels(model.labels),
        "description": model.description,
    }
