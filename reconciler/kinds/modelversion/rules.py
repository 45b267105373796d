"""A ModelVersion's plan rules (pure).

A version is created once its source job has succeeded (create-before-delete:
the new one serves before older versions of the same manifest go), made the
default if asked, and its older versions are deleted after it serves. Blocked
on a running job it waits; on a failed one, or held by its gate, it is not
deployed, and the plan says why. A live version no manifest declares (or left
under another model) is deleted, the model's live default only once the
declared default serves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.backends.served import PERCENTILES, Served
from reconciler.kinds.indexes import live_models, live_versions, run_of
from reconciler.kinds.modelversion import rollout as rollouts
from reconciler.kinds.modelversion.build import MUTABLE, UPDATABLE
from reconciler.kinds.modelversion.identity import compiled_version
from reconciler.kinds.modelversion.sources import default_figure, reporter, source_job
from reconciler.lazy import LazyModule
from reconciler.stack.resources import ModelVersion, address

if TYPE_CHECKING:
    import reconciler.backends.base as records
    import reconciler.backends.recorded as records_kept
    import reconciler.plan.fields as field_diffs
    import reconciler.plan.model as plans
    from reconciler.backends.base import LiveModel, LiveVersion
    from reconciler.backends.compiled import CompiledVersion
    from reconciler.backends.recorded import RolloutState
    from reconciler.identity.desired import DesiredResource
    from reconciler.plan import phrases
    from reconciler.plan.diff import PlanView
    from reconciler.plan.model import (
        Action,
        Change,
        FieldChange,
        LiveTarget,
        Reason,
        RolloutStatus,
    )
    from reconciler.tuning import gates
else:
    field_diffs = LazyModule("reconciler.plan.fields")
    gates = LazyModule("reconciler.tuning.gates")
    phrases = LazyModule("reconciler.plan.phrases")
    plans = LazyModule("reconciler.plan.model")
    records = LazyModule("reconciler.backends.base")
    records_kept = LazyModule("reconciler.backends.recorded")


def plan(want: DesiredResource[CompiledVersion], view: PlanView) -> Change:
    model_live = compiled_version(want).model
    versions = [v for v in live_versions(view).get(want.name, []) if v.model == model_live]
    # One of this identity that does not serve yet is created (deployed) again.
    current = next(
        (v for v in versions if v.hash == want.hash and v.state is records.VersionState.READY),
        None,
    )
    older = [v for v in versions if v.hash != want.hash]
    model = live_models(view).get(model_live)
    after = {**want.essence, **want.mutable}
    targets = default_last(older, model)
    if current is not None:
        return _existing(want, view, current, model, older, targets, after)

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
    staged = _planned_rollout(want, view, model, None)
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
        fields = field_diffs.field_changes(before, after, UPDATABLE)
        reasons.extend(
            plans.Reason(plans.ReasonCode.FIELD_CHANGED, field_diffs.describe(f))
            for f in fields
            if f.forces_replacement
        )
        names = ", ".join(v.name for v in older)
        serves = "holds all the traffic" if staged is not None else "serves"
        reasons.append(
            plans.Reason(
                plans.ReasonCode.DELETES_OLDER,
                f"then {names} deleted once the new version {serves}",
            )
        )
        action = plans.Action.REPLACE
        view.protect(want, action, targets)
    else:
        action = plans.Action.CREATE
        reasons.append(plans.Reason(plans.ReasonCode.NEW, _what_it_deploys(want, view)))
    if held is not None:
        reasons.append(held[1])
    if staged is not None:
        # How it takes the traffic, before what goes once it has it all.
        older_at = next(
            (i for i, r in enumerate(reasons) if r.code is plans.ReasonCode.DELETES_OLDER),
            len(reasons),
        )
        reasons.insert(older_at, staged[1])
    elif want.mutable["default"]:
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
        rollout=staged[0] if staged is not None else None,
    )


def _existing(
    want: DesiredResource[CompiledVersion],
    view: PlanView,
    current: LiveVersion,
    model: LiveModel | None,
    older: Sequence[LiveVersion],
    targets: Sequence[LiveTarget],
    after: Mapping[str, Any],
) -> Change:
    # Same hash, same essence: no need to decode the live record.
    before = {**want.essence, **_mutable_view(current, model)}
    fields = [
        f
        for f in field_diffs.field_changes(
            {k: before[k] for k in MUTABLE}, {k: after[k] for k in MUTABLE}, UPDATABLE
        )
        # The API cannot unset a default; a version stays default until another takes over.
        if not (f.path == ("default",) and f.before is True and f.after is False)
    ]
    reasons = [
        plans.Reason(plans.ReasonCode.FIELD_CHANGED, field_diffs.describe(f)) for f in fields
    ]
    state = current.rollout
    if state is not None and state.state == records_kept.ROLLED_BACK:
        return _rolled_back(want, view, current, state, before, after)
    if state is not None and state.state == records_kept.ROLLING:
        return _rolling(want, view, current, state, older, targets, before, after, fields)
    staged = _planned_rollout(want, view, model, current.name) if state is None else None
    if staged is not None:
        # Made, but its rollout has not begun (an apply stopped between the two).
        status, reason = staged
        change = (before, after, fields)
        return _rollout_update(want, view, current, change, reason, status, older, targets)
    drift = False
    if want.mutable["default"] and model is not None and model.default_version != current.name:
        # Was it default when mlapply last wrote it? Then someone switched it since.
        record = current.record
        drift = record is not None and record.default is True
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
            switch if f.path == ("default",) else r for f, r in zip(fields, reasons, strict=True)
        ]
    action = plans.Action.UPDATE if fields else plans.Action.NOOP
    if older:
        names = ", ".join(v.name for v in older)
        reasons.append(
            plans.Reason(plans.ReasonCode.DELETES_OLDER, f"older {names} still deployed: deleted")
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


def removed(view: PlanView) -> list[Change]:
    desired = view.desired.resources
    # A declared version's live model; versions left under another model go too.
    declared = {
        v.meta.name: compiled_version(desired[v.address]).model
        for v in view.stack.versions.values()
    }
    declared_models = {desired[m.address].live_name for m in view.stack.models.values()}
    # A live default that leaves goes only once the declared default serves.
    new_defaults = {
        compiled_version(desired[v.address]).model: v.address
        for v in view.stack.versions.values()
        if desired[v.address].mutable["default"]
    }
    models = live_models(view)
    removed_models = set(models) - declared_models
    changes: list[Change] = []
    versions = live_versions(view)
    for name in sorted(versions):
        gone = [
            v for v in versions[name] if declared.get(name) != v.model or v.model in removed_models
        ]
        if not gone:
            continue
        where = address(ModelVersion.prefix, name)
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
                default_last([v for v in gone if v.model == model_name], models.get(model_name))
            )
        changes.append(
            plans.Change(
                where,
                ModelVersion.kind,
                plans.Action.DELETE,
                name,
                None,
                reasons=tuple(
                    plans.Reason(plans.ReasonCode.REMOVED, f"{v.name} of model {v.model}: {why}")
                    for v in gone
                ),
                depends_on=tuple(sorted(a for a in after_switch if a and a != where)),
                live_targets=tuple(targets),
            )
        )
    return changes


def default_last(versions: Iterable[LiveVersion], model: LiveModel | None) -> list[LiveTarget]:
    """Delete targets in the order the APIs allow: a model's default version last."""
    default = model.default_version if model else None
    ordered = sorted(versions, key=lambda v: v.name == default)
    return [plans.LiveTarget(v.name, "delete", v.model) for v in ordered]


def _source_change(want: DesiredResource[Any], view: PlanView) -> Change | None:
    job_address = source_job(want, view.stack)
    return view.planned.get(job_address) if job_address else None


def _source_blocker(want: DesiredResource[Any], view: PlanView) -> tuple[Action, Reason] | None:
    """Why a version cannot be created in this apply, if it cannot."""
    change = _source_change(want, view)
    if change is None or change.action in (plans.Action.CREATE, plans.Action.REPLACE):
        return None  # no source job, or it trains in this apply first
    run = run_of(view, change.name, change.live_name)
    if run is None or run.state is records.JobState.SUCCEEDED:
        return None
    if run.state.active or run.state is records.JobState.CANCELLING:
        text = f"waits for {change.address} ({phrases.state_phrase(run, view.options.now)})"
        return plans.Action.WAIT, plans.Reason(plans.ReasonCode.WAITS_FOR_JOB, text)
    text = f"cannot deploy: {run.name} of {change.address} {run.state.value.lower()}"
    return plans.Action.BLOCKED, plans.Reason(plans.ReasonCode.BLOCKED, text)


def _what_it_deploys(want: DesiredResource[CompiledVersion], view: PlanView) -> str:
    version = compiled_version(want)
    if version.job is None:
        return f"deploys {version.uri}"
    job_change = _source_change(want, view)
    if job_change is not None and job_change.action in (plans.Action.CREATE, plans.Action.REPLACE):
        tuning = view.stack.jobs[job_change.name].tuning
        what = "the best trial's export" if tuning is not None else "the export"
        return f"deploys {what} of {job_change.address} once it has trained"
    run = run_of(view, job_change.name, job_change.live_name) if job_change else None
    if run is not None and run.best_trial is not None:
        tuning = view.stack.jobs[job_change.name].tuning if job_change else None
        metric = tuning.metric if tuning else ""
        value = run.metrics.get(metric)
        figure = f", {metric} {value:.4g}" if value is not None else ""
        return f"deploys the best trial of {run.name}: trial {run.best_trial}{figure}"
    return f"deploys {version.job} (not deployed yet, or deleted outside mlapply)"


def _spec_view(version: LiveVersion) -> dict[str, Any] | None:
    record = version.record
    if record is None:
        return None
    return {**record.essence, "labels": field_diffs.user_labels(version.labels)}


def _mutable_view(version: LiveVersion, model: LiveModel | None) -> dict[str, Any]:
    return {
        "labels": field_diffs.user_labels(version.labels),
        "description": version.description,
        "default": bool(model and model.default_version == version.name),
    }


def _gate_reason(
    want: DesiredResource[Any], view: PlanView, model: LiveModel | None
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
    run = run_of(view, change.name, change.live_name)
    if run is None:
        return None, plans.Reason(plans.ReasonCode.GATE, f"deployed only if {gates.describe(gate)}")
    judged = gates.judge(
        gate, run.metrics, reporter(run), default_figure(gate, model, view.live.versions)
    )
    reason = plans.Reason(plans.ReasonCode.GATE, judged.text)
    return (None if judged.holds else reason), reason


def _planned_rollout(
    want: DesiredResource[Any], view: PlanView, model: LiveModel | None, name: str | None
) -> tuple[RolloutStatus, Reason] | None:
    """The rollout a default version begins, when it has one and there is a default
    to take the traffic from (a model's first version takes it all at once)."""
    declared = view.stack.versions[want.name].rollout
    previous = model.default_version if model is not None else None
    if declared is None or not want.mutable["default"] or previous in (None, name):
        return None
    status = plans.RolloutStatus(
        "planned", tuple(s.traffic for s in declared.steps), previous=previous
    )
    text = f"{rollouts.describe(declared)}; takes the traffic from {previous}"
    return status, plans.Reason(plans.ReasonCode.ROLLOUT, text)


def _rolling(
    want: DesiredResource[Any],
    view: PlanView,
    current: LiveVersion,
    state: RolloutState,
    older: Sequence[LiveVersion],
    targets: Sequence[LiveTarget],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    fields: Sequence[FieldChange],
) -> Change:
    """A version part way through its rollout: where it stands and what apply does next."""
    declared = view.stack.versions[want.name].rollout
    served = view.live.served.get((current.model, current.name), Served())
    previous = state.previous or "the previous default"
    if declared is None:
        text = f"rollout: spec.rollout was removed: takes all the traffic from {previous} now"
        status = plans.RolloutStatus("rolling", (), previous=state.previous, next="advance")
    else:
        verdict = rollouts.judge(declared, state, served, view.options.now)
        last = state.step + 1 >= len(declared.steps)
        then = {
            rollouts.Move.HOLD: "apply waits for it (at most --rollout-wait)",
            rollouts.Move.ADVANCE: (
                "apply makes it the default"
                if last
                else f"apply moves it to {declared.steps[state.step + 1].traffic} %"
            ),
            rollouts.Move.ROLL_BACK: f"gate fails ({verdict.failed}): apply sends all "
            f"traffic back to {previous}",
        }[verdict.move]
        text = f"rollout {verdict.text}: {then}"
        status = plans.RolloutStatus(
            "rolling",
            tuple(s.traffic for s in declared.steps),
            step=min(state.step, len(declared.steps) - 1) + 1,
            previous=state.previous,
            held_seconds=max(0.0, view.options.now - state.since),
            requests=served.requests,
            error_rate=served.error_rate if served.requests else None,
            latency_ms={
                name: value
                for name in PERCENTILES
                if (value := served.percentile(name)) is not None
            },
            next=verdict.move.value,
            why=verdict.failed,
        )
    reason = plans.Reason(plans.ReasonCode.ROLLOUT, text)
    change = (before, after, fields)
    return _rollout_update(want, view, current, change, reason, status, older, targets)


def _rollout_update(
    want: DesiredResource[Any],
    view: PlanView,
    current: LiveVersion,
    change: tuple[Mapping[str, Any], Mapping[str, Any], Sequence[FieldChange]],
    reason: Reason,
    status: RolloutStatus,
    older: Sequence[LiveVersion],
    targets: Sequence[LiveTarget],
) -> Change:
    """An update that moves a rollout on: its other in-place changes (``change``: before,
    after and fields), where the rollout stands, and the older versions it deletes last.
    The default is the rollout's to change, at its last step."""
    before, after, all_fields = change
    fields = [f for f in all_fields if f.path != ("default",)]
    reasons = [
        plans.Reason(plans.ReasonCode.FIELD_CHANGED, field_diffs.describe(f)) for f in fields
    ]
    reasons.append(reason)
    reasons.extend(_older_go_last(want, view, older, targets))
    return view.change(
        want,
        plans.Action.UPDATE,
        live_name=current.name,
        before=before,
        after=after,
        fields=fields,
        reasons=reasons,
        targets=targets,
        rollout=status,
    )


def _older_go_last(
    want: DesiredResource[Any],
    view: PlanView,
    older: Sequence[LiveVersion],
    targets: Sequence[LiveTarget],
) -> list[Reason]:
    """The older versions of a version that rolls out: deleted after its last step."""
    if not older:
        return []
    view.protect(want, plans.Action.DELETE, targets)
    names = ", ".join(v.name for v in older)
    text = f"then {names} deleted once it holds all the traffic"
    return [plans.Reason(plans.ReasonCode.DELETES_OLDER, text)]


def _rolled_back(
    want: DesiredResource[Any],
    view: PlanView,
    current: LiveVersion,
    state: RolloutState,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> Change:
    """A version whose rollout was sent back: it stays so (a rollback is state), and
    the plan says the way forward."""
    when = f" {phrases.duration(view.options.now - state.at)} ago" if state.at else ""
    by = f" by {state.by}" if state.by else ""
    previous = state.previous or "the previous default"
    why = f": {state.why}" if state.why else ""
    reasons = (
        plans.Reason(
            plans.ReasonCode.ROLLOUT,
            f"{current.name} was rolled back{when}{by}{why}; {previous} has all the traffic",
        ),
        plans.Reason(
            plans.ReasonCode.BLOCKED,
            "way forward: a new version (retrain, or change its settings) rolls out afresh; "
            f"or `mlapply rollout retry {want.name}` to roll this one out again",
        ),
    )
    declared = view.stack.versions[want.name].rollout
    status = plans.RolloutStatus(
        "rolled-back",
        tuple(s.traffic for s in declared.steps) if declared is not None else (),
        step=state.step + 1,
        previous=state.previous,
        why=state.why,
    )
    return view.change(
        want,
        plans.Action.BLOCKED,
        live_name=current.name,
        before=before,
        after=after,
        reasons=reasons,
        rollout=status,
    )
