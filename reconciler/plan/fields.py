"""Field-level differences and how values read in reasons (pure).

Paths are tuples of keys, so a hyperparameter named ``learning.rate`` stays
one key; the dotted form is only for people.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from reconciler.plan.model import FieldChange, FieldOp, Path

_ABSENT = object()


def flatten(value: Mapping[str, Any], prefix: Path = ()) -> dict[Path, Any]:
    """Leaves by path; an empty mapping is a leaf."""
    flat: dict[Path, Any] = {}
    for key, item in value.items():
        path = (*prefix, str(key))
        if isinstance(item, Mapping) and item:
            flat.update(flatten(item, path))
        else:
            flat[path] = item
    return flat


def field_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any], updatable: Collection[str]
) -> list[FieldChange]:
    """Each leaf that differs; one whose top-level field is not ``updatable`` forces
    a replacement."""
    old_flat, new_flat = flatten(before or {}), flatten(after)
    changes = []
    for path in sorted(set(old_flat) | set(new_flat)):
        old, new = old_flat.get(path, _ABSENT), new_flat.get(path, _ABSENT)
        if old == new:
            continue
        forces = path[0] not in updatable
        if old is _ABSENT:
            changes.append(FieldChange(FieldOp.ADD, path, after=new, forces_replacement=forces))
        elif new is _ABSENT:
            changes.append(FieldChange(FieldOp.REMOVE, path, before=old, forces_replacement=forces))
        else:
            changes.append(FieldChange(FieldOp.CHANGE, path, old, new, forces))
    return changes


def value_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """``path: old -> new`` for each leaf that differs."""
    return [describe(change) for change in field_changes(before, after, ())]


def dotted(path: Sequence[str]) -> str:
    """A field path for people: its keys joined by dots."""
    return ".".join(path)


def describe(change: FieldChange) -> str:
    before = "(none)" if change.op is FieldOp.ADD else show(change.before)
    after = "(none)" if change.op is FieldOp.REMOVE else show(change.after)
    return f"{dotted(change.path)}: {before} -> {after}"


def show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value and value.strip() == value else f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def user_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """A live resource's labels without mlapply's own."""
    return {k: v for k, v in labels.items() if not k.startswith("mlapply-")}
