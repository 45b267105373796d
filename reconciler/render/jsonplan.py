"""The plan's machine format: versioned, documented by schemas/plan.schema.json.

Text and Markdown are rendered from this form (never from the Python
objects), so what a person reads is exactly what a program reads; a saved
plan file is this form too.
"""

from __future__ import annotations

from typing import Any

from reconciler.plan.forecast import CostSummary, Forecast, JobForecast, Overrun
from reconciler.plan.model import Action, Change, FieldChange, FieldOp, Plan, RolloutStatus

FORMAT_VERSION = "2.2"


def plan_to_json(plan: Plan) -> dict[str, Any]:
    counts = plan.counts()
    return {
        "format_version": FORMAT_VERSION,
        "stack": plan.stack,
        "backend": plan.backend,
        "manifests_digest": plan.manifests_digest,
        "snapshot_digest": plan.snapshot_digest,
        "options": {
            "targets": list(plan.options.targets),
            "retrain": list(plan.options.retrain),
            "planned_at": plan.options.now,
            "paths": list(plan.options.paths),
            "max_cost": plan.options.max_cost,
            "allow_over_budget": plan.options.allow_over_budget,
        },
        "summary": {
            **{action.value: counts[action] for action in Action},
            "has_changes": plan.has_changes,
            "converged": plan.converged,
            "over_budget": plan.over_budget,
        },
        "changes": [_change(c) for c in plan.changes],
        "errors": [
            {"message": e.message, "address": e.address}
            | ({"location": e.location} if e.location else {})
            for e in plan.errors
        ],
        **({"cost": _cost(plan.cost)} if plan.cost is not None else {}),
        **({"backend_notice": plan.notice} if plan.notice else {}),
        **(
            {
                "removals": [
                    {"live_name": r.live_name, "manifest": r.manifest, "state": r.state}
                    for r in plan.removals
                ]
            }
            if plan.removals
            else {}
        ),
    }


def _change(change: Change) -> dict[str, Any]:
    return {
        "address": change.address,
        "kind": change.kind,
        "name": change.name,
        "action": change.action.value,
        "replace_order": change.replace_order.value if change.replace_order else None,
        "symbol": change.symbol,
        "live_name": change.live_name,
        "before": change.before,
        "after": change.after,
        "field_changes": [_field(f) for f in change.field_changes],
        "depends_on": list(change.depends_on),
        "reasons": [{"code": r.code.value, "text": r.text} for r in change.reasons],
        "live_targets": [
            {"live_name": t.live_name, "operation": t.operation, "model": t.model}
            for t in change.live_targets
        ],
        "drift": change.drift,
        **({"forecast": _forecast(change.forecast)} if change.forecast is not None else {}),
        **({"rollout": _rollout(change.rollout)} if change.rollout is not None else {}),
    }


def _rollout(status: RolloutStatus) -> dict[str, Any]:
    return {
        "state": status.state,
        "steps": list(status.steps),
        "step": status.step,
        "previous": status.previous,
        "held_seconds": _seconds(status.held_seconds),
        "requests": status.requests,
        "error_rate": status.error_rate,
        "latency_ms": {k: round(v, 1) for k, v in status.latency_ms.items()},
        "next": status.next,
        "why": status.why,
    }


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _money(value: float | None) -> float | None:
    """Amounts to a ten-thousandth of a dollar (a plan shows cents)."""
    return None if value is None else round(value, 4)


def _forecast(forecast: Forecast) -> dict[str, Any]:
    if isinstance(forecast, JobForecast):
        return {
            "type": "training",
            "basis": forecast.basis.value,
            "basis_text": forecast.basis_text,
            "seconds": _seconds(forecast.seconds),
            "low": _seconds(forecast.low),
            "high": _seconds(forecast.high),
            "weak": forecast.weak,
            "hourly": _money(forecast.hourly),
            "cost": _money(forecast.cost),
            "cost_low": _money(forecast.cost_low),
            "cost_high": _money(forecast.cost_high),
            "unpriced": forecast.unpriced,
            "running": _seconds(forecast.running),
            "left": _seconds(forecast.left),
        }
    return {
        "type": "serving",
        "shape": forecast.shape,
        "monthly": _money(forecast.monthly),
        "removed": _money(forecast.removed),
        "delta": _money(forecast.delta),
        "unpriced": forecast.unpriced,
    }


def overrun_json(overrun: Overrun) -> dict[str, Any]:
    return {
        "limit": overrun.limit,
        "allowed": overrun.allowed,
        "forecast": _money(overrun.forecast),
        "excess": _money(overrun.excess),
        "addresses": list(overrun.addresses),
        "where": overrun.where,
    }


def _cost(cost: CostSummary) -> dict[str, Any]:
    prices = cost.prices
    return {
        "currency": cost.currency,
        "prices": (
            {
                "title": prices.title,
                "source": prices.source,
                "as_of": prices.as_of,
                "stale_days": prices.stale_days,
            }
            if prices is not None
            else None
        ),
        "training": {
            "expected": _money(cost.training),
            "low": _money(cost.training_low),
            "high": _money(cost.training_high),
            "seconds": _seconds(cost.seconds),
            "unforecast": list(cost.unforecast),
        },
        "serving": {"before": _money(cost.serving_before), "after": _money(cost.serving_after)},
        "budget": {
            "over": cost.over_budget,
            "override": cost.override,
            "overruns": [overrun_json(o) for o in cost.overruns],
        },
    }


def _field(change: FieldChange) -> dict[str, Any]:
    found: dict[str, Any] = {"op": change.op.value, "path": list(change.path)}
    if change.op is not FieldOp.ADD:
        found["before"] = change.before
    if change.op is not FieldOp.REMOVE:
        found["after"] = change.after
    found["forces_replacement"] = change.forces_replacement
    return found


def error_text(error: dict[str, Any]) -> str:
    """A plan error as one line: where its cause is first, when known."""
    return f"{error['location']}: {error['message']}" if error.get("location") else error["message"]


def summary_line(document: dict[str, Any]) -> str:
    """The plan's last line: what apply would do, or that it would do nothing."""
    if document["errors"]:
        count = len(document["errors"])
        return f"Plan failed: {count} error(s); apply changes nothing until they are fixed."
    summary = document["summary"]
    line = (
        f"Plan: {summary['create']} to create, {summary['update']} to update, "
        f"{summary['replace']} to replace, {summary['delete']} to delete"
    )
    extra = [f"{summary[k]} to {k}" for k in ("cancel", "wait") if summary[k]]
    if summary.get("blocked"):
        extra.append(f"{summary['blocked']} blocked")
    removed = len(document.get("removals", ()))
    lost = f"; {removed} job run(s) removed with their outputs" if removed else ""
    return line + (", " + ", ".join(extra) if extra else "") + lost + "."


REMOVALS_HEADING = "Removed with the stack (each run's record, outputs, logs and trials):"


def removal_line(removal: dict[str, Any]) -> str:
    return f"{removal['live_name']} of job.{removal['manifest']} ({removal['state'].lower()})"


_DIGEST_LENGTH = 64


def abbreviate(value: Any) -> Any:
    """A sha256 digest shortened for people (the JSON keeps it whole)."""
    if (
        isinstance(value, str)
        and len(value) == _DIGEST_LENGTH
        and all(c in "0123456789abcdef" for c in value)
    ):
        return f"sha256:{value[:12]}"
    return value


HEADLINES = {
    "create": "will be created",
    "update": "will be updated in place",
    "replace": "will be replaced",
    "delete": "will be deleted",
    "cancel": "will be cancelled",
    "wait": "is waited for",
    "blocked": "is blocked",
    "no-op": "is up to date",
}


def headline_name(change: dict[str, Any]) -> str | None:
    """The live resource a change's headline names: what a cancel cancels (another run
    than the one the resource keeps, when the plan goes back to an earlier one), else
    the resource's own live name."""
    cancelled = [t["live_name"] for t in change["live_targets"] if t["operation"] == "cancel"]
    if change["action"] == "cancel" and cancelled:
        return ", ".join(cancelled)
    name: str | None = change["live_name"]
    return name


def read_plan_file(path: str) -> dict[str, Any]:
    """A saved plan, checked against schemas/plan.schema.json."""
    import json

    from reconciler.diagnostics import MlapplyError

    try:
        with open(path, encoding="utf-8") as handle:
            document: dict[str, Any] = json.load(handle)
    except (OSError, ValueError) as exc:
        raise MlapplyError(f"{path}: not a readable plan file ({exc})") from exc
    version = document.get("format_version") if isinstance(document, dict) else None
    major = FORMAT_VERSION.split(".", maxsplit=1)[0]
    if not isinstance(version, str) or version.split(".")[0] != major:
        raise MlapplyError(
            f"{path}: this plan is in format {version}, and this mlapply reads format "
            f"{major}.x only",
            "make the plan again with `mlapply plan -o FILE`",
        )
    from jsonschema import Draft202012Validator

    from reconciler.manifests.schema import load_schema

    problems = sorted(
        Draft202012Validator(load_schema("plan.schema.json")).iter_errors(document), key=str
    )
    if problems:
        first = problems[0]
        where = "/".join(str(p) for p in first.absolute_path) or "document"
        raise MlapplyError(f"{path}: not a valid plan file ({where}: {first.message})")
    return document
