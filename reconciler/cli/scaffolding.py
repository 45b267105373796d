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
    from reconciler.scaffold import article, default_name, scaffold

    done = scaffold(Path(directory), template, name, git=not no_git)
    files = len(done.written)
    click.echo(f"Created {article(template)} {template} trainer in {directory} ({files} files),")
    click.echo("with synthetic data in data/ and a request in sample-request.json.")
    if done.git_initialised:
        click.echo("Initialised a git repository there (trainer sources must be inside one).")
    here = Path(directory)
    model = name or default_name(here)
    click.echo("Next: train, deploy and ask it (see its README.md):")
    click.echo(f"  mlapply {here / 'manifests'} --auto-approve")
    click.echo(
        f"  mlapply predict {model} {here / 'manifests'}"
        f" --json-instances {here / 'sample-request.json'}"
    )


def register(group: click.Group) -> None:
    group.add_command(init)
