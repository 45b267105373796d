"""diff(desired, live, options) -> Plan: pure, no I/O, no clock.

Rules (DESIGN.md, Plan): a job of the current identity that is queued or
running is waited for, one that succeeded is up to date, one that failed is
resubmitted only within retry.maxAttempts or with --retrain; a job of an
older identity still running is cancelled. A version is created once its
source job has succeeded, made default if asked, and older versions of the
same manifest are deleted after it serves. Live resources with the stack's
label and no manifest are cancelled (jobs) or deleted (models, versions),
unless protected by lifecycle.preventDestroy, which makes the plan fail.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconciler.backends.base import JobState, LiveJob, LiveModel, LiveSnapshot, LiveVersion
from reconciler.identity.content import file_changes
from reconciler.identity.desired import DesiredResource, DesiredState, job_live_name
from reconciler.identity.tiers import describe
from reconciler.plan.model import (
    Action,
    Change,
    FieldChange,
    LiveTarget,
    Plan,
    PlanError,
    PlanOptions,
)
from reconciler.plan.rules import forces_replacement
from reconciler.stack.resources import Kind, address

_ABSENT = "(none)"


def diff(desired: DesiredState, live: LiveSnapshot, options: PlanOptions | None = None) -> Plan:
    options = options or PlanOptions()
    planner = _Planner(desired, live, options)
    changes = planner.plan()
    changes, errors = _select_targets(changes, desired, options, planner.errors)
    return Plan(
        stack=desired.stack.name,
        backend=desired.stack.settings.backend,
        changes=tuple(changes),
        errors=tuple(errors),
        manifests_digest=desired.digest,
        snapshot_digest=live.digest,
        options=options,
    )


class _Planner:
    def __init__(self, desired: DesiredState, live: LiveSnapshot, options: PlanOptions) -> None:
        self.desired = desired
        self.stack = desired.stack
        self.options = options
        self.errors: list[PlanError] = []
        owned = desired.stack.name
        self.jobs: dict[str, list[LiveJob]] = defaultdict(list)
        for job in live.jobs:
            if job.stack == owned and job.manifest_name:
                self.jobs[job.manifest_name].append(job)
        for runs in self.jobs.values():
            runs.sort(key=lambda j: (j.create_time or 0.0, j.name))
        self.models = {m.name: m for m in live.models if m.stack == owned}
        self.versions: dict[str, list[LiveVersion]] = defaultdict(list)
        for version in live.versions:
            if version.stack == owned and version.manifest_name:
                self.versions[version.manifest_name].append(version)
        self.job_changes: dict[str, Change] = {}

    def plan(self) -> list[Change]:
        changes: list[Change] = []
        for where in self.stack.order:
            resource = self.desired.resources.get(where)
            if resource is None:
                continue
            if resource.kind is Kind.TRAINING_JOB:
                change = self.job(resource)
                self.job_changes[where] = change
            elif resource.kind is Kind.MODEL:
                change = self.model(resource)
            else:
                change = self.version(resource)
            changes.append(change)
        changes.extend(self.removed())
        return changes

    # Jobs -----------------------------------------------------------------------

    def job(self, want: DesiredResource) -> Change:
        runs = self.jobs.get(want.name, [])
        current = [j for j in runs if j.hash == want.hash]
        stale = [
            j
            for j in runs
            if j.hash != want.hash and (j.state.active or j.state is JobState.CANCELLING)
        ]
        older = [j for j in runs if j.hash != want.hash]
        after = {**want.essence, **want.mutable}
        retrain = want.name in self.options.retrain
        reasons: list[str] = []
        latest = current[-1] if current else None
        live_name = latest.name if latest else want.live_name
        before: Mapping[str, Any] | None = None
        fields: list[FieldChange] = []
        action = Action.NOOP

        if latest is not None and (latest.state.active or latest.state is JobState.CANCELLING):
            action = Action.WAIT
            reasons.append(f"{latest.name} is {_state_phrase(latest, self.options.now)}")
        elif latest is not None and latest.state is JobState.SUCCEEDED and not retrain:
            # Same hash, same essence: no need to decode the live record's spec.
            before = {**want.essence, "labels": _user_labels(latest.labels)}
            action, fields, reasons = self._job_labels(want, latest)
        elif latest is not None:
            attempts = len(current)
            if latest.state is JobState.SUCCEEDED:
                reasons.append(f"--retrain {want.name}: {latest.name} succeeded; training again")
                action = Action.CREATE
            else:
                what = _failure(latest)
                allowed = self._max_attempts(want)
                if retrain or attempts < allowed:
                    action = Action.CREATE
                    why = (
                        f"--retrain {want.name}"
                        if retrain
                        else f"attempt {attempts + 1} of {allowed}"
                    )
                    reasons.append(f"{what}; {why}")
                else:
                    reasons.append(
                        f"{what} (attempt {attempts} of {allowed}); not retried: "
                        f"use --retrain {want.name} or raise spec.retry.maxAttempts"
                    )
            if action is Action.CREATE:
                live_name = job_live_name(want.name, want.hash, attempts + 1)
        else:
            action = Action.CREATE
            if older:
                previous = older[-1]
                before = _spec_view(previous)
                fields = _field_changes(before, after, Kind.TRAINING_JOB)
                reasons.extend(_job_reasons(previous, want))
            else:
                machines = want.essence["machines"]
                reasons.append(f"new job on {want.essence['scaleTier']}: {describe(machines)}")

        targets = tuple(LiveTarget(j.name, "cancel") for j in stale)
        if stale:
            reasons.extend(
                f"running job {j.name} (an older identity) will be cancelled" for j in stale
            )
            if action is Action.CREATE:
                action = Action.REPLACE
            elif action is Action.NOOP or action is Action.WAIT:
                action = Action.CANCEL
            self._protect(want, action, targets)
        return self._change(
            want,
            action,
            live_name=live_name,
            before=before,
            after=after,
            fields=fields,
            reasons=reasons,
            targets=targets,
        )

    def _max_attempts(self, want: DesiredResource) -> int:
        return self.stack.jobs[want.name].max_attempts

    def _job_labels(
        self, want: DesiredResource, job: LiveJob
    ) -> tuple[Action, list[FieldChange], list[str]]:
        wanted = want.live_labels(self.stack.name)
        if dict(job.labels) == wanted:
            return Action.NOOP, [], []
        fields = _field_changes(
            {"labels": _user_labels(job.labels)},
            {"labels": want.mutable["labels"]},
            Kind.TRAINING_JOB,
        )
        recorded = (job.spec or {}).get("mutable", {}).get("labels")
        drift = recorded is not None and recorded != _user_labels(job.labels)
        reasons = [_describe(f) for f in fields]
        if drift:
            reasons = [f"changed outside mlapply: {r}" for r in reasons]
        return Action.UPDATE, fields, reasons

    # Models -----------------------------------------------------------------------

    def model(self, want: DesiredResource) -> Change:
        live = self.models.get(want.live_name)
        after = {**want.essence, **want.mutable}
        if live is None:
            return self._change(want, Action.CREATE, after=after, reasons=("new model",))
        before = _model_view(live)
        fields = _field_changes(before, after, Kind.MODEL)
        if not fields:
            return self._change(want, Action.NOOP, before=before, after=after)
        replace = any(f.forces_replacement for f in fields)
        action = Action.REPLACE if replace else Action.UPDATE
        reasons = [_describe(f) for f in fields]
        if replace:
            reasons.append(
                "a model's region and logging cannot change in place: it is "
                "deleted with its versions and created again"
            )
            self._protect(want, action, ())
        return self._change(
            want, action, before=before, after=after, fields=fields, reasons=tuple(reasons)
        )

    # Versions -----------------------------------------------------------------------

    def version(self, want: DesiredResource) -> Change:
        model_live = str(want.essence["model"])
        versions = [v for v in self.versions.get(want.name, []) if v.model == model_live]
        current = next((v for v in versions if v.hash == want.hash), None)
        older = [v for v in versions if v.hash != want.hash]
        model = self.models.get(model_live)
        after = {**want.essence, **want.mutable}
        targets = tuple(LiveTarget(v.name, "delete", v.model) for v in older)
        depends = want.depends_on

        if current is not None:
            return self._existing_version(want, current, model, older, targets, after)

        blocked = self._source_blocker(want)
        if blocked is not None:
            action, why = blocked
            # Waiting: apply deploys it once the job has trained, then removes the older ones.
            later = targets if action is Action.WAIT else ()
            return self._change(
                want, action, after=after, reasons=(why,), depends=depends, targets=later
            )
        reasons: list[str] = []
        before = None
        fields: list[FieldChange] = []
        if older:
            newest = max(older, key=lambda v: (v.create_time or 0.0, v.name))
            before = _version_view(newest, model)
            fields = _field_changes(before, after, Kind.MODEL_VERSION)
            reasons.extend(_describe(f) for f in fields if f.forces_replacement)
            reasons.append(
                "then " + ", ".join(v.name for v in older) + " deleted once the new version serves"
            )
            action = Action.REPLACE
            self._protect(want, action, targets)
        else:
            action = Action.CREATE
            source = want.essence["source"]
            if "job" in source:
                job_change = self._source_change(want)
                if job_change is not None and job_change.action in (Action.CREATE, Action.REPLACE):
                    reasons.append(
                        f"deploys the export of {job_change.address} once it has trained"
                    )
                else:
                    reasons.append(
                        f"deploys {source['job']} (not deployed yet, or deleted outside mlapply)"
                    )
            else:
                reasons.append(f"deploys {source['uri']}")
        if want.mutable["default"]:
            reasons.append("becomes the default version of model " + model_live)
        return self._change(
            want,
            action,
            before=before,
            after=after,
            fields=fields,
            reasons=tuple(reasons),
            depends=depends,
            targets=targets,
        )

    def _existing_version(
        self,
        want: DesiredResource,
        current: LiveVersion,
        model: LiveModel | None,
        older: Sequence[LiveVersion],
        targets: tuple[LiveTarget, ...],
        after: Mapping[str, Any],
    ) -> Change:
        # Same hash, same essence: no need to decode the live record's spec.
        before = {**want.essence, **_mutable_view(current, model)}
        if current.state.value in ("CREATING", "UPDATING", "DELETING"):
            return self._change(
                want,
                Action.WAIT,
                live_name=current.name,
                before=before,
                after=after,
                reasons=(f"{current.name} is {current.state.value.lower()}",),
            )
        if current.state.value == "FAILED":
            return self._change(
                want,
                Action.REPLACE,
                before=before,
                after=after,
                reasons=(
                    f"{current.name} failed: {current.error or 'no message'}; "
                    "it is deleted and created again",
                ),
                targets=(LiveTarget(current.name, "delete", current.model), *targets),
            )
        fields = [
            f
            for f in _field_changes(
                {k: before[k] for k in ("labels", "description", "default")},
                {k: after[k] for k in ("labels", "description", "default")},
                Kind.MODEL_VERSION,
            )
            # The API cannot unset a default; a version stays default until another takes over.
            if not (f.path == "default" and f.before is True and f.after is False)
        ]
        reasons = [_describe(f) for f in fields]
        drift = False
        if want.mutable["default"] and model is not None and model.default_version != current.name:
            # Was it default when mlapply last wrote it? Then someone switched it since.
            recorded = (current.spec or {}).get("mutable", {}).get("default")
            drift = recorded is True
            switch = (
                f"changed outside mlapply: the default version of {model.name} is "
                f"{model.default_version or _ABSENT}, the manifests say {current.name}"
                if drift
                else f"becomes the default version of {model.name} "
                f"(instead of {model.default_version or _ABSENT})"
            )
            reasons = [switch if r.startswith("default") else r for r in reasons]
        action = Action.UPDATE if fields else Action.NOOP
        if older:
            reasons.append("older " + ", ".join(v.name for v in older) + " still deployed: deleted")
            self._protect(want, Action.DELETE, targets)
            if action is Action.NOOP:
                action = Action.DELETE
        return self._change(
            want,
            action,
            live_name=current.name,
            before=before,
            after=after,
            fields=fields,
            reasons=tuple(reasons),
            targets=targets,
            drift=drift,
        )

    def _source_change(self, want: DesiredResource) -> Change | None:
        job_address = next((d for d in want.depends_on if d.startswith("job.")), None)
        return self.job_changes.get(job_address) if job_address else None

    def _source_blocker(self, want: DesiredResource) -> tuple[Action, str] | None:
        """Why a version cannot be created in this apply, if it cannot."""
        change = self._source_change(want)
        if change is None or change.action in (Action.CREATE, Action.REPLACE):
            return None  # no source job, or it trains in this apply first
        run = next((j for j in self.jobs.get(change.name, []) if j.name == change.live_name), None)
        if run is None or run.state is JobState.SUCCEEDED:
            return None
        if run.state.active or run.state is JobState.CANCELLING:
            return (
                Action.WAIT,
                f"waits for {change.address} ({_state_phrase(run, self.options.now)})",
            )
        return (
            Action.NOOP,
            f"cannot deploy: {run.name} of {change.address} {run.state.value.lower()}",
        )

    # Removed from the manifests -----------------------------------------------------

    def removed(self) -> list[Change]:
        declared_jobs = {j.meta.name for j in self.stack.jobs.values()}
        # A declared version's live model; versions left under another model go too.
        declared_versions = {
            v.meta.name: self.desired.resources[v.address].essence["model"]
            for v in self.stack.versions.values()
        }
        declared_models = {
            self.desired.resources[m.address].live_name for m in self.stack.models.values()
        }
        # A live default that leaves goes only once the declared default serves.
        new_defaults = {
            self.desired.resources[v.address].essence["model"]: v.address
            for v in self.stack.versions.values()
            if self.desired.resources[v.address].mutable["default"]
        }
        changes: list[Change] = []
        for name in sorted(set(self.jobs) - declared_jobs):
            running = [j for j in self.jobs[name] if j.state.active]
            if not running:
                continue  # finished jobs are history
            where = address(Kind.TRAINING_JOB, name)
            targets = tuple(LiveTarget(j.name, "cancel") for j in running)
            reasons = tuple(
                f"{j.name} is {_state_phrase(j, self.options.now)}; its manifest was removed"
                for j in running
            )
            if any(j.protected for j in running):
                self.errors.append(
                    PlanError(
                        f"{where} is protected by lifecycle.preventDestroy and would be cancelled; "
                        "restore its manifest, or remove preventDestroy first and apply",
                        where,
                    )
                )
            changes.append(
                Change(
                    where,
                    Kind.TRAINING_JOB.value,
                    Action.CANCEL,
                    name,
                    running[-1].name,
                    reasons=reasons,
                    live_targets=targets,
                )
            )
        removed_models = sorted(set(self.models) - declared_models)
        version_deletes: dict[str, list[str]] = defaultdict(list)
        for name in sorted(self.versions):
            gone = [
                v
                for v in self.versions[name]
                if declared_versions.get(name) != v.model or v.model in removed_models
            ]
            if not gone:
                continue
            where = address(Kind.MODEL_VERSION, name)
            if name in declared_versions:
                where = f'{where}["{gone[0].model}"]'
            targets = tuple(LiveTarget(v.name, "delete", v.model) for v in gone)
            if name not in declared_versions:
                why = "its manifest was removed"
            elif gone[0].model in removed_models:
                why = "its model was removed"
            else:
                why = "its manifest now names another model"
            reasons = tuple(f"{v.name} of model {v.model}: {why}" for v in gone)
            after_switch = set()
            for version in gone:
                version_deletes[version.model].append(where)
                model = self.models.get(version.model)
                if model and model.default_version == version.name:
                    after_switch.add(new_defaults.get(version.model))
            self._protect_live(where, gone)
            changes.append(
                Change(
                    where,
                    Kind.MODEL_VERSION.value,
                    Action.DELETE,
                    name,
                    None,
                    reasons=reasons,
                    depends_on=tuple(sorted(a for a in after_switch if a and a != where)),
                    live_targets=targets,
                )
            )
        for name in removed_models:
            live = self.models[name]
            where = address(Kind.MODEL, live.manifest_name or name)
            self._protect_live(where, [live])
            changes.append(
                Change(
                    where,
                    Kind.MODEL.value,
                    Action.DELETE,
                    live.manifest_name or name,
                    name,
                    reasons=("its manifest was removed",),
                    depends_on=tuple(sorted(set(version_deletes.get(name, ())))),
                    live_targets=(LiveTarget(name, "delete"),),
                )
            )
        return changes

    # Helpers --------------------------------------------------------------------------

    def _protect(
        self, want: DesiredResource, action: Action, targets: Iterable[LiveTarget]
    ) -> None:
        if want.prevent_destroy and action.destructive:
            verb = "cancel" if action is Action.CANCEL else "delete"
            names = ", ".join(t.live_name for t in targets) or want.live_name
            self.errors.append(
                PlanError(
                    f"{want.address} has lifecycle.preventDestroy, but this plan would "
                    f"{verb} {names}; remove preventDestroy first if that is intended",
                    want.address,
                )
            )

    def _protect_live(self, where: str, live: Iterable[LiveVersion | LiveModel]) -> None:
        protected = [r.name for r in live if r.protected]
        if protected:
            self.errors.append(
                PlanError(
                    f"{where} is protected by lifecycle.preventDestroy and would be deleted "
                    f"({', '.join(protected)}); restore its manifest, or remove "
                    "preventDestroy first",
                    where,
                )
            )

    def _change(
        self,
        want: DesiredResource,
        action: Action,
        *,
        live_name: str | None = None,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        fields: Sequence[FieldChange] = (),
        reasons: Sequence[str] = (),
        depends: Sequence[str] = (),
        targets: Sequence[LiveTarget] = (),
        drift: bool = False,
    ) -> Change:
        return Change(
            address=want.address,
            kind=want.kind.value,
            action=action,
            name=want.name,
            live_name=live_name or want.live_name,
            before=before,
            after=after,
            field_changes=tuple(fields),
            replace_paths=tuple(f.path for f in fields if f.forces_replacement),
            depends_on=tuple(depends),
            reasons=tuple(reasons),
            live_targets=tuple(targets),
            drift=drift,
        )


# Reasons ------------------------------------------------------------------------------


def _job_reasons(previous: LiveJob, want: DesiredResource) -> list[str]:
    spec = previous.spec or {}
    before = spec.get("essence")
    if not isinstance(before, Mapping):
        return [f"{previous.name} has another identity (its spec was not recorded)"]
    reasons = []
    details = spec.get("details", {})
    if before.get("trainer", {}).get("source") != want.essence["trainer"]["source"]:
        reasons.append(
            _files_reason(
                "trainer source changed",
                details.get("trainer_files"),
                want.details.get("trainer_files"),
                names=True,
            )
        )
    for side in sorted(set(before.get("data", {})) | set(want.essence["data"])):
        old = before.get("data", {}).get(side)
        new = want.essence["data"].get(side)
        if old is None or new is None:
            reasons.append(f"{side} data: {_show(old)} -> {_show(new)}")
        elif old.get("patterns") != new.get("patterns") or old.get("fingerprint") != new.get(
            "fingerprint"
        ):
            reasons.append(
                f"{side} data: {_show(old.get('patterns'))} -> {_show(new.get('patterns'))}"
            )
        elif old.get("digest") != new.get("digest"):
            old_files = details.get("data_files", {}).get(side)
            new_files = want.details.get("data_files", {}).get(side)
            reasons.append(_files_reason(f"{side} data changed", old_files, new_files, names=False))
    others = ("trainer", "data")
    reasons.extend(
        _value_changes(
            {k: v for k, v in before.items() if k not in others},
            {k: v for k, v in want.essence.items() if k not in others},
        )
    )
    reasons.extend(
        _value_changes(
            {"trainer": {k: v for k, v in before.get("trainer", {}).items() if k != "source"}},
            {"trainer": {k: v for k, v in want.essence["trainer"].items() if k != "source"}},
        )
    )
    return reasons or [f"{previous.name} has another identity"]


def _value_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    flat_before, flat_after = _flatten(before), _flatten(after)
    return [
        f"{path}: {_show(flat_before.get(path, _ABSENT))} -> {_show(flat_after.get(path, _ABSENT))}"
        for path in sorted(set(flat_before) | set(flat_after))
        if flat_before.get(path, _ABSENT) != flat_after.get(path, _ABSENT)
    ]


def _files_reason(prefix: str, before: Any, after: Any, *, names: bool) -> str:
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return prefix
    changed = file_changes(before, after)
    if names:
        listed = [
            f"{p} ({kind})" for kind in ("modified", "added", "removed") for p in changed[kind]
        ]
        shown = ", ".join(listed[:8]) + (f", and {len(listed) - 8} more" if len(listed) > 8 else "")
        return f"{prefix}: {shown}" if listed else prefix
    counts = [
        f"{len(changed[k])} file{'s' if len(changed[k]) != 1 else ''} {k}"
        for k in ("added", "removed", "modified")
        if changed[k]
    ]
    return f"{prefix}: {', '.join(counts)}" if counts else prefix


def _describe(change: FieldChange) -> str:
    return f"{change.path}: {_show(change.before)} -> {_show(change.after)}"


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if value is _ABSENT or value == _ABSENT:
        return _ABSENT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value and value.strip() == value else f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, Mapping) and item:
            flat.update(_flatten(item, path))
        else:
            flat[path] = item
    return flat


def _field_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any], kind: Kind
) -> list[FieldChange]:
    flat_before = _flatten(before or {})
    flat_after = _flatten(after)
    changes = []
    for path in sorted(set(flat_before) | set(flat_after)):
        old, new = flat_before.get(path, _ABSENT), flat_after.get(path, _ABSENT)
        if old != new:
            changes.append(FieldChange(path, old, new, forces_replacement(kind, path)))
    return changes


def _user_labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if not k.startswith("mlapply-")}


def _spec_view(resource: LiveJob | LiveVersion) -> dict[str, Any] | None:
    spec = resource.spec or {}
    essence = spec.get("essence")
    if not isinstance(essence, Mapping):
        return None
    return {**essence, "labels": _user_labels(resource.labels)}


def _version_view(version: LiveVersion, model: LiveModel | None) -> dict[str, Any]:
    return {**(_spec_view(version) or {}), **_mutable_view(version, model)}


def _mutable_view(version: LiveVersion, model: LiveModel | None) -> dict[str, Any]:
    return {
        "labels": _user_labels(version.labels),
        "description": version.description,
        "default": bool(model and model.default_version == version.name),
    }


def _model_view(model: LiveModel) -> dict[str, Any]:
    return {
        "region": model.region,
        "onlinePredictionLogging": model.online_prediction_logging,
        "labels": _user_labels(model.labels),
        "description": model.description,
    }


def _failure(job: LiveJob) -> str:
    state = job.state.value.lower()
    if job.state is JobState.CANCELLED:
        return f"{job.name} was cancelled (outside mlapply, or by an interrupted apply)"
    message = (job.error or "no error message").strip().splitlines()
    return f"{job.name} {state}: {message[-1] if message else ''}".rstrip(": ")


def _state_phrase(job: LiveJob, now: float) -> str:
    if job.state is JobState.RUNNING and job.start_time:
        return f"running for {duration(now - job.start_time)}"
    if job.create_time:
        return f"{job.state.value.lower()} for {duration(now - job.create_time)}"
    return job.state.value.lower()


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min" if rest >= 60 else f"{hours} h"


# Targets ------------------------------------------------------------------------------


def _select_targets(
    changes: list[Change], desired: DesiredState, options: PlanOptions, errors: list[PlanError]
) -> tuple[list[Change], list[PlanError]]:
    if not options.targets:
        return changes, errors
    deps = desired.stack.dependencies
    keep: set[str] = set()
    pending = list(options.targets)
    while pending:
        where = pending.pop()
        if where in keep:
            continue
        keep.add(where)
        pending.extend(deps.get(where, ()))
    selected = [
        c for c in changes if c.address in keep or c.address.split("[", 1)[0] in options.targets
    ]
    chosen = {c.address for c in selected}
    return selected, [e for e in errors if e.address is None or e.address in chosen]
