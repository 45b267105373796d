"""`mlapply console`: the web page that watches a stack (``reconciler.console``), and
what it reads: the live state, usage, logs and a read-only plan, through the
stack's backend."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from reconciler.backends.registry import facet
from reconciler.cli.common import (
    allow_host_option,
    driver,
    inputs,
    load_or_exit,
    serve_until_stopped,
    summary,
    tensorflow_log,
    variable_options,
    warn_if_exposed,
)
from reconciler.cli.watching import read_status
from reconciler.diagnostics import MlapplyError
from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    from reconciler.backends import facets
    from reconciler.backends.base import LiveSnapshot
    from reconciler.backends.facets import Driver
    from reconciler.cli import boards
    from reconciler.stack.resources import Stack
else:
    facets = LazyModule("reconciler.backends.facets")
    boards = LazyModule("reconciler.cli.boards")  # sockets and processes: `console` only

PLAN_SECONDS = 15.0
"""How old a plan may be before the page's next read makes another (in the background)."""
LOG_BYTES = 256 * 1024
"""The most of a log read for its tail."""
SERVED_WINDOW_SECONDS = 3600.0
SERVED_STEP_SECONDS = 60.0
"""What the models' chart shows: the last hour of each version's requests, a minute a
point (Cloud Monitoring aligns by 60 s at the finest)."""
LAST_APPLY = "last-apply.json"


def last_apply_path(stack: Stack) -> Path:
    """Where apply notes how it last ended, in the stack home (any backend has one)."""
    return stack.settings.home / LAST_APPLY


class StackSource:
    """What the console reads: the stack's live state (read again at most every
    ``refresh`` seconds, however many pages are open), usage and logs, and a plan
    made in the background."""

    def __init__(
        self,
        stack: Stack,
        backend: Driver,
        refresh: float,
        tensorboard: str | None,
        reload: Callable[[], Stack],
        board: boards.Board | None = None,
    ) -> None:
        self.stack_ = stack
        self.reload = reload  # each plan reads the manifests as they are now
        self.backend = backend
        self.refresh = refresh
        self.tensorboard = tensorboard
        self.board = board  # one the console started, kept over the jobs as they are
        self.lock = threading.Lock()
        self.snapshot: tuple[float, LiveSnapshot, dict[str, Any]] | None = None
        self.plan: dict[str, Any] | None = None
        self.planned_at: float | None = None
        self.plan_error: str | None = None
        self.planning = False

    # Reads -----------------------------------------------------------------------

    def _status(self) -> tuple[LiveSnapshot, dict[str, Any]]:
        with self.lock:
            if self.snapshot is None or time.monotonic() - self.snapshot[0] >= self.refresh:
                self.snapshot = (time.monotonic(), *read_status(self.stack_, self.backend))
            return self.snapshot[1], self.snapshot[2]

    def _job(self, name: str, trial: str | None) -> None:
        """Refuses (LookupError) a job this stack does not have, or a trial it lacks."""
        snapshot, _ = self._status()
        job = next((j for j in snapshot.jobs if j.name == name), None)
        if job is None:
            raise LookupError(f"no job {name!r} in stack {self.stack_.name!r}")
        if trial is not None and not any(t.id == trial for t in job.trials):
            raise LookupError(f"job {name!r} has no trial {trial!r}")

    def stack(self) -> dict[str, Any]:
        from reconciler.render.console import stack_view

        stale = self.planned_at is None or time.time() - self.planned_at >= PLAN_SECONDS
        if stale and not self.planning:
            self.planning = True
            threading.Thread(target=self._plan, daemon=True).start()
        try:
            last = json.loads(last_apply_path(self.stack_).read_text())
        except (OSError, ValueError):
            last = None
        return stack_view(
            self.stack_.name,
            self.stack_.settings.backend,
            self.plan,
            self.planned_at,
            self.plan_error,
            last,
        )

    def _plan(self) -> None:
        from reconciler.apply.planning import make_plan
        from reconciler.render.jsonplan import plan_to_json

        try:
            self.plan = plan_to_json(make_plan(self.reload(), self.backend).plan)
            self.plan_error = None
        except MlapplyError as failed:
            self.plan_error = failed.message
        except Exception as failed:  # the page says the plan failed; the console goes on
            self.plan_error = f"{type(failed).__name__}: {failed}"
        finally:
            self.planned_at = time.time()
            self.planning = False

    def jobs(self) -> dict[str, Any]:
        from reconciler.render.console import jobs_view

        snapshot, view = self._status()
        if self.board is not None:
            self.board.follow(snapshot.jobs)
        runs: dict[str, str] = {}
        if self._tensorboard_up() and isinstance(self.backend, facets.TensorBoard):
            for run, _ in self.backend.tensorboard_runs(snapshot.jobs):
                manifest, live = run.split("/")[:2]
                runs[live] = f"{manifest}/{live}"
        return jobs_view(view, self.tensorboard if runs else None, runs)

    def _tensorboard_up(self) -> bool:
        """Links only to a TensorBoard that runs: the console's own, or one the user
        started with `mlapply tensorboard` on that port."""
        if self.tensorboard is None:
            return False
        if self.board is not None:
            return self.board.running()
        address = urlsplit(self.tensorboard)
        return boards.listening(address.hostname or "127.0.0.1", address.port or 80)

    def usage(self, job: str, trial: str | None, since: float | None) -> dict[str, Any]:
        from reconciler.render.console import usage_view

        self._job(job, trial)
        if not isinstance(self.backend, facets.Usage):
            return usage_view({}, since)  # the job's page in its cloud's console charts it
        return usage_view(self.backend.usage_series(job, trial, since), since)

    def log(self, job: str, trial: str | None, task: str, lines: int) -> dict[str, Any]:
        from reconciler.backends.logtext import without_native
        from reconciler.render.console import log_view

        self._job(job, trial)
        chunk = facet(self.backend, facets.Logs).read_log(job, task, trial, -LOG_BYTES)
        if not chunk.exists:
            return {**log_view("", lines), "error": f"no {task} log yet"}
        # The page shows what the trainer says; `mlapply logs --all` has every line.
        text, _ = without_native(chunk.data.decode(errors="replace"))
        return log_view(text, lines)

    def models(self) -> dict[str, Any]:
        from reconciler.render.console import models_view

        snapshot, view = self._status()
        served = {}
        if isinstance(self.backend, facets.Traffic):
            since = time.time() - SERVED_WINDOW_SECONDS
            for model in snapshot.models:
                names = [v.name for v in snapshot.versions if v.model == model.name]
                found = self.backend.served_series(
                    snapshot.stack, model.name, names, since, SERVED_STEP_SECONDS
                )
                if found:
                    served[model.name] = found
        return models_view(view, self.plan, served)


def _load(paths: Sequence[str], variables: Sequence[str], var_files: Sequence[str]) -> Stack:
    """The stack as its manifests say now; invalid ones are the page's plan error."""
    from reconciler.kinds import load_stack

    result = load_stack(paths, inputs(variables, var_files))
    if not result.ok or result.stack is None:
        raise MlapplyError(
            f"the manifests do not validate ({summary(result.diagnostics)})",
            "mlapply validate PATH says where",
        )
    return result.stack


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@variable_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Where it listens.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--tensorboard-port",
    default=6006,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Where the jobs' TensorBoard links point (mlapply tensorboard's port).",
)
@click.option(
    "--with-tensorboard",
    is_flag=True,
    help="Also start TensorBoard over the stack's jobs on --tensorboard-port.",
)
@allow_host_option
def console(
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    host: str,
    port: int,
    tensorboard_port: int,
    with_tensorboard: bool,
    allowed_hosts: tuple[str, ...],
) -> None:
    """Serve a web page that watches the stack: converged or not, jobs with CPU and
    memory charts per task, logs, trials, models and held versions. Read-only."""
    from reconciler.console.server import run_console

    stack = load_or_exit(paths, variables, var_files)
    backend = driver(stack)
    followed = backend if isinstance(backend, facets.TensorBoard) else None
    tensorboard = f"http://{host}:{tensorboard_port}" if followed else None
    refresh = max(1.0, backend.poll_seconds)
    board = None
    if with_tensorboard and followed:
        board = boards.Board(followed, host, tensorboard_port, tensorflow_log(stack, "tensorboard"))
        board.follow(backend.read_live(stack.name).jobs)
    source = StackSource(
        stack, backend, refresh, tensorboard, lambda: _load(paths, variables, var_files), board
    )

    def ready(url: str) -> None:
        click.echo(f"Console of stack {stack.name!r} on {url}/ (Ctrl-C stops)")
        if tensorboard:
            started = (
                "started; it follows new jobs"
                if board
                else "shown while one runs there: `mlapply tensorboard PATH`"
            )
            click.echo(f"  TensorBoard links point to {tensorboard}/ ({started})")
        warn_if_exposed(host, "the page")
        sys.stdout.flush()

    try:
        serve_until_stopped(run_console(source, host, port, ready, allowed_hosts), host, port)
    finally:
        if board is not None:
            board.stop()


def register(group: click.Group) -> None:
    group.add_command(console)
