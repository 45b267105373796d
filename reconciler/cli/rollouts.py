"""`mlapply rollout undo` and `retry`: a person's hand on a rollout, kept as state."""

from __future__ import annotations

import getpass
import socket
import time

import click

from reconciler.cli.common import driver, load_or_exit, require, variable_options
from reconciler.diagnostics import MlapplyError


@click.group()
def rollout() -> None:
    """Roll back a version's rollout by hand, or roll a rolled-back version out again."""


def _who(command: str) -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"mlapply rollout {command} ({user}@{socket.gethostname()})"


def _confirm(auto_approve: bool, what: str) -> bool:
    click.echo(what)
    if auto_approve:
        return True
    import sys

    if not sys.stdin.isatty():
        raise MlapplyError(
            "there is no terminal to ask for confirmation", "rerun with --auto-approve"
        )
    if click.confirm("Do it?", default=False):
        return True
    click.echo("Nothing was changed.")
    return False


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
    from reconciler.backends import registry
    from reconciler.backends.facets import Facet, StackLock
    from reconciler.kinds.modelversion.manual import carry_out, undo_of

    stack = load_or_exit(paths, variables, var_files)
    require(stack, Facet.TRAFFIC)
    backend = driver(stack)
    with registry.facet(backend, StackLock).lock(stack.name, 0.0, click.echo):
        change = undo_of(backend.read_live(stack.name), model, _who("undo"), time.time())
        if _confirm(auto_approve, f"Rollout undo: {change.describe()}."):
            carry_out(backend, change)
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
    from reconciler.backends import registry
    from reconciler.backends.facets import Facet, StackLock
    from reconciler.kinds.modelversion.manual import carry_out, retry_of

    stack = load_or_exit(paths, variables, var_files)
    require(stack, Facet.TRAFFIC)
    backend = driver(stack)
    with registry.facet(backend, StackLock).lock(stack.name, 0.0, click.echo):
        live = backend.read_live(stack.name)
        change = retry_of(stack, live, name, _who("retry"), time.time())
        if _confirm(auto_approve, f"Rollout retry: {change.describe()}."):
            carry_out(backend, change)
            click.echo(
                f"{change.version.name} rolls out again; apply carries it on "
                "(mlapply plan shows where it stands)."
            )


def register(group: click.Group) -> None:
    group.add_command(rollout)
