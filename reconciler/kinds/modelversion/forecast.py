"""A ModelVersion's forecast: what it costs a month while it serves (pure).

A serving version holds its nodes whether or not requests come: its minimum
nodes (or its fixed ``nodes``) times its machine's hourly price, 730 hours a
month (Google's pricing pages count a month so). Where the backend scales a
version to zero (ML Engine's legacy prediction) minNodes 0 costs nothing idle.
A change that deletes versions takes their cost away. Versions are priced in
the stack's region. A backend whose versions hold nothing while idle (the
local one: ``mlapply serve`` runs when you run it) has no serving cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.kinds.modelversion.identity import compiled_version
from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    import reconciler.backends.base as records
    import reconciler.backends.prices as pricing
    import reconciler.plan.forecast as forecasts
    import reconciler.plan.model as plans
    from reconciler.plan.costing import ForecastView
    from reconciler.plan.forecast import ServingForecast
    from reconciler.plan.model import Change
else:
    forecasts = LazyModule("reconciler.plan.forecast")
    plans = LazyModule("reconciler.plan.model")
    pricing = LazyModule("reconciler.backends.prices")
    records = LazyModule("reconciler.backends.base")


def forecast(change: Change, view: ForecastView) -> ServingForecast | None:
    if view.profile.serving_cost is not None or change.action not in (
        plans.Action.CREATE,
        plans.Action.REPLACE,
        plans.Action.DELETE,
    ):
        return None
    removed = sum(
        _live_monthly(view, t.live_name) or 0.0
        for t in change.live_targets
        if t.operation == "delete"
    )
    want = view.desired.resources.get(change.address)
    if change.action is plans.Action.DELETE or want is None:
        return forecasts.ServingForecast(0.0, removed)
    version = compiled_version(want)
    scaling = version.scaling
    nodes = scaling.nodes if scaling.nodes is not None else scaling.min_nodes
    monthly, shape, why = _monthly(view, version.machine_type, nodes)
    return forecasts.ServingForecast(monthly, removed, shape, why)


def standing(view: ForecastView) -> float | None:
    if view.profile.serving_cost is not None or view.prices is None:
        return None
    total = 0.0
    for version in view.owned(view.live.versions):
        if version.state is records.VersionState.READY:
            total += _live_monthly(view, version.name) or 0.0
    return total


def _live_monthly(view: ForecastView, name: str) -> float | None:
    index: dict[str, Any] = view.memo(
        "forecast.versions", lambda: {v.name: v for v in view.owned(view.live.versions)}
    )
    live = index.get(name)
    record = live.record if live is not None else None
    if record is None:
        return None
    essence: Mapping[str, Any] = record.essence
    scaling = essence.get("scaling") or {}
    nodes = scaling.get("nodes") if scaling.get("nodes") is not None else scaling.get("minNodes")
    machine = essence.get("machineType")
    if not isinstance(machine, str):
        return None
    return _monthly(view, machine, nodes if isinstance(nodes, int) else None)[0]


def _monthly(
    view: ForecastView, machine: str, nodes: int | None
) -> tuple[float | None, str, str | None]:
    """(monthly cost, ``2 x n1-standard-4``, why it is not priced)."""
    prices = view.prices
    count = nodes if nodes is not None else 1
    if count == 0 and prices is not None and prices.scales_to_zero:
        return 0.0, f"0 x {machine} idle (scales to zero)", None
    count = max(count, 1)  # a backend that does not scale to zero keeps one node
    shape = f"{count} x {machine}"
    if prices is None:
        return None, shape, view.unpriced()
    priced = prices.serving(machine, count, view.stack.settings.region)
    if priced.hourly is None:
        return None, shape, priced.missing
    return priced.hourly * pricing.HOURS_PER_MONTH, shape, None
