"""The dependency graph of a stack: cycle detection and a deterministic order."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def find_cycle(dependencies: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One cycle as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(dependencies):
        if state.get(start):
            continue
        path: list[str] = [start]
        iterators = [iter(sorted(dependencies.get(start, ())))]
        state[start] = 1
        while iterators:
            child = next(iterators[-1], None)
            if child is None:
                state[path.pop()] = 2
                iterators.pop()
                continue
            if state.get(child) == 1:
                return [*path[path.index(child) :], child]
            if child not in state and child in dependencies:
                state[child] = 1
                path.append(child)
                iterators.append(iter(sorted(dependencies.get(child, ()))))
    return None


def topological_order(
    dependencies: Mapping[str, Sequence[str]], rank: Callable[[str], Any]
) -> tuple[str, ...]:
    """Every node after its dependencies; ties broken by ``rank``. The graph must be acyclic."""
    waiting = {node: {d for d in deps if d in dependencies} for node, deps in dependencies.items()}
    dependents: dict[str, list[str]] = {node: [] for node in dependencies}
    for node, deps in waiting.items():
        for dep in deps:
            dependents[dep].append(node)
    ready = [(rank(node), node) for node, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for dependent in dependents[node]:
            waiting[dependent].discard(node)
            if not waiting[dependent]:
                heapq.heappush(ready, (rank(dependent), dependent))
    if len(order) != len(dependencies):
        raise ValueError("the graph has a cycle")
    return tuple(order)
