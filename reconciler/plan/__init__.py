"""The plan: diff(desired, live) -> Plan, pure; its Change, Action and reasons."""

from reconciler.plan.diff import diff
from reconciler.plan.model import (
    Action,
    Change,
    FieldChange,
    LiveTarget,
    Plan,
    PlanError,
    PlanOptions,
)

__all__ = [
    "Action",
    "Change",
    "FieldChange",
    "LiveTarget",
    "Plan",
    "PlanError",
    "PlanOptions",
    "diff",
]
