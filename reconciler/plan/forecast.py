"""The plan's forecast: what each change will take and cost, the totals, the budget.

A kind that costs something forecasts its own changes (a job's running time
and cost, a version's monthly serving cost); ``costing`` totals them and checks
them against the budget. Everything here is data the renderers show.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Basis(str, Enum):
    """What a job's forecast rests on, strongest first."""

    MANIFEST = "manifest"
    """Past runs of the same TrainingJob on the same machines."""
    TRAINER = "trainer"
    """Past runs of the same Trainer on the same machines (other jobs)."""
    OTHER_MACHINES = "other-machines"
    """Past runs of the same TrainingJob on other machines: weak."""
    NONE = "none"
    """No history: a first run."""


@dataclass(frozen=True)
class JobForecast:
    """A training job's (or a study's) running time and cost."""

    basis: Basis
    basis_text: str
    """For people: ``4 past runs of taxifare-dnn on BASIC, train_steps 2.0x``."""
    seconds: float | None = None
    low: float | None = None
    high: float | None = None
    weak: bool = False
    hourly: float | None = None
    """What its machines cost per hour (None: not priced, ``unpriced`` says why)."""
    unpriced: str | None = None
    running: float | None = None
    """A running job: how long it has run."""

    @property
    def left(self) -> float | None:
        """A running job: the seconds it has left by the forecast (0: past it)."""
        if self.running is None or self.seconds is None:
            return None
        return max(self.seconds - self.running, 0.0)

    def _cost(self, seconds: float | None) -> float | None:
        if seconds is None or self.hourly is None:
            return None
        return self.hourly * seconds / 3600

    @property
    def cost(self) -> float | None:
        return self._cost(self.seconds)

    @property
    def cost_low(self) -> float | None:
        return self._cost(self.low)

    @property
    def cost_high(self) -> float | None:
        return self._cost(self.high)


@dataclass(frozen=True)
class ServingForecast:
    """A version's recurring cost, per month: what it adds and what it takes away."""

    monthly: float | None
    """What the version costs a month while it serves (None: not priced)."""
    removed: float = 0.0
    """What the versions this change deletes cost a month."""
    shape: str = ""
    """``2 x n1-standard-4``."""
    unpriced: str | None = None

    @property
    def delta(self) -> float | None:
        return None if self.monthly is None else self.monthly - self.removed


Forecast = JobForecast | ServingForecast


@dataclass(frozen=True)
class Overrun:
    """A budget limit the plan's forecast exceeds."""

    limit: str
    """``perApply``, ``perJob``, ``servingPerMonth`` or ``--max-cost``."""
    allowed: float
    forecast: float
    addresses: tuple[str, ...]
    """The changes that make it up (for perJob, the one job)."""
    where: str = ""
    """Where the limit is written (``stack.yaml:9:3``, or ``--max-cost``)."""

    @property
    def excess(self) -> float:
        return self.forecast - self.allowed


@dataclass(frozen=True)
class PriceSource:
    title: str
    source: str
    as_of: str | None = None
    """ISO date of the figures (None: the stack's own)."""
    stale_days: int | None = None
    """How old the list is, when older than the staleness bound."""


@dataclass(frozen=True)
class CostSummary:
    """The plan's totals: what it trains, what serving costs before and after, and the
    budget."""

    currency: str
    prices: PriceSource | None
    """None: the backend has no price list and the stack declares no price."""
    training: float = 0.0
    training_low: float = 0.0
    training_high: float = 0.0
    seconds: float = 0.0
    """The forecast running time of the jobs the plan trains, one after another."""
    unforecast: tuple[str, ...] = ()
    """Jobs the plan trains whose cost has no forecast (no history, or no price)."""
    serving_before: float | None = None
    serving_after: float | None = None
    overruns: tuple[Overrun, ...] = ()
    override: bool = False
    """The plan was made with ``--allow-over-budget``: apply goes on anyway."""

    @property
    def over_budget(self) -> bool:
        return bool(self.overruns)
