"""Commands that watch: status and logs."""

from __future__ import annotations

import codecs
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.backends.registry import facet, profile
from reconciler.cli.common import (
    driver,
    load_or_exit,
    require,
    tensorflow_log,
    variable_options,
    warn_if_exposed,
)
from reconciler.diagnostics import MlapplyError
from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    from reconciler.backends import facets, logtext
    from reconciler.backends.base import LiveJob, LiveSnapshot
    from reconciler.backends.facets import Driver
    from reconciler.stack.resources import Stack
else:
    facets = LazyModule("reconciler.backends.facets")
    logtext = LazyModule("reconciler.backends.logtext")  # its patterns: `logs` only

CLEAR_SCREEN = "\x1b[H\x1b[2J"


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@variable_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "-w",
    "--watch",
    is_flag=True,
    help="Keep showing the figures until no job runs: redrawn in place on a terminal, "
    "else a line per running job when it changes (JSON: one object a line).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes with --watch.",
)
def status(
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    output_format: str,
    watch: bool,
    interval: float,
) -> None:
    """Live jobs (state, age, duration, CPU and memory: now while they run, else the
    mean and peak; trials of tuning jobs), models and versions."""
    stack = load_or_exit(paths, variables, var_files)
    backend = driver(stack)
    if watch:
        _watch(stack, backend, output_format, interval)
        return
    _show(_status(stack, backend), output_format)


def read_status(stack: Stack, backend: Driver) -> tuple[LiveSnapshot, dict[str, Any]]:
    """The live state and the status view of it (``status``, the console)."""
    from reconciler.apply.planning import with_served
    from reconciler.render.status import status_view

    snapshot = with_served(backend, backend.read_live(stack.name))
    usage = (
        backend.job_usage([j.name for j in snapshot.jobs])
        if isinstance(backend, facets.Usage)
        else {}
    )
    describe = profile(stack.settings.backend).describe_runtime
    view = status_view(stack.name, stack.settings.backend, snapshot, usage, time.time(), describe)
    return snapshot, view


def _status(stack: Stack, backend: Driver) -> dict[str, Any]:
    return read_status(stack, backend)[1]


def _show(view: dict[str, Any], output_format: str, *, one_line: bool = False) -> None:
    from reconciler.render.status import render_status

    if output_format == "json":
        data = {k: view[k] for k in ("stack", "jobs", "models")}
        click.echo(json.dumps(data) if one_line else json.dumps(data, indent=2))
    else:
        click.echo(render_status(view), nl=False)


def _watch(stack: Stack, backend: Driver, output_format: str, interval: float) -> None:
    """Refresh until no job is active (or Ctrl-C): in place on a terminal; elsewhere
    (CI logs, pipes) the status once, then a plain line per running job when what it can
    say changes (its state, its first CPU figure, its first report) and otherwise at
    most every ``PLAIN_PROGRESS_SECONDS`` (JSON: the whole status, one object a line),
    then the status at the end."""
    from reconciler.backends.base import JobState
    from reconciler.cli.progress import PLAIN_PROGRESS_SECONDS
    from reconciler.render.status import job_line

    def news(job: dict[str, Any]) -> tuple[object, ...]:
        return (job["state"], job["cpu_now"] is not None, bool(job["reported"]))

    live = sys.stdout.isatty() and output_format == "text"
    view = _status(stack, backend)
    if not live:
        _show(view, output_format, one_line=True)
    said = {j["name"]: (news(j), view["now"]) for j in view["jobs"]}
    rounds = 0
    try:
        while True:
            running = [j for j in view["jobs"] if not JobState(j["state"]).finished]
            if live:
                click.echo(CLEAR_SCREEN, nl=False)
                _show(view, output_format)
                if running:
                    click.echo(f"\nevery {interval:g} s until no job runs; Ctrl-C stops watching")
            elif rounds and output_format == "json":
                _show(view, output_format, one_line=True)
            elif rounds:
                for job in running:
                    key, at = said.get(job["name"], ((), 0.0))
                    if news(job) != key or view["now"] - at >= PLAIN_PROGRESS_SECONDS:
                        stamp = time.strftime("%H:%M:%S", time.localtime(view["now"]))
                        click.echo(f"{stamp} {job_line(job, view['now']).strip()}")
                        said[job["name"]] = (news(job), view["now"])
            if not running:
                break
            rounds += 1
            time.sleep(interval)
            view = _status(stack, backend)
    except KeyboardInterrupt:
        return
    if not live and rounds and output_format == "text":
        _show(view, output_format)


@click.command()
@click.argument("job")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@variable_options
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the job ends.")
@click.option(
    "--task",
    default="chief-0",
    show_default=True,
    help="Which process's log: chief-0, worker-1, ps-0 ...",
)
@click.option(
    "--trial",
    default=None,
    help="A tuning job's trial (its id, as status lists them); default: the best, else the newest.",
)
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Every line, TensorFlow's C++ and absl log lines too (left out by default).",
)
def logs(
    job: str,
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    follow: bool,
    task: str,
    trial: str | None,
    everything: bool,
) -> None:
    """Print a job's log (JOB: the live name, or a TrainingJob's name for its newest job);
    for a tuning job, a trial's. TensorFlow's C++ and absl lines are left out (the
    count is said at the end, on stderr) unless --all."""
    stack = load_or_exit(paths, variables, var_files)
    require(stack, facets.Facet.LOGS)
    backend = driver(stack)
    logs = facet(backend, facets.Logs)
    live = backend.read_live(stack.name).jobs
    matches = [j for j in live if j.name == job] or sorted(
        (j for j in live if j.manifest_name == job), key=lambda j: j.create_time or 0
    )[-1:]
    if not matches:
        from reconciler.diagnostics import did_you_mean

        raise MlapplyError(
            f"no job {job!r} in stack {stack.name!r}",
            did_you_mean(job, sorted({j.name for j in live})),
        )
    name = matches[-1].name
    trial = _which_trial(matches[-1], trial)
    chunk = logs.read_log(name, task, trial)
    if not chunk.exists and not follow:
        _never_started(logs, matches[-1], task, trial)
        return
    shown = _LogFilter(everything)
    while True:
        shown.echo(chunk.data)
        if not follow:
            break
        current = next(j for j in backend.read_live(stack.name).jobs if j.name == name)
        done = _finished(current, trial)
        chunk = logs.read_log(name, task, trial, chunk.offset)
        if done and not chunk.data:
            if not chunk.exists:
                _never_started(logs, current, task, trial)
            break
        if not chunk.data:
            time.sleep(1)
    shown.close()


class _LogFilter:
    """Prints a log as it grows, whole lines at a time, without TensorFlow's native
    lines unless every line is wanted; says how many it left out."""

    def __init__(self, everything: bool) -> None:
        self.everything, self.pending, self.left_out = everything, "", 0
        # A chunk may end inside a character: decoded across chunks.
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def echo(self, data: bytes) -> None:
        text = self.decoder.decode(data)
        if not text:
            return
        if self.everything:
            click.echo(text, nl=False)
            return
        whole, _, self.pending = (self.pending + text).rpartition("\n")
        if whole:
            self._show(whole + "\n")

    def close(self) -> None:
        self.pending += self.decoder.decode(b"", final=True)
        if self.everything and self.pending:
            click.echo(self.pending, nl=False)
        elif self.pending:
            self._show(self.pending)
        if self.left_out:
            click.echo(
                f"({self.left_out} TensorFlow C++ log line(s) left out; --all shows them)",
                err=True,
            )

    def _show(self, text: str) -> None:
        kept, dropped = logtext.without_native(text)
        self.left_out += dropped
        click.echo(kept, nl=False)


def _which_trial(job: LiveJob, asked: str | None) -> str | None:
    """The trial whose log to print: the one asked for, else a tuning job's best trial,
    else its newest (said on stderr, so that a pipe gets only the log)."""
    if not job.trials:
        if asked is not None:
            raise MlapplyError(
                f"{job.name} is not a tuning job: it has no trials", "leave out --trial"
            )
        return None
    ids = [t.id for t in job.trials]
    if asked is not None:
        if asked not in ids:
            raise MlapplyError(
                f"{job.name} has no trial {asked!r}", f"its trials are {', '.join(ids)}"
            )
        return asked
    chosen = job.best_trial if job.best_trial in ids else ids[-1]
    which = "the best" if chosen == job.best_trial else "the newest"
    click.echo(f"trial {chosen} of {job.name} ({which}); --trial N for another", err=True)
    return chosen


def _finished(job: LiveJob, trial: str | None) -> bool:
    from reconciler.tuning.study import FINISHED

    found = next((t for t in job.trials if t.id == trial), None)
    return job.state.finished or (found is not None and found.state in FINISHED)


def _never_started(logs: facets.Logs, job: LiveJob, task: str, trial: str | None) -> None:
    """What to say of a task with no log: how preparing went, and the job's error."""
    prepare = logs.read_log(job.name, "prepare", trial)
    if prepare.data:
        click.echo(prepare.data.decode(errors="replace"), nl=False)
    state = job.state.value.lower()
    why = f": {job.error}" if job.error else ""
    if trial is not None:
        found = next(t for t in job.trials if t.id == trial)
        state, why = found.state.lower(), f": {found.error}" if found.error else ""
        click.echo(f"trial {trial} of {job.name} has no {task} log; it is {state}{why}", err=True)
        return
    click.echo(f"{job.name} has no {task} log; it is {state}{why}", err=True)


@click.command()
@click.argument("arguments", nargs=-1, required=True, metavar="PATH... [JOB]")
@variable_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Where it listens.")
@click.option("--port", default=6006, show_default=True, type=click.IntRange(1, 65535))
def tensorboard(
    arguments: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    host: str,
    port: int,
) -> None:
    """Serve TensorBoard over the jobs' output and job dirs (JOB: only that job, a
    TrainingJob's name or a live name), one run each: manifest/live name, and a tuning
    job's trials as .../trial-N. New jobs join as they appear (TensorBoard restarts on
    the same port). Its own output goes to the stack home. Runs until Ctrl-C."""
    import signal

    from reconciler.cli.boards import FOLLOW_SECONDS, Board

    paths = tuple(a for a in arguments if Path(a).exists())
    named = [a for a in arguments if not Path(a).exists()]
    if not paths or len(named) > 1:
        raise MlapplyError(
            f"{', '.join(map(repr, named))} are not files or folders"
            if len(named) > 1
            else "name the manifests (files or folders)",
            "mlapply tensorboard PATH... [JOB]",
        )
    stack = load_or_exit(paths, variables, var_files)
    require(stack, facets.Facet.TENSORBOARD)
    backend = driver(stack)
    board = Board(
        facet(backend, facets.TensorBoard),
        host,
        port,
        tensorflow_log(stack, "tensorboard"),
    )

    def jobs() -> list[LiveJob]:
        found = sorted(backend.read_live(stack.name).jobs, key=lambda j: j.create_time or 0)
        return [j for j in found if named[0] in (j.name, j.manifest_name)] if named else found

    first = jobs()
    if named and not first:
        raise MlapplyError(
            f"no job {named[0]!r} in stack {stack.name!r} (nor a file or folder)",
            "mlapply status PATH lists the jobs",
        )
    if not board.follow(first):
        raise MlapplyError(f"stack {stack.name!r} has no jobs yet", "apply it first")
    click.echo(f"TensorBoard on http://{host}:{port}/ over {len(board.runs)} run(s):")
    for name, folder in board.runs:
        click.echo(f"  {name}  {folder}")
    click.echo(f"  (new jobs join as they start; its own output: {board.log})")
    warn_if_exposed(host, "TensorBoard")
    # Ended from outside (a service manager, a test), TensorBoard ends with it.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            time.sleep(FOLLOW_SECONDS)
            board.check()
            known = {name for name, _ in board.runs}
            if board.follow(jobs()):
                added = [name for name, _ in board.runs if name not in known]
                stamp = time.strftime("%H:%M:%S")
                click.echo(f"{stamp} TensorBoard restarted with {', '.join(added) or 'fewer runs'}")
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()


def register(group: click.Group) -> None:
    for command in (status, logs, tensorboard):
        group.add_command(command)
