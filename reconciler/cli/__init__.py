"""The ``mlapply`` command line: commands, output and exit codes.

The only package that prints. Each module holds a group of commands; the
rules they follow live below (``reconciler.apply``, ``reconciler.render``).
Heavy modules (YAML, JSON Schema, TensorFlow, the Google client) are
imported inside the commands that need them, so ``mlapply --help`` starts fast.
"""

from __future__ import annotations

from reconciler.cli import (
    applying,
    console,
    importing,
    planning,
    rollouts,
    scaffolding,
    serving,
    watching,
)
from reconciler.cli.common import cli, run_as_process

__all__ = ["cli", "main"]

for _module in (
    planning,
    applying,
    rollouts,
    watching,
    console,
    serving,
    scaffolding,
    importing,
):
    _module.register(cli)


def main() -> None:
    run_as_process()
    cli(prog_name="mlapply")
