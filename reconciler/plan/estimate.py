"""How long a run will take, from how long past runs took (pure numbers).

Each past run is a point: its *work* (the measure that time grows with: its
training steps, epochs times data, or data, whichever the job names; the
caller decides) and its running seconds. With runs of two or more sizes the
time is fitted as a fixed part plus a part proportional to the work, by the
Theil-Sen estimator (the median of the pairwise slopes, then the median
intercept): one slow run cannot pull the line, as it would a least-squares
one. With runs of one size only, the time of that size is their median; of
another size, it lies between the same time (were it all fixed) and time in
proportion (were none of it fixed): the forecast is the geometric middle and
the range spans both (weak: the fixed part cannot be told apart). Otherwise the
range is the spread of the past runs around the fit, never narrower than a
margin that shrinks with the number of runs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import NamedTuple


class Point(NamedTuple):
    work: float
    seconds: float


class Estimate(NamedTuple):
    seconds: float
    low: float
    high: float
    runs: int
    weak: bool
    """Fewer than three runs, runs of one size scaled, or a size far outside those seen."""
    extrapolated: bool = False
    """The size asked is well outside the sizes of the past runs."""


_MARGINS = {1: 0.5, 2: 0.3}
_MARGIN = 0.15
_OUTSIDE = 1.5
"""A size more than this factor beyond those seen is an extrapolation."""


def estimate(points: Sequence[Point], work: float) -> Estimate | None:
    """The forecast for a run of ``work``, or None without past runs."""
    usable = [p for p in points if p.seconds > 0 and p.work > 0]
    if not usable or work <= 0:
        return None
    sizes = {p.work for p in usable}
    if len(sizes) == 1 and work not in sizes:
        return _between(usable, work)
    fixed, rate = _fit(usable)
    expected = fixed + rate * work
    ratios = sorted(p.seconds / (fixed + rate * p.work) for p in usable)
    if len(ratios) >= 5:  # the spread of the middle runs: one outlier does not set it
        ratios = ratios[1:-1]
    margin = _MARGINS.get(len(usable), _MARGIN)
    low = expected * min(ratios[0], 1 - margin)
    high = expected * max(ratios[-1], 1 + margin)
    outside = work > max(sizes) * _OUTSIDE or work < min(sizes) / _OUTSIDE
    weak = len(usable) < 3 or outside
    return Estimate(expected, low, high, len(usable), weak, outside)


def _between(points: Sequence[Point], work: float) -> Estimate:
    """Runs of one size, another asked: anywhere from the same time (all of it fixed) to
    time in proportion (none of it fixed); the middle of the two, geometrically."""
    (size,) = {p.work for p in points}
    seen = statistics.median(p.seconds for p in points)
    ratio = work / size
    margin = _MARGINS.get(len(points), _MARGIN)
    low, high = sorted((seen, seen * ratio))
    outside = ratio > _OUTSIDE or ratio < 1 / _OUTSIDE
    return Estimate(
        seen * math.sqrt(ratio), low * (1 - margin), high * (1 + margin), len(points), True, outside
    )


def _fit(points: Sequence[Point]) -> tuple[float, float]:
    """(fixed seconds, seconds per unit of work) by Theil-Sen, neither negative; runs of
    one size: all of their time fixed."""
    if len({p.work for p in points}) == 1:
        return statistics.median(p.seconds for p in points), 0.0
    slopes = [
        (b.seconds - a.seconds) / (b.work - a.work)
        for i, a in enumerate(points)
        for b in points[i + 1 :]
        if b.work != a.work
    ]
    rate = max(statistics.median(slopes), 0.0)
    fixed = statistics.median(p.seconds - rate * p.work for p in points)
    if fixed < 0:  # time proportional to the work, through the origin
        return 0.0, statistics.median(p.seconds / p.work for p in points)
    return fixed, rate
