"""``mlapply import``: gcloud ML Engine scripts and configs as manifests."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import click

from reconciler.diagnostics import MlapplyError

FILES = {"stack.yaml", "training.yaml", "serving.yaml"}
HEADER = (
    "# Imported by `mlapply import` from {sources}.\n"
    "# Review the notes it printed; `mlapply validate` and `mlapply plan` check it.\n"
)


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Write stack.yaml, training.yaml and serving.yaml into this folder (refusing to "
    "overwrite them) and validate them; without it, print the manifests.",
)
def import_(files: tuple[str, ...], out_dir: str | None) -> None:
    """Turn gcloud ML Engine runbooks into manifests.

    FILES are shell scripts or pasted command lines (- reads standard input) with
    `gcloud ml-engine|ai-platform jobs submit training`, `models create`,
    `versions create` and `versions set-default`, and YAML or JSON configs holding a
    trainingInput (an hptuning_config.yaml). They are read, never run. Each flag
    mlapply cannot translate is named, with its file and line, on standard error.
    """
    import yaml

    from reconciler.importing import gcloud, manifests, script, trainingspec

    found = gcloud.Found()
    out = Path(out_dir) if out_dir else Path.cwd()
    for name in files:
        path = Path("<stdin>") if name == "-" else Path(name)
        if path.suffix in (".yaml", ".yml", ".json"):
            config = trainingspec.read_config(path, found, (str(path), 1))
            if "trainingInput" not in config:
                raise MlapplyError(f"{path}: no trainingInput in it", "give a gcloud --config file")
            found.configs.append((str(path), config))
            continue
        text = _read(None if name == "-" else path)
        gcloud.translate(path, script.read_commands(text), found)
    if not (found.jobs or found.models or found.versions):
        raise MlapplyError(
            f"no gcloud ml-engine or ai-platform command to import in {', '.join(files)}",
            "give the script (or a file with the command line) that runs `gcloud ai-platform "
            "jobs submit training`, `models create` or `versions create`",
        )
    documents = manifests.documents(found, out)
    for note in sorted(found.notes, key=lambda n: (n.file, n.line)):
        click.echo(note.render(), err=True)
    sources = ", ".join(files)
    rendered = {
        file: HEADER.format(sources=sources)
        + yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False)
        for file, docs in documents.items()
    }
    counts = (
        f"{len(found.jobs)} job(s), {len(found.models)} model(s), "
        f"{len(found.versions)} version(s), {len(found.notes)} note(s)"
    )
    if out_dir is None:
        click.echo("---\n".join(rendered.values()), nl=False)
        click.echo(f"Imported {counts}.", err=True)
        return
    _write(out, rendered)
    click.echo(f"Imported {counts} into {out_dir}: {', '.join(sorted(rendered))}.", err=True)
    _validate(out)


MAX_SCRIPT_BYTES = 1 << 20
"""A runbook is text: at most a MiB of it is read (a file or standard input)."""


def _read(path: Path | None) -> str:
    """A script's text: a regular file (never a FIFO or a device) or standard input,
    at most ``MAX_SCRIPT_BYTES``."""
    shown = path or "standard input"
    try:
        if path is None:
            raw = sys.stdin.buffer.read(MAX_SCRIPT_BYTES + 1)
        else:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as handle:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise MlapplyError(f"{path} is not a regular file", "give the script's file")
                raw = handle.read(MAX_SCRIPT_BYTES + 1)
    except OSError as exc:
        raise MlapplyError(f"cannot read {shown}: {exc.strerror}") from exc
    if len(raw) > MAX_SCRIPT_BYTES:
        raise MlapplyError(f"{shown} is over {MAX_SCRIPT_BYTES // 1024} KiB: not a runbook")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MlapplyError(f"{shown} is not text (UTF-8)") from exc


def _write(out: Path, rendered: dict[str, str]) -> None:
    taken = sorted(name for name in rendered if (out / name).exists())
    if taken:
        raise MlapplyError(
            f"{out} already has {', '.join(taken)}",
            "import into an empty folder (--out), or remove those files",
        )
    out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out / name).write_text(text, encoding="utf-8")


def _validate(out: Path) -> None:
    from reconciler.cli.common import print_diagnostics, summary
    from reconciler.kinds import load_stack

    result = load_stack([str(out)])
    print_diagnostics(result.diagnostics)
    if not result.ok:
        raise MlapplyError(
            f"the imported manifests do not validate yet: {summary(result.diagnostics)}",
            "fix what the errors above name, then run mlapply validate " + str(out),
        )
    from reconciler.backends import registry

    assert result.stack is not None
    backend = result.stack.settings.backend
    click.echo(f"Valid. Next: mlapply plan {out} (backend {backend})", err=True)
    if backend != registry.DEFAULT:  # the backend that needs no account
        click.echo(
            "  To try the jobs on this machine first, with no cloud account: set `backend: "
            f"{registry.DEFAULT}` in {out / 'stack.yaml'} and point its Dataset at local "
            "files; the trainer then runs here as ML Engine ran it.",
            err=True,
        )


def register(group: click.Group) -> None:
    group.add_command(import_)
