"""cost(plan) -> plan with forecasts: pure, generic over the kinds that cost something.

Each kind's forecaster (from the kinds table, passed in) forecasts its own
changes: a job's running time and cost from the stack's history, a version's
monthly serving cost. This module totals them (what the apply trains, the
stack's serving cost before and after) and checks the totals against the
Stack's budget and ``--max-cost``. It reads no clock: the plan's ``now`` dates
the price list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Protocol

from reconciler.backends.base import LiveSnapshot
from reconciler.backends.prices import CURRENCY, STALE_AFTER_DAYS, Prices
from reconciler.backends.profile import Profile
from reconciler.identity.desired import DesiredState
from reconciler.plan.diff import PlanView
from reconciler.plan.forecast import (
    CostSummary,
    Forecast,
    JobForecast,
    Overrun,
    PriceSource,
    ServingForecast,
)
from reconciler.plan.model import Action, Change, Plan

TRAINS = (Action.CREATE, Action.REPLACE)
"""The actions that start a job: what an apply's training cost counts."""


class ForecastView(PlanView):
    """What a kind's forecaster sees: the plan's view, the prices and the profile."""

    def __init__(
        self,
        desired: DesiredState,
        live: LiveSnapshot,
        plan: Plan,
        prices: Prices | None,
        profile: Profile,
    ) -> None:
        super().__init__(desired, live, plan.options)
        self.prices = prices
        self.profile = profile

    def unpriced(self) -> str:
        """Why nothing is priced here (no list, no declared price)."""
        return (
            f"{self.profile.title} has no price list: set spec.prices.nodeHour in the Stack "
            "to see costs"
        )


class Forecaster(Protocol):
    @property
    def kind(self) -> str: ...

    def forecast(self, change: Change, view: ForecastView) -> Forecast | None: ...

    def standing(self, view: ForecastView) -> float | None:
        """What the live resources of this kind cost a month now (None: nothing
        recurring, or not priced)."""
        ...


def cost(
    plan: Plan,
    desired: DesiredState,
    live: LiveSnapshot,
    prices: Prices | None,
    profile: Profile,
    forecasters: Sequence[Forecaster],
) -> Plan:
    """The plan with each change's forecast, its totals and its budget check."""
    view = ForecastView(desired, live, plan, prices, profile)
    by_kind = {f.kind: f for f in forecasters}
    changes = []
    for change in plan.changes:
        forecaster = by_kind.get(change.kind)
        found = forecaster.forecast(change, view) if forecaster else None
        changes.append(replace(change, forecast=found) if found is not None else change)
    summary = _summary(changes, view, forecasters)
    return replace(plan, changes=tuple(changes), cost=summary)


def _summary(
    changes: Sequence[Change], view: ForecastView, forecasters: Sequence[Forecaster]
) -> CostSummary:
    training = [(c, c.forecast) for c in changes if isinstance(c.forecast, JobForecast)]
    starting = [(c, f) for c, f in training if c.action in TRAINS]
    priced = [(c, f) for c, f in starting if f.cost is not None]
    serving = [(c, c.forecast) for c in changes if isinstance(c.forecast, ServingForecast)]
    before = after = None
    if view.prices is not None:
        standing = [f.standing(view) for f in forecasters]
        before = sum(s for s in standing if s is not None)
        deltas = [f.delta for _, f in serving]
        after = None if None in deltas else before + sum(d for d in deltas if d is not None)
    summary = CostSummary(
        currency=CURRENCY,
        prices=_source(view),
        training=sum(f.cost or 0.0 for _, f in priced),
        training_low=sum(f.cost_low or 0.0 for _, f in priced),
        training_high=sum(f.cost_high or 0.0 for _, f in priced),
        seconds=sum(f.seconds or 0.0 for _, f in starting),
        unforecast=tuple(c.address for c, f in starting if f.cost is None),
        serving_before=before,
        serving_after=after,
        override=view.options.allow_over_budget,
    )
    return replace(summary, overruns=_overruns(summary, priced, serving, view))


def _overruns(
    summary: CostSummary,
    priced: Sequence[tuple[Change, JobForecast]],
    serving: Sequence[tuple[Change, ServingForecast]],
    view: ForecastView,
) -> tuple[Overrun, ...]:
    budget = view.stack.settings.budget
    where = budget.location
    found: list[Overrun] = []
    if budget.per_job is not None:
        found.extend(
            Overrun("perJob", budget.per_job, f.cost, (c.address,), where)
            for c, f in priced
            if f.cost is not None and f.cost > budget.per_job
        )
    everything = tuple(c.address for c, _ in priced)
    if budget.per_apply is not None and summary.training > budget.per_apply:
        found.append(Overrun("perApply", budget.per_apply, summary.training, everything, where))
    limit = view.options.max_cost
    if limit is not None and summary.training > limit:
        found.append(Overrun("--max-cost", limit, summary.training, everything, "--max-cost"))
    before, after = summary.serving_before, summary.serving_after
    cap = budget.serving_per_month
    if cap is not None and after is not None and after > cap and after > (before or 0.0):
        raising = tuple(c.address for c, f in serving if (f.delta or 0.0) > 0)
        found.append(Overrun("servingPerMonth", cap, after, raising, where))
    return tuple(found)


def _source(view: ForecastView) -> PriceSource | None:
    prices = view.prices
    if prices is None:
        return None
    if prices.as_of is None:
        return PriceSource(prices.title, prices.source)
    age = (_day(view.options.now) - prices.as_of).days
    stale = age if age > STALE_AFTER_DAYS else None
    return PriceSource(prices.title, prices.source, prices.as_of.isoformat(), stale)


def _day(now: float) -> date:
    return datetime.fromtimestamp(now, UTC).date()
