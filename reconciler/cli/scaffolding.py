"""``mlapply init``: a trainer package and starter manifests."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option(
    "--template",
    default="regression",
    show_default=True,
    help="The trainer template: regression (taxi fare DNN, Keras 3), classification "
    "(tabular, Keras 3) or estimator (taxi fare, tf.estimator on runtime 2.15).",
)
@click.option("--name", help="Name of the package and the stack (default: the folder's name).")
@click.option("--no-git", is_flag=True, help="Do not make the folder a git repository.")
def init(directory: str, template: str, name: str | None, no_git: bool) -> None:
    """Start a trainer package (trainer/model.py, trainer/task.py, setup.py) with manifests.

    Writes into DIRECTORY (default: here) and refuses to overwrite any file.
    """
    from reconciler.scaffold import scaffold

    done = scaffold(Path(directory), template, name, git=not no_git)
    click.echo(f"Created a {template} trainer in {directory} ({len(done.written)} files).")
    if done.git_initialised:
        click.echo("Initialised a git repository there (trainer sources must be inside one).")
    manifests = Path(directory) / "manifests"
    click.echo(f"Next: put CSV files in {Path(directory) / 'data'}, then")
    click.echo(f"  mlapply validate {manifests}")
    click.echo(f"  mlapply plan {manifests}")


def register(group: click.Group) -> None:
    group.add_command(init)
