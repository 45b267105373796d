"""Making a plan: fingerprint what is declared, read what is live, diff them.

The I/O around the pure diff: it reads trainer sources and data (through
the hash cache in the stack home, the only thing it writes) and the
backend's live state, once. It builds nothing and runs no user code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from reconciler.backends import registry
from reconciler.backends.base import LiveSnapshot
from reconciler.backends.facets import Driver, Traffic
from reconciler.backends.prices import stack_prices
from reconciler.backends.recorded import ROLLING
from reconciler.gcpause import paused_gc
from reconciler.identity import DesiredState
from reconciler.identity.hashcache import HashCache
from reconciler.kinds import compute_desired, cost_plan, diff_stack
from reconciler.plan import Plan, PlanOptions, Removal
from reconciler.stack.resources import Stack


@dataclass(frozen=True)
class Planned:
    plan: Plan
    desired: DesiredState
    live: LiveSnapshot
    """The live state the plan was made from; apply acts on it, never reads it again."""


def make_plan(
    stack: Stack,
    backend: Driver,
    *,
    targets: tuple[str, ...] = (),
    retrain: tuple[str, ...] = (),
    now: float | None = None,
    paths: tuple[str, ...] = (),
    destroy: bool = False,
    max_cost: float | None = None,
    allow_over_budget: bool = False,
) -> Planned:
    """The plan for ``stack``; with ``destroy``, the plan that removes all it has live."""
    if destroy:
        settings = stack.settings
        stack = Stack(settings, dependencies={settings.address: ()}, order=(settings.address,))
    with paused_gc():
        cache = HashCache(stack.settings.home)
        try:
            desired = compute_desired(stack, cache, backend.remote_lister())
        finally:
            cache.close()
        live = with_served(backend, backend.read_live(stack.name))
        when = time.time() if now is None else now
        options = PlanOptions(
            targets=targets,
            retrain=retrain,
            now=when,
            paths=paths,
            max_cost=max_cost,
            allow_over_budget=allow_over_budget,
        )
        plan = diff_stack(desired, live, options)
        profile = registry.profile(stack.settings.backend)
        prices = stack_prices(profile.prices, stack.settings.node_hour, profile.job_nodes)
        plan = cost_plan(plan, desired, live, prices)
        if destroy:
            plan = replace(plan, removals=removals(live))
        notice = profile.notice
        return Planned(replace(plan, notice=notice) if notice else plan, desired, live)


def with_served(backend: Driver, live: LiveSnapshot) -> LiveSnapshot:
    """The snapshot with what each version part way through a rollout served in its
    current step (one question per such version; none without a rollout)."""
    if not isinstance(backend, Traffic):
        return live
    served = {}
    for version in live.versions:
        state = version.rollout
        if state is None or state.state != ROLLING:
            continue
        found = backend.served(live.stack, version.model, [version.name], state.since)
        if version.name in found:
            served[(version.model, version.name)] = found[version.name]
    return replace(live, served=served) if served else live


def removals(live: LiveSnapshot) -> tuple[Removal, ...]:
    """Every job run of the stack, oldest first: a destroy removes them with it."""
    ordered = sorted(live.jobs, key=lambda j: (j.create_time or 0, j.name))
    return tuple(Removal(j.name, j.manifest_name or "", j.state.value) for j in ordered)
