"""The executor: walks a plan's changes in dependency order and makes them real.

Changes run on a bounded thread pool once what they depend on has finished
(deletions come after what depends on them, as the plan orders them). When a
change fails, independent branches go on, and its dependents are skipped,
naming the root cause once. It emits events (started, progress, finished,
failed, skipped) for the command line to show. Each change is made by its
kind's apply step (the kinds table), with the live state the plan read. A
stop request (Ctrl-C) stops scheduling; jobs already submitted keep running:
they are live resources a later apply picks up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum

from reconciler.apply.planning import Planned
from reconciler.backends.facets import Driver
from reconciler.diagnostics import MlapplyError
from reconciler.kinds.base import ApplyContext, JobProgress, StepHeld
from reconciler.kinds.table import live_handler
from reconciler.plan.model import Change


class EventKind(str, Enum):
    STARTED = "started"
    PROGRESS = "progress"
    FINISHED = "finished"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    address: str
    message: str = ""
    progress: JobProgress | None = None
    """How a job apply waits for gets on (PROGRESS events): the command line renders it."""


@dataclass
class Outcome:
    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)
    """Changes apply chose not to make (a gate held a version): not converged, not failed."""
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted


class Executor:
    def __init__(
        self,
        planned: Planned,
        backend: Driver,
        *,
        parallelism: int = 4,
        wait_for_jobs: bool = True,
        rollout_wait: float = 0.0,
        on_event: Callable[[Event], None] = lambda event: None,
    ) -> None:
        self.planned = planned
        self.stack = planned.desired.stack
        self.backend = backend
        self.parallelism = max(1, parallelism)
        self.wait_for_jobs = wait_for_jobs
        self.emit = on_event
        self.stop = threading.Event()
        self.changes = {c.address: c for c in planned.plan.changes}
        self.context = ApplyContext(
            stack=self.stack,
            backend=backend,
            desired=planned.desired.resources,
            changes=self.changes,
            live=planned.live,
            wait_for_jobs=wait_for_jobs,
            stop=self.stop,
            progress=lambda where, now: self.emit(Event(EventKind.PROGRESS, where, progress=now)),
            rollout_wait=rollout_wait,
        )

    def run(self) -> Outcome:
        steps = {a: c for a, c in self.changes.items() if c.action.pending}
        waiting = {a: {d for d in c.depends_on if d in steps} for a, c in steps.items()}
        outcome = Outcome()
        running: dict[Future[str], str] = {}
        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            try:
                while waiting or running:
                    for address in [a for a, deps in waiting.items() if not deps]:
                        if len(running) >= self.parallelism or self.stop.is_set():
                            break
                        del waiting[address]
                        self.emit(Event(EventKind.STARTED, address, steps[address].action.value))
                        running[pool.submit(self._step, steps[address])] = address
                    if not running:
                        break
                    done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        address = running.pop(future)
                        self._settle(address, future, waiting, outcome)
            except KeyboardInterrupt:
                self.stop.set()
                outcome.interrupted = True
                for future in running:
                    future.cancel()
        for address in waiting:
            outcome.skipped.setdefault(address, "not started: apply was interrupted")
        return outcome

    def _settle(
        self, address: str, future: Future[str], waiting: dict[str, set[str]], outcome: Outcome
    ) -> None:
        try:
            message = future.result()
        except StepHeld as held:
            outcome.held[address] = held.with_hint()
            self.emit(Event(EventKind.SKIPPED, address, held.with_hint()))
            self._skip_dependents(address, address, waiting, outcome, "was held")
            return
        except Exception as exc:  # a failed change must not stop the others
            # With its hint: a failed build or pip install says why in its output tail.
            reason = (
                exc.with_hint() if isinstance(exc, MlapplyError) else f"{type(exc).__name__}: {exc}"
            )
            outcome.failed[address] = reason
            self.emit(Event(EventKind.FAILED, address, reason))
            self._skip_dependents(address, address, waiting, outcome)
            return
        outcome.finished.append(address)
        self.emit(Event(EventKind.FINISHED, address, message))
        for deps in waiting.values():
            deps.discard(address)

    def _skip_dependents(
        self,
        failed: str,
        root: str,
        waiting: dict[str, set[str]],
        outcome: Outcome,
        how: str = "failed",
    ) -> None:
        for address in [a for a, deps in waiting.items() if failed in deps]:
            del waiting[address]
            reason = f"it depends on {root}, which {how}"
            outcome.skipped[address] = reason
            self.emit(Event(EventKind.SKIPPED, address, reason))
            self._skip_dependents(address, root, waiting, outcome, how)

    def _step(self, change: Change) -> str:
        return live_handler(change.kind).apply(change, self.context)
