"""What every command shares: the group, its error handling, options and loading."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from reconciler import __version__, gcpause
from reconciler.diagnostics import Diagnostic, MlapplyError, Severity
from reconciler.extras import extra_for
from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    from reconciler import diskspace
    from reconciler.backends.facets import Driver, Facet
    from reconciler.manifests import VariableInputs
    from reconciler.stack import Stack
else:
    diskspace = LazyModule("reconciler.diskspace")  # sqlite3, shutil: only on a write error

LOAD_ONCE = frozenset({"apply", "destroy", "graph", "plan", "validate"})
"""Commands after whose one load and plan the ``mlapply`` process ends: what they
build is frozen for the garbage collector (gcpause.py). Not when the command line
runs inside another program (a test's CliRunner): its process lives on."""


class _Process:
    is_mlapply = False
    """Set by ``main``: this process is the ``mlapply`` command and ends with it."""


def run_as_process() -> None:
    _Process.is_mlapply = True


EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


def use_colour(stream: Any) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def print_diagnostics(diagnostics: Sequence[Diagnostic]) -> None:
    colour = use_colour(sys.stderr)
    for diagnostic in diagnostics:
        text = diagnostic.render()
        if colour:
            word = f"{diagnostic.severity.value}:"
            tint = "red" if diagnostic.is_error else "yellow"
            text = text.replace(word, click.style(word, fg=tint, bold=True), 1)
        click.echo(text, err=True, color=colour)


def summary(diagnostics: Sequence[Diagnostic]) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    parts = [f"{errors} error{'s' if errors != 1 else ''}"]
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts)


class _Group(click.Group):
    """Turns every failure into one clear line; ``--debug`` shows the traceback.

    ``mlapply PATH`` is short for ``mlapply apply PATH``.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """``--debug`` is the group's, wherever it is given (``mlapply validate --debug``,
        as the README writes it, as kubectl takes its global flags after the command)."""
        end = args.index("--") if "--" in args else len(args)
        if "--debug" in args[:end]:
            args = ["--debug", *(a for i, a in enumerate(args) if a != "--debug" or i >= end)]
        return super().parse_args(ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        resolved: tuple[str | None, click.Command | None, list[str]]
        if args and args[0] not in self.commands and os.path.exists(args[0]):
            resolved = "apply", self.commands["apply"], args
        else:
            resolved = super().resolve_command(ctx, args)
        gcpause.freeze_when_resumed(_Process.is_mlapply and resolved[0] in LOAD_ONCE)
        return resolved

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except MlapplyError as exc:
            self._fail(ctx, exc.message, exc.hint, exc, exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except ModuleNotFoundError as exc:
            extra = extra_for(exc.name)
            if extra is None:
                self._internal(ctx, exc)
            command = ctx.invoked_subcommand or "this command"
            self._fail(
                ctx,
                f"`mlapply {command}` needs the {extra} extra ({exc.name} is not installed)",
                f"pip install 'mlapply[{extra}]'",
                exc,
            )
        except Exception as exc:
            if diskspace.is_disk_full(exc):
                where = getattr(exc, "filename", None) or os.getcwd()
                full = diskspace.disk_full(str(where))
                self._fail(ctx, full.message, full.hint, exc)
            self._internal(ctx, exc)

    def _internal(self, ctx: click.Context, exc: BaseException) -> NoReturn:
        self._fail(
            ctx,
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug in mlapply; rerun with --debug and report the traceback",
            exc,
        )

    @staticmethod
    def _fail(
        ctx: click.Context,
        message: str,
        hint: str | None,
        exc: BaseException,
        code: int = EXIT_ERROR,
    ) -> NoReturn:
        if ctx.find_root().params.get("debug"):
            traceback.print_exception(exc)
        print_diagnostics([Diagnostic(message, hint=hint)])
        ctx.exit(code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlapply")
@click.option("--debug", is_flag=True, envvar="MLAPPLY_DEBUG", help="Show tracebacks of errors.")
def cli(debug: bool) -> None:
    """Declarative manifests for ML training jobs and model deployments.

    mlapply reads YAML manifests (Stack, Dataset, Trainer, TrainingJob,
    Model, ModelVersion), compares them with the jobs and model versions
    that exist, and shows or carries out what it takes to match them.
    """


def variable_options(command: Any) -> Any:
    command = click.option(
        "--var-file",
        "var_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="A YAML file of NAME: VALUE variables (repeatable).",
    )(command)
    return click.option(
        "--var",
        "variables",
        multiple=True,
        metavar="NAME=VALUE",
        help="Set a variable declared in the Stack (repeatable; wins over files and env).",
    )(command)


def selection_options(command: Any) -> Any:
    command = click.option(
        "--retrain",
        multiple=True,
        metavar="NAME",
        help="Train this TrainingJob again even if it is up to date (repeatable).",
    )(command)
    return click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="ADDRESS",
        help="Only this resource and what it depends on (repeatable).",
    )(command)


def budget_options(command: Any) -> Any:
    return click.option(
        "--max-cost",
        type=click.FloatRange(min=0),
        metavar="USD",
        help="Refuse a plan whose jobs are forecast to cost more than this, in US dollars, "
        "besides the Stack's spec.budget (the lower limit holds).",
    )(command)


def inputs(variables: Sequence[str], var_files: Sequence[str]) -> VariableInputs:
    from reconciler.manifests import VariableInputs

    return VariableInputs(flags=tuple(variables), files=tuple(var_files), environ=dict(os.environ))


def load_or_exit(paths: Sequence[str], variables: Sequence[str], var_files: Sequence[str]) -> Stack:
    """The stack, or exit 1 after printing every diagnostic."""
    from reconciler.kinds import load_stack

    result = load_stack(paths, inputs(variables, var_files))
    print_diagnostics(result.diagnostics)
    if not result.ok or result.stack is None:
        click.echo(f"Invalid: {summary(result.diagnostics)}.", err=True)
        sys.exit(EXIT_ERROR)
    return result.stack


def driver(stack: Stack) -> Driver:
    from reconciler.backends import registry

    return registry.driver(stack.settings)


def require(stack: Stack, facet: Facet) -> None:
    """Refuse, with the reason and the way out, what the stack's backend cannot do
    (before a driver is made: no credentials are needed to be told)."""
    from reconciler.backends import registry

    registry.require(stack.settings.backend, facet, stack.name)


def check_names(stack: Stack, targets: Sequence[str], retrain: Sequence[str]) -> None:
    from reconciler.diagnostics import did_you_mean
    from reconciler.kinds.table import BY_KIND

    known = sorted(stack.everything())
    for target in targets:
        if target not in known:
            raise MlapplyError(
                f"--target {target}: no such resource",
                did_you_mean(target, known) or "addresses look like job.NAME or version.NAME",
            )
    retrainable = sorted(
        r.meta.name for r in stack.resources.values() if BY_KIND[r.kind].retrainable
    )
    for name in retrain:
        if name not in retrainable:
            raise MlapplyError(
                f"--retrain {name}: no TrainingJob of that name",
                did_you_mean(name, retrainable),
            )


LOOPBACK = ("127.0.0.1", "localhost", "::1")
allow_host_option = click.option(
    "--allow-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A Host name to answer beside addresses and localhost: a proxy's "
    "(repeatable; '*' for any). Other names get 403 (DNS rebinding).",
)


def tensorflow_log(stack: Stack, command: str) -> Path:
    """Where a command's TensorFlow C++ and absl lines (and TensorBoard's output) go:
    the stack home, not the terminal."""
    return stack.settings.home / "tensorflow-logs" / f"{command}.log"


def warn_if_exposed(host: str, what: str) -> None:
    """A server off loopback says that it has no authentication."""
    if host not in LOOPBACK:
        click.echo(f"warning: listening on {host}; {what} has no authentication", err=True)


def serve_until_stopped(server: Coroutine[Any, Any, None], host: str, port: int) -> None:
    """Run a server's coroutine until Ctrl-C; a port that cannot be had is one error."""
    import asyncio

    try:
        asyncio.run(server)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    except OSError as exc:
        raise MlapplyError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def confirm(auto_approve: bool, question: str) -> bool:
    """Whether to go on with what was just shown: yes with ``--auto-approve``, else the
    terminal's answer; without a terminal, a refusal naming the flag."""
    if auto_approve:
        return True
    if not sys.stdin.isatty():
        raise MlapplyError(
            "there is no terminal to ask for confirmation",
            "review what it shows and rerun with --auto-approve (as CI does)",
        )
    if click.confirm(question, default=False):
        return True
    click.echo("Nothing was changed.")
    return False
