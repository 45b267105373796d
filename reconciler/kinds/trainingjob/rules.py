"""A TrainingJob's plan rules (pure: they read the desired state and the snapshot).

A job of the current identity that is queued or running is waited for, one that
succeeded is up to date, one that failed is resubmitted only within
retry.maxAttempts (its trainer's failures) or retry.maxResubmits (lost to the
machinery), or with --retrain; a job of an older identity still running is
cancelled first (delete-before-create: the new one needs the machines). Jobs no
manifest declares are cancelled while they run; finished ones are history.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.backends import registry
from reconciler.kinds.indexes import live_jobs
from reconciler.kinds.trainingjob.build import UPDATABLE
from reconciler.kinds.trainingjob.identity import compiled_job, job_live_name
from reconciler.kinds.trainingjob.reasons import identity_reasons, spec_view
from reconciler.lazy import LazyModule
from reconciler.stack.resources import TrainingJob, address

if TYPE_CHECKING:
    import reconciler.backends.base as records
    import reconciler.plan.fields as field_diffs
    import reconciler.plan.model as plans
    from reconciler.backends.base import LiveJob
    from reconciler.backends.compiled import CompiledJob
    from reconciler.identity.desired import DesiredResource
    from reconciler.plan import phrases
    from reconciler.plan.diff import PlanView
    from reconciler.plan.model import Action, Change, FieldChange, Reason
    from reconciler.tuning import spec as tuning_spec
else:
    field_diffs = LazyModule("reconciler.plan.fields")
    phrases = LazyModule("reconciler.plan.phrases")
    plans = LazyModule("reconciler.plan.model")
    records = LazyModule("reconciler.backends.base")
    tuning_spec = LazyModule("reconciler.tuning.spec")


def plan(want: DesiredResource[CompiledJob], view: PlanView) -> Change:
    runs = live_jobs(view).get(want.name, [])
    current = [j for j in runs if j.hash == want.hash]
    stale = [j for j in runs if j.hash != want.hash and unfinished(j)]
    older = [j for j in runs if j.hash != want.hash]
    after = {**want.essence, **want.mutable}
    retrain = want.name in view.options.retrain
    reasons: list[Reason] = []
    latest = current[-1] if current else None
    live_name = latest.name if latest else want.live_name
    before: Mapping[str, Any] | None = None
    fields: list[FieldChange] = []
    action = plans.Action.NOOP
    now = view.options.now

    # A newer run of another identity (an `apply --var`, or a branch applied first):
    # going back to this plan's identity is shown as the change it is.
    newer = [j for j in runs if latest is not None and j.hash != want.hash and _after(j, latest)]

    if latest is not None and unfinished(latest):
        action = plans.Action.WAIT
        text = f"{latest.name} is {phrases.state_phrase(latest, now)}"
        reasons.append(plans.Reason(plans.ReasonCode.RUNNING, text))
    elif latest is not None and latest.state is records.JobState.SUCCEEDED and not retrain:
        # Same hash, same essence: no need to decode the live record.
        before = {**want.essence, "labels": field_diffs.user_labels(latest.labels)}
        action, fields, reasons = _labels(want, latest, view)
    elif latest is not None:
        attempts = len(current)
        if latest.state is records.JobState.SUCCEEDED:
            text = f"--retrain {want.name}: {latest.name} succeeded; training again"
            reasons.append(plans.Reason(plans.ReasonCode.RETRAIN, text))
            action = plans.Action.CREATE
        else:
            action, why = _after_failure(want, current, view)
            reasons.append(why)
        if action is plans.Action.CREATE:
            live_name = job_live_name(want.name, want.hash, attempts + 1)
    else:
        action = plans.Action.CREATE
        if older:
            previous = older[-1]
            before = spec_view(previous)
            fields = field_diffs.field_changes(before, after, UPDATABLE)
            reasons.extend(identity_reasons(previous, want))
        else:
            job = compiled_job(want)
            text = f"new job on {job.scale_tier}: {job.describe_pools()}"
            reasons.append(plans.Reason(plans.ReasonCode.NEW, text))

    if action is plans.Action.CREATE:
        reasons.extend(_runtime_reasons(want, view))
        job = compiled_job(want)
        if job.tuning is not None:
            profile = registry.profile(view.stack.settings.backend)
            text = tuning_spec.phrase(
                job.tuning, profile.search_phrases, profile.trial_slots(job.pools)
            )
            reasons.append(plans.Reason(plans.ReasonCode.TUNING, text))
        _check_data(want, view)
    if newer and latest is not None and action is plans.Action.NOOP and not stale:
        reasons.extend(_back_to(latest, newer[-1], want))
    targets = tuple(plans.LiveTarget(j.name, "cancel") for j in stale)
    if stale:
        reasons.extend(
            plans.Reason(
                plans.ReasonCode.CANCELS_OLDER,
                f"running job {j.name} (applied after {latest.name}, with other values) "
                f"will be cancelled; {latest.name}, which succeeded, is this plan's job "
                "again: nothing trains"
                if latest is not None and j in newer and latest.state is records.JobState.SUCCEEDED
                else f"running job {j.name} (an older identity) will be cancelled",
            )
            for j in stale
        )
        if action is plans.Action.CREATE:
            action = plans.Action.REPLACE
        elif action in (plans.Action.NOOP, plans.Action.WAIT):
            action = plans.Action.CANCEL
            # How what is cancelled differs from this plan's job (which is not replaced:
            # it trained already, or trains on).
            before = spec_view(stale[-1])
            changed = field_diffs.field_changes(before, after, UPDATABLE) if before else []
            fields = [dataclasses.replace(f, forces_replacement=False) for f in changed]
        view.protect(want, action, targets)
    return view.change(
        want,
        action,
        live_name=live_name,
        before=before,
        after=after,
        fields=fields,
        reasons=reasons,
        targets=targets,
        replace_order=plans.ReplaceOrder.DELETE_BEFORE_CREATE,
    )


def _after(job: LiveJob, other: LiveJob) -> bool:
    return (job.create_time or 0) > (other.create_time or 0)


def _back_to(latest: LiveJob, newest: LiveJob, want: DesiredResource[CompiledJob]) -> list[Reason]:
    """Why nothing trains though the newest run is another identity: this plan's
    identity trained before it; and how the newest run differs."""
    text = (
        f"back to {latest.name}, which succeeded: the newest run, {newest.name}, was "
        "applied after it with other values; nothing trains, and what deploys this "
        f"job deploys {latest.name} again"
    )
    return [
        plans.Reason(plans.ReasonCode.IDENTITY_CHANGED, text),
        *(
            plans.Reason(r.code, f"from {newest.name}: {r.text}")
            for r in identity_reasons(newest, want)
        ),
    ]


def _after_failure(
    want: DesiredResource[CompiledJob], current: list[LiveJob], view: PlanView
) -> tuple[Action, Reason]:
    """Resubmit a failed job within its bound, or block it with the way forward.

    The trainer's own failures count against ``retry.maxAttempts``; a job lost to the
    machinery (its supervisor gone) against ``retry.maxResubmits``, without --retrain:
    it is not the trainer's fault."""
    latest, job = current[-1], view.stack.jobs[want.name]
    what = phrases.failure(latest)
    if want.name in view.options.retrain:
        return plans.Action.CREATE, plans.Reason(
            plans.ReasonCode.RETRAIN, f"{what}; --retrain {want.name}"
        )
    if latest.lost:
        count, allowed = sum(j.lost for j in current), job.max_resubmits
        if count < allowed:
            why = (latest.error or "its supervisor is gone").strip().splitlines()[0]
            text = (
                f"{latest.name} was lost to the machinery ({why.rstrip(':')}); "
                f"resubmitting, attempt {count + 1} of {allowed}"
            )
            return plans.Action.CREATE, plans.Reason(plans.ReasonCode.RETRY, text)
        text = (
            f"{what} ({count} of {allowed} attempts lost); not resubmitted: "
            f"use --retrain {want.name} or raise spec.retry.maxResubmits"
        )
        return plans.Action.BLOCKED, plans.Reason(plans.ReasonCode.NOT_RETRIED, text)
    count, allowed = sum(not j.lost for j in current), job.max_attempts
    if count < allowed:
        text = f"{what}; attempt {count + 1} of {allowed}"
        return plans.Action.CREATE, plans.Reason(plans.ReasonCode.RETRY, text)
    text = (
        f"{what} (attempt {count} of {allowed}); not retried: "
        f"use --retrain {want.name} or raise spec.retry.maxAttempts"
    )
    return plans.Action.BLOCKED, plans.Reason(plans.ReasonCode.NOT_RETRIED, text)


def _labels(
    want: DesiredResource[CompiledJob], job: LiveJob, view: PlanView
) -> tuple[Action, list[FieldChange], list[Reason]]:
    if dict(job.labels) == want.live_labels(view.stack.name):
        return plans.Action.NOOP, [], []
    fields = field_diffs.field_changes(
        {"labels": field_diffs.user_labels(job.labels)},
        {"labels": want.mutable["labels"]},
        UPDATABLE,
    )
    record = job.record
    recorded = record.labels if record is not None else None
    if recorded is not None and recorded != field_diffs.user_labels(job.labels):
        code, prefix = plans.ReasonCode.CHANGED_OUTSIDE, "changed outside mlapply: "
    else:
        code, prefix = plans.ReasonCode.FIELD_CHANGED, ""
    return (
        plans.Action.UPDATE,
        fields,
        [plans.Reason(code, prefix + field_diffs.describe(f)) for f in fields],
    )


def removed(view: PlanView) -> list[Change]:
    declared = set(view.stack.jobs)
    changes: list[Change] = []
    jobs = live_jobs(view)
    for name in sorted(set(jobs) - declared):
        running = [j for j in jobs[name] if j.state.active]
        if not running:
            continue  # finished jobs are history
        where = address(TrainingJob.prefix, name)
        view.protect_live(where, running, verb="cancelled")
        changes.append(
            plans.Change(
                where,
                TrainingJob.kind,
                plans.Action.CANCEL,
                name,
                running[-1].name,
                reasons=tuple(
                    plans.Reason(
                        plans.ReasonCode.REMOVED,
                        f"{j.name} is {phrases.state_phrase(j, view.options.now)}; "
                        "its manifest was removed",
                    )
                    for j in running
                ),
                live_targets=tuple(plans.LiveTarget(j.name, "cancel") for j in running),
            )
        )
    return changes


def unfinished(job: LiveJob) -> bool:
    return job.state.active or job.state is records.JobState.CANCELLING


def _check_data(want: DesiredResource[CompiledJob], view: PlanView) -> None:
    """A job about to train on local data that matches no files would fail when it
    starts: a plan error now (validate only warns: the data may come later)."""
    job = compiled_job(want)
    inputs = job.inputs
    if inputs is None:
        return
    files: Mapping[str, Any] = want.details.get("data_files", {})
    for side, patterns in (("train", inputs.train), ("eval", inputs.eval)):
        found = job.data.get(side)
        local = [p for p in patterns if not p.startswith("gs://")]
        if (
            found is not None
            and found.mode == "content"
            and local
            and len(local) == len(patterns)
            and not files.get(side)
        ):
            view.errors.append(
                plans.PlanError(
                    f"{want.address} would train on Dataset {inputs.dataset}'s {side} data, but "
                    f"{', '.join(local)} match no files (relative to {inputs.base_dir}): add "
                    "the files or fix the pattern",
                    want.address,
                    str(view.stack.datasets[inputs.dataset].meta.location)
                    if inputs.dataset in view.stack.datasets
                    else None,
                )
            )


def _runtime_reasons(want: DesiredResource[CompiledJob], view: PlanView) -> list[Reason]:
    """What a job that will train runs on, and whether its environment is built first."""
    job = compiled_job(want)
    profile = registry.profile(view.stack.settings.backend)
    image = profile.describe_image(job)
    if image is not None:
        return [plans.Reason(plans.ReasonCode.RUNTIME, image)]
    note = profile.describe_runtime(job.runtime_version, job.python_version)
    if note is None:
        return []
    text = note.text if note.mapped else f"runs on {note.text}"
    if note.environment and note.environment not in view.live.environments:
        text += f"; its runtime environment is built first ({note.size})"
    return [plans.Reason(plans.ReasonCode.RUNTIME, text)]
