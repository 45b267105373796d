"""Pausing the cyclic garbage collector while large object graphs are built.

Loading thousands of manifests makes hundreds of thousands of small objects
and no reference cycles; the collector's repeated passes over the growing
heap made plans of 10,000 resources about a third slower (bench/plan_scale.py).
Reference counting still frees everything; the collector resumes afterwards.

In a process that ends after its one load and plan (``mlapply plan``,
``validate``, ``apply``), what was built is frozen when the collector resumes
(``gc.freeze``): left young, the whole graph would be walked by the next
collections, the first of them in whatever runs next (rendering a 10,000-job
plan took 1.2 s, all of it the collector's). Frozen objects are still freed
by reference counting; only a cycle would outlive its use, and load and plan
leave none (tests/test_plan.py). A long-running process (the console, serve)
does not freeze: it would keep every cycle alive at that moment, its own too.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


class _ThisProcess:
    freezes = False


def freeze_when_resumed(enabled: bool) -> None:
    """Whether this process freezes what is built while the collector is paused."""
    _ThisProcess.freezes = enabled


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if _ThisProcess.freezes:
                gc.freeze()
            gc.enable()
