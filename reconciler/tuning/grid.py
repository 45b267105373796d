"""A GRID_SEARCH study's grid: every combination of its parameters' values, in
declaration order, enumerated lazily (a grid of three INTEGER ranges of 0..999 is a
billion combinations: counted, never built)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

from reconciler.stack.resources import Scalar, TuningParameter


def axis(param: TuningParameter) -> Sequence[Scalar]:
    """A parameter's values on the grid (a range is not materialised)."""
    if param.type == "INTEGER":
        assert param.min is not None and param.max is not None
        return range(int(param.min), int(param.max) + 1)
    return param.values


def size(params: Sequence[TuningParameter]) -> int:
    return math.prod(len(axis(p)) for p in params)


def combinations(params: Sequence[TuningParameter]) -> Iterator[dict[str, Scalar]]:
    names = [p.name for p in params]
    for combo in itertools.product(*(axis(p) for p in params)):
        yield dict(zip(names, combo, strict=True))
