"""Commands that change the live world: apply (also ``mlapply PATH``), destroy, unlock."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    budget_options,
    check_names,
    confirm,
    driver,
    load_or_exit,
    require,
    selection_options,
    use_colour,
    variable_options,
)
from reconciler.cli.planning import render

if TYPE_CHECKING:
    from reconciler.apply.executor import Outcome
    from reconciler.apply.flow import ApplyOptions
    from reconciler.apply.planning import Planned
    from reconciler.cli.progress import EventPrinter
    from reconciler.stack.resources import Stack

_NO_WAIT = click.option(
    "--no-wait",
    is_flag=True,
    help="Submit jobs and return; a later apply deploys what has trained.",
)


class _Duration(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2 only
    """A duration as manifests write it (``90s``, ``15m``, ``1h30m``), or seconds."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        from reconciler.stack.build import duration_seconds

        text = str(value).strip()
        seconds = duration_seconds(text if text[-1:].isalpha() else f"{text}s")
        if seconds is not None:
            return seconds
        self.fail(f"{value!r} is not a duration: write 90s, 15m, 1h30m, or seconds", param, ctx)


_ROLLOUT_WAIT = click.option(
    "--rollout-wait",
    type=_Duration(),
    default="0s",
    show_default=True,
    help="The longest to wait for rollout steps to hold before returning (e.g. 15m); "
    "a later apply carries a rollout on from where it stands.",
)
_APPLY_OPTIONS = [
    click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation."),
    click.option(
        "--parallelism",
        default=4,
        show_default=True,
        type=click.IntRange(1, 64),
        help="Changes made at once.",
    ),
    click.option(
        "--lock-timeout",
        default=0.0,
        show_default=True,
        type=float,
        help="Seconds to wait for another apply of the stack to finish.",
    ),
]


def _apply_options(command: Any) -> Any:
    for option in reversed(_APPLY_OPTIONS):
        command = option(command)
    return command


def _event_printer() -> EventPrinter:
    from reconciler.cli.progress import EventPrinter

    live = use_colour(sys.stdout)  # a terminal, and no NO_COLOR
    return EventPrinter(sys.stdout, live=live, colour=live)


def _show(planned: Planned) -> None:
    from reconciler.render.jsonplan import plan_to_json

    click.echo(render(plan_to_json(planned.plan), "text"), nl=False)


def _converge(
    paths: Sequence[str],
    variables: Sequence[str],
    var_files: Sequence[str],
    options: ApplyOptions,
    auto_approve: bool,
) -> None:
    from reconciler.apply.flow import converge

    stack = load_or_exit(paths, variables, var_files)
    check_names(stack, options.targets, options.retrain)
    question = (
        f'Destroy everything of stack "{stack.name}"?'
        if options.destroy
        else "Apply these changes?"
    )
    started = time.time()
    done = converge(
        stack,
        driver(stack),
        options,
        show=_show,
        confirm=lambda: confirm(auto_approve, question),
        on_event=_event_printer(),
        note=lambda text: click.echo(f"note: {text}", err=True),
    )
    if done.planned.plan.errors:
        sys.exit(EXIT_ERROR)
    outcome = done.outcome
    blocked = 0 if options.destroy else done.planned.plan.blocked
    if outcome is not None:
        _note_apply(stack, started, outcome, blocked, options.destroy)
    if outcome is None:
        if blocked:
            _not_converged(blocked)
        sys.exit(EXIT_OK)
    count = len(outcome.finished)
    if outcome.interrupted:
        click.echo(
            f"Interrupted after {count} change(s); submitted jobs keep running. "
            "Run apply again to carry on.",
            err=True,
        )
        sys.exit(130)
    if outcome.failed:
        click.echo(
            f"Apply failed: {len(outcome.failed)} failed, {len(outcome.skipped)} skipped, "
            f"{count} done.",
            err=True,
        )
        for address, reason in outcome.failed.items():
            click.echo(f"error: {address}: {reason}", err=True)
        sys.exit(EXIT_ERROR)
    if outcome.held:  # each said as it happened (its event line)
        _not_converged(len(outcome.held) + blocked, done_count=count)
    if options.destroy:
        listed = len(done.planned.plan.removals)
        left = listed - done.purged
        kept = f" ({left} not finished yet: destroy again once they end)" if left else ""
        click.echo(
            f"Destroy complete: {count} change(s); {done.purged} of {listed} job run(s) "
            f"removed with their outputs{kept}; staged packages removed."
        )
        return
    if not options.wait_for_jobs:  # jobs may still run: not everything is done
        click.echo(
            f"Apply submitted: {count} change(s), without waiting for jobs; what waits on "
            "them (a deploy) is done by a later apply once they finish (mlapply status)."
        )
        return
    click.echo(f"Apply complete: {count} change(s).")
    _next_steps(done.planned, outcome.finished, paths)
    if blocked:
        _not_converged(blocked)


def _note_apply(
    stack: Stack, started: float, outcome: Outcome, blocked: int, destroy: bool
) -> None:
    """How this apply ended, in the stack home for the console (best effort)."""
    from reconciler.cli.console import last_apply_path

    if outcome.interrupted:
        said = "interrupted"
    elif outcome.failed:
        said = f"failed ({len(outcome.failed)} failed, {len(outcome.finished)} done)"
    elif blocked:
        said = f"not converged ({blocked} blocked)"
    else:
        count = len(outcome.finished)
        said = f"{'destroy' if destroy else 'apply'} complete ({count} change{'s' * (count != 1)})"
    note = {"started": started, "ended": time.time(), "outcome": said}
    path = last_apply_path(stack)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(note), encoding="utf-8")
    except OSError:
        pass


def _not_converged(blocked: int, done_count: int | None = None) -> None:
    """A stack apply cannot converge is not a success: say so, and fail."""
    done = f" ({done_count} change(s) made)" if done_count is not None else ""
    click.echo(
        f"Not converged: {blocked} resource(s) blocked{done}; the plan above (and a plan "
        "now) says why and the way forward.",
        err=True,
    )
    sys.exit(EXIT_ERROR)


def _next_steps(planned: Planned, finished: Sequence[str], paths: Sequence[str]) -> None:
    """What each kind suggests after the changes this apply made."""
    from reconciler.kinds.table import live_handler

    stack = planned.desired.stack
    done = [c for c in planned.plan.changes if c.address in finished]
    steps = {live_handler(c.kind).next_step(c, stack, " ".join(paths)) for c in done}
    for step in sorted(s for s in steps if s):
        click.echo(step)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@variable_options
@_apply_options
@_NO_WAIT
@_ROLLOUT_WAIT
@selection_options
@budget_options
def apply(
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    auto_approve: bool,
    no_wait: bool,
    rollout_wait: float,
    parallelism: int,
    lock_timeout: float,
    targets: tuple[str, ...],
    retrain: tuple[str, ...],
    max_cost: float | None,
) -> None:
    """Plan, confirm, then build, train, deploy, cancel and delete until the live
    resources match the manifests. PATHS are manifests, or one saved plan file."""
    from reconciler.apply.flow import ApplyOptions
    from reconciler.apply.saved import is_saved_plan, read_saved

    saved = None
    allow_over_budget = False
    if len(paths) == 1 and os.path.isfile(paths[0]) and is_saved_plan(paths[0]):
        saved = read_saved(paths[0])
        paths, targets, retrain = saved.paths, saved.targets, saved.retrain
        max_cost = saved.max_cost if max_cost is None else max_cost
        allow_over_budget = saved.allow_over_budget
    options = ApplyOptions(
        saved=saved,
        wait_for_jobs=not no_wait,
        rollout_wait=rollout_wait,
        parallelism=parallelism,
        lock_timeout=lock_timeout,
        targets=targets,
        retrain=retrain,
        max_cost=max_cost,
        allow_over_budget=allow_over_budget,
    )
    _converge(paths, variables, var_files, options, auto_approve)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@variable_options
@_apply_options
def destroy(
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    auto_approve: bool,
    parallelism: int,
    lock_timeout: float,
) -> None:
    """Cancel and delete everything live with the stack's label (honouring preventDestroy)."""
    from reconciler.apply.flow import ApplyOptions

    options = ApplyOptions(
        destroy=True,
        parallelism=parallelism,
        lock_timeout=lock_timeout,
    )
    _converge(paths, variables, var_files, options, auto_approve)


@click.command()
@click.argument("lock_id")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@variable_options
def unlock(
    lock_id: str, paths: tuple[str, ...], variables: tuple[str, ...], var_files: tuple[str, ...]
) -> None:
    """Break the stack's apply lock LOCK_ID (when its holder is gone)."""
    from reconciler.backends.facets import Facet, StackLock
    from reconciler.backends.registry import facet

    stack = load_or_exit(paths, variables, var_files)
    require(stack, Facet.LOCK)
    held = facet(driver(stack), StackLock).unlock(stack.name, lock_id)
    click.echo(f'Removed the lock of stack "{stack.name}" held by {held}.')


def register(group: click.Group) -> None:
    for command in (apply, destroy, unlock):
        group.add_command(command)
