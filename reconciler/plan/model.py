"""The plan's data: a closed set of actions, changes with their reasons, the plan.

A Change's ``reasons`` exist to explain the plan to people (their ``code``
lets programs tell them apart); apply acts on the action, the live name and
the live targets, never on the reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

from reconciler.plan.forecast import CostSummary, Forecast


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    CANCEL = "cancel"
    WAIT = "wait"
    BLOCKED = "blocked"
    """Not converged, and apply cannot converge it: a failed job not retried, a version
    of it. The plan says the way forward; it counts for ``--detailed-exitcode``."""
    NOOP = "no-op"

    @property
    def pending(self) -> bool:
        """Whether apply has something to do (or wait for) for this action."""
        return self not in (Action.NOOP, Action.BLOCKED)

    @property
    def destructive(self) -> bool:
        return self in (Action.REPLACE, Action.DELETE, Action.CANCEL)


class ReplaceOrder(str, Enum):
    """How a replacement is made (Terraform's DeleteThenCreate and CreateThenDelete)."""

    CREATE_BEFORE_DELETE = "create-before-delete"
    """The new resource is made and serves before the old one goes (model versions)."""
    DELETE_BEFORE_CREATE = "delete-before-create"
    """The old one goes first: the two cannot coexist (a model of the same name, a
    running job whose machines the new one needs)."""


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.DELETE: "-",
    Action.CANCEL: "x",
    Action.WAIT: "..",
    Action.BLOCKED: "!",
    Action.NOOP: " ",
}
_REPLACE_SYMBOLS = {
    ReplaceOrder.CREATE_BEFORE_DELETE: "+/-",
    ReplaceOrder.DELETE_BEFORE_CREATE: "-/+",
}


def symbol(action: Action, order: ReplaceOrder | None) -> str:
    """The display symbol: a replacement's shows its order."""
    if action is Action.REPLACE:
        return _REPLACE_SYMBOLS[order or ReplaceOrder.DELETE_BEFORE_CREATE]
    return _SYMBOLS[action]


class FieldOp(str, Enum):
    ADD = "add"
    CHANGE = "change"
    REMOVE = "remove"


Path = tuple[str, ...]
"""A field path as its keys: ``("hyperparameters", "learning.rate")``."""


@dataclass(frozen=True)
class FieldChange:
    """One changed field (kopf's diff item): ``before`` is None for ADD, ``after`` for REMOVE."""

    op: FieldOp
    path: Path
    before: Any = None
    after: Any = None
    forces_replacement: bool = False


class ReasonCode(str, Enum):
    """What kind of reason a Reason is; its text says the particulars."""

    NEW = "new"
    FIELD_CHANGED = "field-changed"
    TRAINER_CHANGED = "trainer-changed"
    DATA_CHANGED = "data-changed"
    IDENTITY_CHANGED = "identity-changed"
    CHANGED_OUTSIDE = "changed-outside"
    RUNNING = "running"
    RETRAIN = "retrain"
    RETRY = "retry"
    NOT_RETRIED = "not-retried"
    CANCELS_OLDER = "cancels-older"
    DELETES_OLDER = "deletes-older"
    WAITS_FOR_JOB = "waits-for-job"
    BLOCKED = "blocked"
    RECREATED = "recreated"
    REMOVED = "removed"
    RUNTIME = "runtime"
    TUNING = "tuning"
    GATE = "gate"
    ROLLOUT = "rollout"


class Reason(NamedTuple):
    code: ReasonCode
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class RolloutStatus:
    """Where a version's traffic rollout stands, as the plan read it."""

    state: str
    """``planned`` (it starts in this apply), ``rolling`` or ``rolled-back``."""
    steps: tuple[int, ...]
    """The version's percent of the traffic at each step."""
    step: int | None = None
    """The step it is at, from 1 (None: not begun)."""
    previous: str | None = None
    """The version it takes the traffic from."""
    held_seconds: float | None = None
    requests: int | None = None
    error_rate: float | None = None
    latency_ms: Mapping[str, float] = field(default_factory=dict)
    next: str | None = None
    """What apply does next: ``hold``, ``advance`` or ``roll back``."""
    why: str | None = None
    """Why it was (or will be) rolled back."""


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
    depends_on: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()
    live_targets: tuple[LiveTarget, ...] = ()
    """In the order apply acts on them (a model's default version last)."""
    replace_order: ReplaceOrder | None = None
    """For REPLACE: whether the new resource comes before the old one goes."""
    drift: bool = False
    """Whether something changed outside mlapply."""
    forecast: Forecast | None = None
    """What it will take and cost (``plan.costing``), for the kinds that cost something."""
    rollout: RolloutStatus | None = None
    """Where its traffic rollout stands, for the kinds that roll out."""

    @property
    def symbol(self) -> str:
        return symbol(self.action, self.replace_order)


@dataclass(frozen=True)
class PlanError:
    message: str
    address: str | None = None
    location: str | None = None
    """Where in the manifests the cause is (``file:line:column``), when known."""


@dataclass(frozen=True)
class PlanOptions:
    targets: tuple[str, ...] = ()
    retrain: tuple[str, ...] = ()
    now: float = 0.0
    """The time the plan is made at (diff is pure: it never reads the clock)."""
    paths: tuple[str, ...] = ()
    """The manifest paths it was made from, so a saved plan can be applied."""
    max_cost: float | None = None
    """``--max-cost``: a per-apply limit besides the Stack's budget."""
    allow_over_budget: bool = False
    """``--allow-over-budget``: apply a plan over budget (kept in a saved plan)."""


@dataclass(frozen=True)
class Removal:
    """A job run a destroy removes with the stack: its record, outputs, logs and trials
    (listed by the plan, so that apply removes no more than it shows)."""

    live_name: str
    manifest: str
    state: str


@dataclass(frozen=True)
class Plan:
    stack: str
    backend: str
    changes: tuple[Change, ...]
    errors: tuple[PlanError, ...] = ()
    manifests_digest: str = ""
    snapshot_digest: str = ""
    options: PlanOptions = field(default_factory=PlanOptions)
    notice: str | None = None
    """What the backend's profile says of every plan on it (a shut-down API)."""
    removals: tuple[Removal, ...] = ()
    """A destroy's job runs, removed after its changes."""
    cost: CostSummary | None = None
    """The forecast's totals and the budget (``plan.costing``)."""

    def counts(self) -> dict[Action, int]:
        found = dict.fromkeys(Action, 0)
        for change in self.changes:
            found[change.action] += 1
        return found

    @property
    def has_changes(self) -> bool:
        return any(c.action.pending for c in self.changes) or bool(self.removals)

    @property
    def blocked(self) -> int:
        return sum(c.action is Action.BLOCKED for c in self.changes)

    @property
    def over_budget(self) -> bool:
        """Over a budget limit, and not allowed to be: apply refuses it."""
        return self.cost is not None and self.cost.over_budget and not self.cost.override

    @property
    def converged(self) -> bool:
        """Nothing to do and nothing blocked: only then is it "No changes"."""
        return not self.has_changes and not self.blocked
