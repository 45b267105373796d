"""Copying a SavedModel a trainer exported into where a version serves from.

The export is the trainer's work, so the copy takes a regular tree only: folders
and regular files, never following a link (a link out of the export, or two
linking to each other, copied gigabytes; a link to ``/dev/zero`` never ends),
never opening a FIFO or a device, and at most ``limit_bytes`` in all, measured
before anything is written. A copy is made beside its target as ``.partial`` and
moved into place whole; a copy that fails leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from reconciler.diagnostics import MlapplyError

LIMIT_VARIABLE = "MLAPPLY_EXPORT_LIMIT_GB"
DEFAULT_LIMIT_GB = 20.0
"""A SavedModel over 20 GB is beyond what a served version holds in memory here."""
MOST_FILES = 100_000


def limit_bytes() -> int:
    text = os.environ.get(LIMIT_VARIABLE, "")
    try:
        gigabytes = float(text) if text else DEFAULT_LIMIT_GB
    except ValueError:
        raise MlapplyError(
            f"{LIMIT_VARIABLE}={text!r} is not a number", "give the limit in GB, e.g. 40"
        ) from None
    return int(gigabytes * 1e9)


def _refused(export: Path, what: str) -> MlapplyError:
    return MlapplyError(
        f"the export {export} {what}",
        "a SavedModel is a folder of regular files: copy what links point at into the export",
    )


def measure(export: Path, limit: int) -> list[tuple[Path, int]]:
    """Every entry under ``export`` (relative path, size; size -1 for a folder), refusing
    links, special files and a tree over ``limit`` bytes or ``MOST_FILES`` entries."""
    found: list[tuple[Path, int]] = []
    total = 0
    pending = [Path()]
    while pending:
        relative = pending.pop()
        with os.scandir(export / relative) as entries:
            for entry in entries:
                inner = relative / entry.name
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    raise _refused(export, f"holds a link: {inner} -> {os.readlink(entry.path)}")
                if stat.S_ISDIR(mode):
                    pending.append(inner)
                    found.append((inner, -1))
                elif stat.S_ISREG(mode):
                    size = entry.stat(follow_symlinks=False).st_size
                    total += size
                    found.append((inner, size))
                else:
                    raise _refused(export, f"holds {inner}, which is not a regular file")
                if total > limit or len(found) > MOST_FILES:
                    raise MlapplyError(
                        f"the export {export} is over the copy's bound ({limit / 1e9:g} GB or "
                        f"{MOST_FILES:,} files)",
                        f"set {LIMIT_VARIABLE} to a larger number of GB if the model is that big",
                    )
    return found


def copy_export(export: Path, target: Path) -> None:
    """``export`` copied to ``target`` (replacing it) as a regular tree, whole or not at all."""
    if not (export / "saved_model.pb").is_file():
        raise MlapplyError(f"no SavedModel under {export}")
    entries = measure(export, limit_bytes())
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        for relative, size in sorted(entries, key=lambda e: len(e[0].parts)):
            if size < 0:
                (partial / relative).mkdir()
                continue
            fd = os.open(export / relative, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as source, (partial / relative).open("wb") as copy:
                if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since it was measured
                    raise _refused(export, f"holds {relative}, which is not a regular file")
                shutil.copyfileobj(source, copy, 1 << 20)
        if target.exists():
            shutil.rmtree(target)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
