"""Why a TrainingJob trains again, in words: which trainer files, which data files,
which fields changed since the newest older job (read from its typed record)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    import reconciler.plan.fields as field_diffs
    import reconciler.plan.model as plans
    from reconciler.backends.base import LiveJob
    from reconciler.backends.compiled import CompiledJob
    from reconciler.backends.recorded import JobRecord
    from reconciler.identity import content
    from reconciler.identity.desired import DesiredResource
    from reconciler.plan.model import Reason
else:
    content = LazyModule("reconciler.identity.content")
    field_diffs = LazyModule("reconciler.plan.fields")
    plans = LazyModule("reconciler.plan.model")


def spec_view(job: LiveJob) -> dict[str, Any] | None:
    """An older job as the plan compares it: its recorded essence and its labels."""
    record = job.record
    if record is None:
        return None
    return {**record.essence, "labels": field_diffs.user_labels(job.labels)}


def identity_reasons(previous: LiveJob, want: DesiredResource[CompiledJob]) -> list[Reason]:
    """Why the newest older job is not this identity: trainer files, data files,
    then each other field."""
    record = previous.record
    if record is None:
        text = f"{previous.name} has another identity (its spec was not recorded)"
        return [plans.Reason(plans.ReasonCode.IDENTITY_CHANGED, text)]
    reasons = _trainer_reasons(record, want) + _data_reasons(record, want)
    before: Mapping[str, Any] = record.essence
    others = ("trainer", "data")
    texts = field_diffs.value_changes(
        {k: v for k, v in before.items() if k not in others},
        {k: v for k, v in want.essence.items() if k not in others},
    )
    texts += field_diffs.value_changes(
        {"trainer": {k: v for k, v in before.get("trainer", {}).items() if k != "source"}},
        {"trainer": {k: v for k, v in want.essence["trainer"].items() if k != "source"}},
    )
    reasons.extend(plans.Reason(plans.ReasonCode.FIELD_CHANGED, t) for t in texts)
    if not reasons:
        reasons.append(
            plans.Reason(plans.ReasonCode.IDENTITY_CHANGED, f"{previous.name} has another identity")
        )
    return reasons


def _trainer_reasons(record: JobRecord, want: DesiredResource[CompiledJob]) -> list[Reason]:
    before = record.essence.get("trainer") or {}
    if before.get("source") == want.compiled.source_digest:
        return []
    text = _files_reason(
        "trainer source changed",
        record.details.get("trainer_files"),
        want.details.get("trainer_files"),
        names=True,
    )
    return [plans.Reason(plans.ReasonCode.TRAINER_CHANGED, text)]


def _data_reasons(record: JobRecord, want: DesiredResource[CompiledJob]) -> list[Reason]:
    before: Mapping[str, Any] = record.essence.get("data") or {}
    after: Mapping[str, Any] = want.essence["data"]
    reasons = []
    for side in sorted(set(before) | set(after)):
        old, new = before.get(side), after.get(side)
        if old is None or new is None:
            text = f"{side} data: {_shown(old)} -> {_shown(new)}"
        elif old.get("patterns") != new.get("patterns") or old.get("fingerprint") != new.get(
            "fingerprint"
        ):
            text = f"{side} data: {_shown(old.get('patterns'))} -> {_shown(new.get('patterns'))}"
        elif old.get("digest") != new.get("digest"):
            old_files = (record.details.get("data_files") or {}).get(side)
            new_files = want.details.get("data_files", {}).get(side)
            text = _files_reason(f"{side} data changed", old_files, new_files, names=False)
        else:
            continue
        reasons.append(plans.Reason(plans.ReasonCode.DATA_CHANGED, text))
    return reasons


def _shown(value: Any) -> str:
    return "(none)" if value is None else field_diffs.show(value)


def _files_reason(prefix: str, before: Any, after: Any, *, names: bool) -> str:
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return prefix
    changed = content.file_changes(before, after)
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
