"""The apply flow: lock the stack, plan with the live state, confirm, execute.

The command line shows the plan and asks; this module decides the order and
the rules (a stale saved plan is refused, nothing runs while the plan has
errors, destroy purges what its plan leaves).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler.apply.executor import Event, Executor, Outcome
from reconciler.apply.planning import Planned, make_plan
from reconciler.apply.saved import SavedPlan, refuse_over_budget, refuse_stale
from reconciler.backends import registry
from reconciler.backends.facets import Driver, StackLock
from reconciler.stack.resources import Stack


@dataclass(frozen=True)
class ApplyOptions:
    destroy: bool = False
    saved: SavedPlan | None = None
    wait_for_jobs: bool = True
    rollout_wait: float = 0.0
    """The longest each version's rollout is waited for (its steps held) in this apply."""
    parallelism: int = 4
    lock_timeout: float = 0.0
    targets: tuple[str, ...] = ()
    retrain: tuple[str, ...] = ()
    max_cost: float | None = None
    allow_over_budget: bool = False
    """Only from a saved plan made with --allow-over-budget."""


@dataclass(frozen=True)
class Converged:
    planned: Planned
    outcome: Outcome | None = None
    """None when nothing ran: no changes, plan errors, or not confirmed."""
    purged: int = 0
    """How many of the job runs a destroy's plan listed it removed after its changes."""


def converge(
    stack: Stack,
    backend: Driver,
    options: ApplyOptions,
    *,
    show: Callable[[Planned], None],
    confirm: Callable[[], bool],
    on_event: Callable[[Event], None],
    note: Callable[[str], None],
) -> Converged:
    """Plan under the stack's lock, then make the changes if confirmed."""
    lock = registry.facet(backend, StackLock)
    with lock.lock(stack.name, options.lock_timeout, note):
        planned = make_plan(
            stack,
            backend,
            targets=options.targets,
            retrain=options.retrain,
            destroy=options.destroy,
            max_cost=options.max_cost,
            allow_over_budget=options.allow_over_budget,
        )
        if options.saved is not None:
            refuse_stale(options.saved, planned.plan)
        show(planned)
        if not options.destroy and not planned.plan.errors:
            refuse_over_budget(planned.plan)
        if planned.plan.errors or (not planned.plan.has_changes and not options.destroy):
            return Converged(planned)
        if options.saved is None and not confirm():
            return Converged(planned)
        outcome = Executor(
            planned,
            backend,
            parallelism=options.parallelism,
            wait_for_jobs=options.wait_for_jobs,
            rollout_wait=options.rollout_wait,
            on_event=on_event,
        ).run()
    listed = [removal.live_name for removal in planned.plan.removals]
    purged = backend.purge(stack.name, listed) if options.destroy and outcome.ok else 0
    return Converged(planned, outcome, purged)
