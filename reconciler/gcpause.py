"""Pausing the cyclic garbage collector while large object graphs are built.

Loading thousands of manifests makes hundreds of thousands of small objects
and no reference cycles; the collector's repeated passes over the growing
heap made plans of 10,000 resources about a third slower (bench/plan_scale.py).
Reference counting still frees everything; the collector resumes afterwards.

When it resumes, what was built is frozen (``gc.freeze``): left young, the
whole graph would be walked by the next collections, the first of them in
whatever runs next (rendering a 10,000-job plan took 1.2 s, all of it the
collector's). Frozen objects are still freed by reference counting when they
are dropped; only a cycle among them would outlive its use, and a plan leaves
none (a full collection after one finds no cyclic garbage).
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
            gc.freeze()
            gc.enable()
