"""Finding manifest files under the paths a user gives, in a deterministic order."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.diagnostics import Diagnostic, Location, MlapplyError, error

MANIFEST_SUFFIXES = (".yaml", ".yml")
STACK_HOME = ".mlapply"
HOME_MARKER = ".mlapply-home"
"""A file the local backend keeps in a stack home, so a home named anything is skipped."""
SQLITE_COMPANIONS = ("-journal", "-wal", "-shm")
"""The files SQLite writes beside a database (sqlite.org/tempfiles.html, checked 2026-12-06)."""
_REMOVE_IT = (
    "remove it: the stack home holds only files mlapply made, and it makes them again "
    "(a link committed there would aim mlapply's writes outside the repository)"
)


def home_file(home: Path, name: str, *, database: bool = False) -> Path:
    """A file of the stack home, refused when it is a link or not a regular file (with
    ``database``, also the files SQLite keeps beside it): ``plan`` writes there."""
    path = home / name
    companions = SQLITE_COMPANIONS if database else ()
    for candidate in (path, *(path.with_name(name + suffix) for suffix in companions)):
        try:
            mode = os.lstat(candidate).st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(mode):
            what = "a link" if stat.S_ISLNK(mode) else "not a regular file"
            raise MlapplyError(f"{candidate} is {what}", _REMOVE_IT)
    return path


def mark_home(home: Path) -> None:
    """Create the home's marker file, never through a link."""
    path = home / HOME_MARKER
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as refused:
        if refused.errno == errno.ELOOP:
            raise MlapplyError(f"{path} is a link", _REMOVE_IT) from None
        raise
    os.close(handle)
    home_file(home, HOME_MARKER)  # a FIFO or a folder there is refused too


@dataclass(frozen=True)
class ManifestFile:
    path: Path
    """Absolute path of the file."""
    display: str
    """The path as diagnostics show it: relative to the working directory when inside it."""
    root: Path
    """The directory given on the command line that led to this file (its folder for a file)."""


def display_path(path: Path, cwd: Path) -> str:
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        return path.as_posix()


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name == STACK_HOME


def discover(
    paths: Sequence[str], cwd: Path | None = None
) -> tuple[list[ManifestFile], list[Diagnostic]]:
    """Manifest files under ``paths``: files as given, directories walked recursively.

    Within a directory, its files come in name order, then its sub-folders in
    name order, recursively; hidden folders and files (the stack home ``.mlapply/`` among them) are
    skipped. A file reached twice is read once.
    """
    base = cwd or Path.cwd()
    found: list[ManifestFile] = []
    seen: set[Path] = set()
    diagnostics: list[Diagnostic] = []

    def add(path: Path, root: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(ManifestFile(path, display_path(path, base), root))

    for given in paths:
        path = Path(os.path.abspath(base / given))
        if path.is_file():
            add(path, path.parent)
            continue
        if not path.is_dir():
            diagnostics.append(
                error(
                    "no such file or directory",
                    Location(given),
                    "give the folder or files holding your manifests, e.g. manifests/",
                )
            )
            continue
        any_here = False
        for folder, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not _is_hidden(d) and not os.path.exists(os.path.join(folder, d, HOME_MARKER))
            )
            for name in sorted(filenames):
                if name.endswith(MANIFEST_SUFFIXES) and not _is_hidden(name):
                    add(Path(folder) / name, path)
                    any_here = True  # even when read already: a folder given twice
        if not any_here:
            diagnostics.append(
                error(
                    "no manifests (*.yaml, *.yml) found here",
                    Location(given),
                    "give the folder holding your manifests, e.g. manifests/",
                )
            )
    return found, diagnostics
