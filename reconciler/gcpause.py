"""Pausing the cyclic garbage collector while large object graphs are built.

Loading thousands of manifests makes hundreds of thousands of small objects
and no reference cycles; the collector's repeated passes over the growing
heap made plans of 10,000 resources about a third slower (bench/plan_scale.py).
Reference counting still frees everything; the collector resumes afterwards.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
