"""The executor: walks a plan's changes in dependency order and makes them real.

Changes run on a bounded thread pool once what they depend on has finished
(deletions come after what depends on them, as the plan orders them). When a
change fails, independent branches go on, and its dependents are skipped,
naming the root cause once. It emits events (started, progress, finished,
failed, skipped) for the command line to show. A stop request (Ctrl-C) stops
scheduling; jobs already submitted keep running: they are live resources a
later apply picks up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from reconciler.apply.planning import Planned
from reconciler.backends.base import (
    ApplyBackend,
    JobState,
    JobSubmission,
    LiveJob,
    LiveModel,
    LiveVersion,
    VersionState,
)
from reconciler.diagnostics import MlapplyError
from reconciler.identity.desired import DesiredResource
from reconciler.plan.diff import duration
from reconciler.plan.model import Action, Change

PROGRESS_SECONDS = 15.0


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


@dataclass
class Outcome:
    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted


class StepFailed(MlapplyError):
    """A change could not be made; the message says why."""


class Executor:
    def __init__(
        self,
        planned: Planned,
        backend: ApplyBackend,
        *,
        parallelism: int = 4,
        wait_for_jobs: bool = True,
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
        except Exception as exc:  # a failed change must not stop the others
            reason = (
                exc.message if isinstance(exc, MlapplyError) else f"{type(exc).__name__}: {exc}"
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
        self, failed: str, root: str, waiting: dict[str, set[str]], outcome: Outcome
    ) -> None:
        for address in [a for a, deps in waiting.items() if failed in deps]:
            del waiting[address]
            reason = f"it depends on {root}, which failed"
            outcome.skipped[address] = reason
            self.emit(Event(EventKind.SKIPPED, address, reason))
            self._skip_dependents(address, root, waiting, outcome)

    # One change --------------------------------------------------------------------

    def _step(self, change: Change) -> str:
        if change.kind == "TrainingJob":
            return self._job(change)
        if change.kind == "Model":
            return self._model(change)
        return self._version(change)

    def _want(self, change: Change) -> DesiredResource | None:
        return self.planned.desired.resources.get(change.address)

    def _spec(self, want: DesiredResource) -> dict[str, Any]:
        return {
            "essence": dict(want.essence),
            "details": dict(want.details),
            "mutable": dict(want.mutable),
        }

    # Jobs

    def _job(self, change: Change) -> str:
        for target in change.live_targets:
            self.backend.cancel_job(target.live_name)
        want = self._want(change)
        if change.action is Action.CANCEL or want is None:
            for target in change.live_targets:
                self._wait_job(change.address, target.live_name, quiet=True)
            return "cancelled " + ", ".join(t.live_name for t in change.live_targets)
        assert change.live_name is not None
        if change.action is Action.UPDATE:
            self.backend.relabel_job(
                LiveJob(
                    change.live_name,
                    want.live_labels(self.stack.name),
                    JobState.SUCCEEDED,
                    spec=self._spec(want),
                )
            )
            return "labels updated"
        if change.action in (Action.CREATE, Action.REPLACE):
            self._submit(change, want)
            if not self.wait_for_jobs:
                return f"submitted {change.live_name}"
        job = self._wait_job(change.address, change.live_name)
        if job.state is not JobState.SUCCEEDED:
            raise StepFailed(
                f"{change.live_name} {job.state.value.lower()}: {job.error or ''}".strip(": ")
            )
        return f"{change.live_name} succeeded"

    def _submit(self, change: Change, want: DesiredResource) -> None:
        assert change.live_name is not None
        job = self.stack.jobs[change.name]
        record = LiveJob(
            change.live_name,
            want.live_labels(self.stack.name),
            JobState.QUEUED,
            spec=self._spec(want),
        )
        self.backend.submit_job(
            JobSubmission(
                record,
                job,
                self.stack.trainers[job.trainer],
                self.stack.datasets.get(job.dataset) if job.dataset else None,
                want.essence["machines"],
            )
        )

    def _wait_job(self, address: str, name: str, *, quiet: bool = False) -> LiveJob:
        started = time.monotonic()
        last_progress = started
        while True:
            job = self.backend.get_job(self.stack.name, name)
            if job is None:
                raise StepFailed(f"{name} is not a job of this stack")
            if job.state.finished:
                return job
            if self.stop.is_set():
                raise StepFailed(
                    f"{name} is still {job.state.value.lower()}; apply was interrupted"
                )
            now = time.monotonic()
            if not quiet and now - last_progress >= PROGRESS_SECONDS:
                last_progress = now
                tail = self.backend.log_tail(name)
                self.emit(
                    Event(
                        EventKind.PROGRESS,
                        address,
                        f"{name} {job.state.value.lower()} for {duration(now - started)}"
                        + (f": {tail}" if tail else ""),
                    )
                )
            time.sleep(self.backend.poll_seconds)

    # Models

    def _model(self, change: Change) -> str:
        want = self._want(change)
        live = {m.name: m for m in self.backend.read_live(self.stack.name).models}
        if change.action in (Action.DELETE, Action.REPLACE):
            for target in change.live_targets or ():
                self.backend.delete_model(target.live_name)
            if change.action is Action.REPLACE and change.live_name:
                for version in self.backend.read_live(self.stack.name).versions:
                    if version.model == change.live_name:
                        self.backend.delete_version(version.model, version.name)
                self.backend.delete_model(change.live_name)
            if change.action is Action.DELETE:
                return "deleted"
        assert want is not None and change.live_name is not None
        current = live.get(change.live_name)
        self.backend.put_model(
            LiveModel(
                change.live_name,
                want.live_labels(self.stack.name),
                description=want.mutable["description"],
                region=want.essence["region"],
                online_prediction_logging=want.essence["onlinePredictionLogging"],
                default_version=current.default_version if current else None,
                create_time=current.create_time if current else time.time(),
            )
        )
        return "created" if current is None else "updated"

    # Versions

    def _version(self, change: Change) -> str:
        want = self._want(change)
        if change.action is Action.DELETE or want is None:
            self._delete_versions(change)
            return "deleted " + ", ".join(t.live_name for t in change.live_targets)
        assert change.live_name is not None
        model = str(want.essence["model"])
        labels = want.live_labels(self.stack.name)
        record = LiveVersion(
            change.live_name,
            labels,
            model=model,
            state=VersionState.READY,
            description=want.mutable["description"],
            spec=self._spec(want),
        )
        # A version waiting for its job is created once the job has trained.
        if change.action in (Action.CREATE, Action.REPLACE, Action.WAIT):
            export = self._export_dir(want)
            if export is None:
                return "not deployed yet: its job is still running (a later apply deploys it)"
            self.backend.deploy_version(record, export)
        elif change.action is Action.UPDATE:
            self.backend.update_version(record)
        if want.mutable["default"]:
            self.backend.set_default(model, change.live_name)
        # Older versions go only now that the new one serves.
        self._delete_versions(change)
        return f"{change.live_name} serves" + (" (default)" if want.mutable["default"] else "")

    def _delete_versions(self, change: Change) -> None:
        models = {m.name: m for m in self.backend.read_live(self.stack.name).models}
        targets = sorted(
            change.live_targets,
            key=lambda t: (
                models.get(t.model or "") is not None
                and models[t.model or ""].default_version == t.live_name
            ),
        )  # the default last
        for target in targets:
            self.backend.delete_version(target.model or "", target.live_name)

    def _export_dir(self, want: DesiredResource) -> str | None:
        source = want.essence["source"]
        if "uri" in source:
            uri = str(source["uri"])
            if uri.startswith("gs://"):
                return uri
            version = self.stack.versions[want.name]
            return str((version.source.base_dir or self.stack.settings.root) / uri)
        job_change = next(
            (
                c
                for c in self.changes.values()
                if c.address in want.depends_on and c.kind == "TrainingJob"
            ),
            None,
        )
        name = str(job_change.live_name if job_change and job_change.live_name else source["job"])
        job = self.backend.get_job(self.stack.name, name)
        if job is None or job.state is not JobState.SUCCEEDED:
            if job is not None and job.state.active and not self.wait_for_jobs:
                return None
            state = job.state.value.lower() if job else "missing"
            raise StepFailed(f"cannot deploy: job {name} is {state}")
        export_path = source.get("exportPath")
        found = self.backend.export_of(
            self.stack.name, name, str(export_path) if export_path else None
        )
        if found is None:
            raise StepFailed(f"no SavedModel in the output of {name}")
        return found
