"""Which fields the backends can change in place, per kind, as data.

Anything else in a resource (its essence: everything its identity hash
covers) cannot change in place: jobs and model versions are immutable, and a
model's region and logging are fixed at creation, so a change there makes a
new resource that replaces the old one.
"""

from __future__ import annotations

from reconciler.stack.resources import Kind

UPDATABLE: dict[Kind, frozenset[str]] = {
    Kind.TRAINING_JOB: frozenset({"labels"}),
    Kind.MODEL: frozenset({"labels", "description"}),
    Kind.MODEL_VERSION: frozenset({"labels", "description", "default"}),
}


def forces_replacement(kind: Kind, path: str) -> bool:
    """Whether a change at a dotted field path cannot be made in place."""
    return path.split(".", 1)[0] not in UPDATABLE[kind]
