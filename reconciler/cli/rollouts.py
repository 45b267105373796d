"""`mlapply rollout undo` and `retry`: a person's hand on a rollout, kept as state."""

from __future__ import annotations

import getpass
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from reconciler.cli.common import confirm, driver, load_or_exit, require, variable_options

if TYPE_CHECKING:
    from reconciler.backends.base import LiveSnapshot
    from reconciler.kinds.modelversion.manual import ManualRollout
    from reconciler.stack import Stack


@click.group()
def rollout() -> None:
    """Roll back a version's rollout by hand, or roll a rolled-back version out again."""


_AUTO = click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")


@rollout.command()
@click.argument("model")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@variable_options
@_AUTO
def undo(
    model: str,
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    auto_approve: bool,
) -> None:
    """Send all of MODEL's traffic back to the version its rollout took it from, and
    mark the new version rolled back: the next apply keeps it so."""
    from reconciler.kinds.modelversion.manual import undo_of

    def work(stack: Stack, live: LiveSnapshot, by: str) -> ManualRollout:
        return undo_of(live, model, by, time.time())

    change = _by_hand(paths, variables, var_files, auto_approve, "undo", work)
    if change is not None:
        click.echo(f"Rolled back: {change.version.name} has no traffic.")


@rollout.command()
@click.argument("name")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@variable_options
@_AUTO
def retry(
    name: str,
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    auto_approve: bool,
) -> None:
    """Roll out again, from its first step, the rolled-back version NAME (its manifest
    name or live name); apply then carries it on as its gates allow."""
    from reconciler.kinds.modelversion.manual import retry_of

    def work(stack: Stack, live: LiveSnapshot, by: str) -> ManualRollout:
        return retry_of(stack, live, name, by, time.time())

    change = _by_hand(paths, variables, var_files, auto_approve, "retry", work)
    if change is not None:
        click.echo(
            f"{change.version.name} rolls out again; apply carries it on "
            "(mlapply plan shows where it stands)."
        )


def _by_hand(
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    auto_approve: bool,
    command: str,
    work: Callable[[Stack, LiveSnapshot, str], ManualRollout],
) -> ManualRollout | None:
    """Under the stack's lock: work out the change, show it, and make it if confirmed."""
    from reconciler.backends import registry
    from reconciler.backends.facets import Facet, StackLock
    from reconciler.kinds.modelversion.manual import carry_out

    stack = load_or_exit(paths, variables, var_files)
    require(stack, Facet.TRAFFIC)
    backend = driver(stack)
    with registry.facet(backend, StackLock).lock(stack.name, 0.0, click.echo):
        change = work(stack, backend.read_live(stack.name), _who(command))
        click.echo(f"Rollout {command}: {change.describe()}.")
        if not confirm(auto_approve, "Do it?"):
            return None
        carry_out(backend, change)
    return change


def _who(command: str) -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"mlapply rollout {command} ({user}@{socket.gethostname()})"


def register(group: click.Group) -> None:
    group.add_command(rollout)
