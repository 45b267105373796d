"""The forecast in words: durations, dollars, each change's line and the plan's totals.

Rendered from the JSON plan (as every view is), so text, Markdown and the
console say the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reconciler.plan.phrases import duration


def money(amount: float) -> str:
    """``$3.10``, ``$1,234``, ``<$0.01``; a negative amount with its sign first."""
    if amount < 0:
        return "-" + money(-amount)
    if 0 < amount < 0.005:
        return "<$0.01"
    if amount >= 1000:
        return f"${amount:,.0f}"
    return f"${amount:,.2f}"


def _span(low: float | None, high: float | None, unit: Callable[[float], str] = duration) -> str:
    if low is None or high is None:
        return ""
    return f"{unit(low)} to {unit(high)}"


def job_line(forecast: dict[str, Any]) -> str:
    """``≈ 14 min (9 min-21 min; 4 past runs of ...) · ≈ $3.10 ($2.00-$4.60)``."""
    seconds = forecast.get("seconds")
    if seconds is None:
        text = str(forecast["basis_text"])
        if forecast.get("hourly") is not None:
            text += f" · {money(forecast['hourly'])}/h"
        return text
    span = _span(forecast.get("low"), forecast.get("high"))
    text = f"≈ {duration(seconds)} ({span}; {forecast['basis_text']})"
    if forecast.get("left") is not None:
        left, ran = forecast["left"], forecast.get("running") or 0.0
        text = (
            f"≈ {duration(left)} left of {text}"
            if left > 0
            else f"running {duration(ran - seconds)} past its forecast of {text}"
        )
    if forecast.get("cost") is not None:
        text += f" · ≈ {money(forecast['cost'])}"
        text += f" ({_span(forecast.get('cost_low'), forecast.get('cost_high'), money)})"
    if forecast.get("weak"):
        text += " · weak basis"
    return text


def serving_line(forecast: dict[str, Any]) -> str:
    """``1 x n1-standard-2 ≈ $79.94/month (and -$79.94/month of what it deletes)``."""
    monthly, removed = forecast.get("monthly"), forecast.get("removed") or 0.0
    if not forecast.get("shape"):  # a deletion
        return f"{money(-removed)}/month"
    if monthly is None:
        return f"{forecast['shape']}: not priced ({forecast.get('unpriced')})"
    text = f"{forecast['shape']} ≈ {money(monthly)}/month"
    if removed:
        text += f" (replacing {money(removed)}/month)"
    return text


def change_line(change: dict[str, Any]) -> tuple[str, str] | None:
    """(label, text) of a change's forecast, or None."""
    forecast = change.get("forecast")
    if not forecast:
        return None
    if forecast["type"] == "serving":
        return "serving", serving_line(forecast)
    return "forecast", job_line(forecast)


def short(change: dict[str, Any]) -> str:
    """A table cell: ``≈ 14 min · ≈ $3.10``, ``+$79.94/month``, or ``-``."""
    forecast = change.get("forecast")
    if not forecast:
        return "-"
    if forecast["type"] == "serving":
        delta = forecast.get("delta")
        return "not priced" if delta is None else f"{'+' if delta >= 0 else ''}{money(delta)}/month"
    if forecast.get("seconds") is None:
        return "first run"
    found = f"≈ {duration(forecast['seconds'])}"
    if forecast.get("cost") is not None:
        found += f" · ≈ {money(forecast['cost'])}"
    return found


LIMIT_NAMES = {
    "perApply": "spec.budget.perApply",
    "perJob": "spec.budget.perJob",
    "servingPerMonth": "spec.budget.servingPerMonth",
    "--max-cost": "--max-cost",
}


def overrun_line(overrun: Mapping[str, Any]) -> str:
    """``spec.budget.perJob $2.00 (stack.yaml:9:3): job.x ≈ $3.10, $1.10 over``."""
    name = LIMIT_NAMES.get(overrun["limit"], overrun["limit"])
    where = overrun.get("where")
    at = f" ({where})" if where and where != "--max-cost" else ""
    month = "/month" if overrun["limit"] == "servingPerMonth" else ""
    listed = overrun["addresses"]
    who = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
    return (
        f"{name} {money(overrun['allowed'])}{month}{at}: {who} ≈ "
        f"{money(overrun['forecast'])}{month}, {money(overrun['excess'])} over"
    )


def summary_lines(document: Mapping[str, Any]) -> list[str]:
    """The plan's cost in a few lines (none when nothing in it has a figure); the
    limits it exceeds are ``overrun_lines``."""
    cost = document.get("cost")
    forecasts = [c["forecast"] for c in document["changes"] if c.get("forecast")]
    figures = [f for f in forecasts if f.get("seconds") is not None or f.get("monthly")]
    if not cost or not forecasts or (cost["prices"] is None and not figures):
        return []  # nothing to say beyond each change's own line
    training, prices = cost["training"], cost["prices"]
    lines: list[str] = []
    if prices is None:
        unpriced = next((f["unpriced"] for f in forecasts if f.get("unpriced")), "no prices")
        time = f"≈ {duration(training['seconds'])} of running jobs; " if training["seconds"] else ""
        return [f"Forecast: {time}no costs ({unpriced})."]
    parts = []
    if training["expected"] or training["seconds"]:
        span = _span(training["low"], training["high"], money)
        parts.append(f"≈ {money(training['expected'])} to train ({span})")
    if training["seconds"]:
        parts.append(f"≈ {duration(training['seconds'])} of running jobs")
    if training["unforecast"]:
        listed = training["unforecast"]
        parts.append(f"not counted: {', '.join(listed[:5])}{' ...' if len(listed) > 5 else ''}")
    if parts:
        lines.append("Cost: " + "; ".join(parts) + ".")
    serving = cost["serving"]
    if serving["before"] is not None and serving["after"] is not None:
        delta = serving["after"] - serving["before"]
        if abs(delta) >= 0.005:
            sign = "+" if delta > 0 else ""
            lines.append(
                f"Serving: {money(serving['before'])}/month -> {money(serving['after'])}/month "
                f"({sign}{money(delta)})."
            )
    dated = f" as of {prices['as_of']}" if prices.get("as_of") else ""
    old = (
        f" ({prices['stale_days']} days old: check {prices['source']})"
        if prices.get("stale_days")
        else ""
    )
    lines.append(f"Prices: {prices['title']}{dated}{old}.")
    return lines


def overrun_lines(document: Mapping[str, Any]) -> list[str]:
    """``Over budget: ...`` for each limit the plan's forecast exceeds."""
    budget = (document.get("cost") or {}).get("budget") or {}
    allowed = " (allowed: --allow-over-budget)" if budget.get("override") else ""
    return [f"Over budget: {overrun_line(o)}{allowed}." for o in budget.get("overruns", ())]
