"""The plan: diff(desired, live, rules) -> Plan, pure; its Change, Action and reasons."""

from reconciler.plan.diff import diff
from reconciler.plan.model import (
    Action,
    Change,
    FieldChange,
    FieldOp,
    LiveTarget,
    Plan,
    PlanError,
    PlanOptions,
    Reason,
    ReasonCode,
    Removal,
    ReplaceOrder,
)

__all__ = [
    "Action",
    "Change",
    "FieldChange",
    "FieldOp",
    "LiveTarget",
    "Plan",
    "PlanError",
    "PlanOptions",
    "Reason",
    "ReasonCode",
    "Removal",
    "ReplaceOrder",
    "diff",
]
