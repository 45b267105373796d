"""The plan's data: a closed set of actions, changes with their reasons, the plan.

A Change's ``reasons`` exist to explain the plan to people; apply acts on
the action, the live name and the live targets, never on the reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    CANCEL = "cancel"
    WAIT = "wait"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    @property
    def pending(self) -> bool:
        """Whether apply has something to do (or wait for) for this action."""
        return self is not Action.NOOP

    @property
    def destructive(self) -> bool:
        return self in (Action.REPLACE, Action.DELETE, Action.CANCEL)


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.CANCEL: "x",
    Action.WAIT: "..",
    Action.NOOP: " ",
}


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any
    after: Any
    forces_replacement: bool = False


@dataclass(frozen=True)
class LiveTarget:
    """A live resource a change acts on besides the one it creates or updates."""

    live_name: str
    operation: str
    """``cancel`` (a job) or ``delete`` (a version, a model)."""
    model: str | None = None
    """For versions: the live model they belong to."""


@dataclass(frozen=True)
class Change:
    address: str
    kind: str
    action: Action
    name: str
    """The manifest name."""
    live_name: str | None
    """The live resource this change creates, updates or waits for."""
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    field_changes: tuple[FieldChange, ...] = ()
    replace_paths: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    live_targets: tuple[LiveTarget, ...] = ()
    drift: bool = False
    """Whether something changed outside mlapply."""


@dataclass(frozen=True)
class PlanError:
    message: str
    address: str | None = None


@dataclass(frozen=True)
class PlanOptions:
    targets: tuple[str, ...] = ()
    retrain: tuple[str, ...] = ()
    now: float = 0.0
    """The time the plan is made at (diff is pure: it never reads the clock)."""
    paths: tuple[str, ...] = ()
    """The manifest paths it was made from, so a saved plan can be applied."""


@dataclass(frozen=True)
class Plan:
    stack: str
    backend: str
    changes: tuple[Change, ...]
    errors: tuple[PlanError, ...] = ()
    manifests_digest: str = ""
    snapshot_digest: str = ""
    options: PlanOptions = field(default_factory=PlanOptions)

    def counts(self) -> dict[Action, int]:
        found = dict.fromkeys(Action, 0)
        for change in self.changes:
            found[change.action] += 1
        return found

    @property
    def has_changes(self) -> bool:
        return any(c.action.pending for c in self.changes)
