"""What a model version served: its requests, its errors and its latency, as a
histogram, over some time.

Every serving backend reports these for a rollout's gates: ``mlapply serve`` counts
them itself (into the local store, and on ``/metrics`` for Prometheus); Vertex AI
reads them from Cloud Monitoring, whose latency is a distribution with its own
bucket bounds. A percentile is read from the buckets as Prometheus's
``histogram_quantile`` does: linear within the bucket it falls in
(prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile,
checked 2026-12-07), so it is as fine as the buckets are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

LATENCY_BOUNDS_MS: tuple[float, ...] = (
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000,
)  # fmt: skip
"""Upper bounds of ``mlapply serve``'s latency buckets, in milliseconds; a last bucket
holds what is slower."""

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}


class Served(NamedTuple):
    """A version's figures over a time: ``latency[i]`` requests took at most
    ``bounds[i]`` ms (and more than the bound before); the last count is the rest."""

    requests: int = 0
    errors: int = 0
    """Requests the version failed: its model raised, or the server did (5xx)."""
    latency: tuple[int, ...] = ()
    bounds: tuple[float, ...] = LATENCY_BOUNDS_MS

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def percentile(self, name: str) -> float | None:
        """The latency percentile (``p99``) in ms; None with nothing measured."""
        counts = self.latency
        total = sum(counts)
        if not total:
            return None
        rank = PERCENTILES[name] * total
        seen = 0
        for index, count in enumerate(counts):
            if count and seen + count >= rank:
                lower = self.bounds[index - 1] if index else 0.0
                if index >= len(self.bounds):  # slower than the last bound: say that bound
                    return lower
                upper = self.bounds[index]
                return lower + (upper - lower) * (rank - seen) / count
            seen += count
        return self.bounds[-1]

    def __add__(self, other: object) -> Served:
        if not isinstance(other, Served):
            return NotImplemented
        if not other.latency:
            latency, bounds = self.latency, self.bounds
        elif not self.latency:
            latency, bounds = other.latency, other.bounds
        elif self.bounds != other.bounds:
            raise ValueError("latency histograms of different buckets do not add")
        else:
            width = max(len(self.latency), len(other.latency))
            mine = (*self.latency, *(0,) * (width - len(self.latency)))
            theirs = (*other.latency, *(0,) * (width - len(other.latency)))
            latency = tuple(a + b for a, b in zip(mine, theirs, strict=True))
            bounds = self.bounds
        return Served(self.requests + other.requests, self.errors + other.errors, latency, bounds)


def bucket_of(milliseconds: float, bounds: Sequence[float] = LATENCY_BOUNDS_MS) -> int:
    """The index of the bucket a latency falls in."""
    for index, bound in enumerate(bounds):
        if milliseconds <= bound:
            return index
    return len(bounds)


def total(figures: Sequence[Served]) -> Served:
    found = Served()
    for one in figures:
        found = found + one
    return found
