"""Content fingerprints: a trainer's source tree and a dataset's files.

Both keep the per-file list (relative path -> size and sha256) beside the
overall digest, so a plan can say which files were added, removed or
modified. Nothing here runs code: a trainer is read as files, never built.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.diagnostics import MlapplyError
from reconciler.identity.canonical import digest
from reconciler.stack.build import repository_root
from reconciler.stack.resources import Dataset

if TYPE_CHECKING:
    from reconciler.identity.hashcache import HashCache

# What never goes into a package: caches, VCS metadata, build outputs.
EXCLUDED_DIRS = {"__pycache__", ".git", "build", "dist", ".mlapply"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".egg-info")

MAX_SOURCE_FILES = 20_000
MAX_SOURCE_BYTES = 4 * 2**30
"""What a plan hashes of a trainer's source at most (a package is code, not data)."""

FileList = Mapping[str, Sequence[int | str]]
"""Relative path -> (size, sha256); a list once it has been through JSON."""

RemoteLister = Callable[[str], Mapping[str, tuple[int, str]]]
"""gs:// pattern -> {object URI: (size, checksum and generation)}, from a backend."""


@dataclass(frozen=True)
class Fingerprint:
    digest: str
    files: FileList = field(default_factory=dict)
    """Relative path -> (size, sha256); empty when only patterns are fingerprinted."""
    patterns: tuple[str, ...] = ()
    mode: str = "content"
    excluded: frozenset[str] = frozenset()
    """Relative paths left out of a trainer's source: the stack's own files in it."""


def _excluded_dir(name: str) -> bool:
    return name in EXCLUDED_DIRS or name.startswith(".") or name.endswith(EXCLUDED_SUFFIXES)


def trainer_fingerprint(
    source: Path, cache: HashCache, excluded: frozenset[str] = frozenset()
) -> Fingerprint:
    """Digest of the files that would go into the trainer's package; ``excluded``
    (relative paths of files or folders: the stack's manifests, data and home
    when they sit inside the source) are neither hashed nor packaged."""
    files: dict[str, tuple[int, str]] = {}
    root = repository_root(source.resolve(), source.resolve())
    by_target: dict[str, tuple[int, str]] = {}  # N links to one file: hashed once
    hashed = 0
    for folder, dirnames, filenames in os.walk(source):
        relative = Path(folder).relative_to(source).as_posix()
        prefix = "" if relative == "." else relative + "/"
        dirnames[:] = sorted(
            d for d in dirnames if not _excluded_dir(d) and prefix + d not in excluded
        )
        for name in sorted(filenames):
            if name.endswith(EXCLUDED_SUFFIXES) or name == ".DS_Store":
                continue
            if prefix + name in excluded:
                continue
            path = os.path.join(folder, name)
            if not os.path.isfile(path):
                continue
            real = os.path.realpath(path)
            if not Path(real).is_relative_to(root):
                raise MlapplyError(
                    f"trainer source {source}: {prefix + name} links outside the repository "
                    f"({real})",
                    "replace the link by the file it points at, or remove it",
                )
            if real not in by_target:
                by_target[real] = cache.digest(path)
                hashed += by_target[real][0]
            files[prefix + name] = by_target[real]
            if len(files) > MAX_SOURCE_FILES or hashed > MAX_SOURCE_BYTES:
                raise MlapplyError(
                    f"trainer source {source} holds more than {MAX_SOURCE_FILES:,} files or "
                    f"{MAX_SOURCE_BYTES // 2**30} GiB (the bound of a plan)",
                    "point spec.source at the trainer's package folder, not a tree of data",
                )
    return Fingerprint(digest({"files": files}), files, excluded=excluded)


def inside(paths: Iterable[str], folder: Path) -> frozenset[str]:
    """``paths`` (absolute) that lie inside ``folder``, relative to it."""
    root = str(folder).rstrip(os.sep) + os.sep
    return frozenset(
        Path(os.path.normpath(p)[len(root) :]).as_posix()
        for p in paths
        if os.path.normpath(p).startswith(root)
    )


def data_fingerprint(
    dataset: Dataset,
    patterns: Sequence[str],
    cache: HashCache,
    remote: RemoteLister | None = None,
) -> Fingerprint:
    """Fingerprint of one side (train or eval) of a dataset.

    ``content``: every matched local file (a folder counts as the files under
    it). ``paths``: the patterns only. gs:// patterns are fingerprinted from
    the objects ``remote`` lists (a cloud backend's object metadata), and
    kept as written when there is no such lister (the local backend).
    """
    if dataset.fingerprint == "paths":
        return Fingerprint(digest({"patterns": list(patterns)}), {}, tuple(patterns), "paths")
    files: dict[str, Sequence[int | str]] = {}
    unlisted = []
    budget = _Budget(dataset.meta.name, dataset.root)
    for pattern in patterns:
        if pattern.startswith("gs://"):
            if remote is None:
                unlisted.append(pattern)
            else:
                files.update({uri: list(meta) for uri, meta in remote(pattern).items()})
            continue
        for match in budget.expand(pattern, str(dataset.base_dir / pattern)):
            for path in budget.files_under(pattern, match):
                found = cache.digest(path)
                budget.spend(pattern, found[0])
                files[_relative(path, dataset.base_dir)] = found
    record = {"files": files, "remote": unlisted}
    return Fingerprint(digest(record), files, tuple(patterns), "content")


# What a plan may read to fingerprint one side of a dataset: plan runs on untrusted
# pull requests, and a pattern such as /usr/** must not stall it.
MAX_FILES = 100_000
MAX_MATCHES = 4 * MAX_FILES  # a pattern's matches, folders included (``**`` lists both)
MAX_BYTES = 50 * 2**30
MAX_SECONDS = 300.0


class DataTooLarge(MlapplyError):
    """A dataset pattern matched more than a plan may read."""


class _Budget:
    def __init__(self, dataset: str, root: Path | None = None) -> None:
        self.dataset = dataset
        self.root = root
        """Files must resolve inside it (a committed link must not reach out of the
        repository: plan would hash what it points at); None: anywhere."""
        self.files = 0
        self.bytes = 0
        self.started = time.monotonic()
        self.seen: set[str] = set()  # each file counted once, however many matches hold it
        self.walked: list[str] = []  # folders walked whole

    def expand(self, pattern: str, where: str) -> list[str]:
        """The pattern's matches, sorted; the expansion itself is bounded too (a
        ``/usr/**`` walks a whole tree before a byte is hashed)."""
        found = []
        for match in glob.iglob(where, recursive=True):
            found.append(match)
            if len(found) > MAX_MATCHES:
                raise self._too_large(pattern, f"more than {MAX_MATCHES:,} files and folders")
            self._check(pattern, 0)
        return sorted(found)

    def files_under(self, pattern: str, path: str) -> list[str]:
        """A match as files not met before: itself, or the files under the folder
        (bounded as it walks; ``**`` matches a folder and everything in it)."""
        real = os.path.normpath(path)  # compared normalized, returned as matched
        if any(real == w or real.startswith(w.rstrip(os.sep) + os.sep) for w in self.walked):
            return []
        if os.path.isfile(path):
            return self._new(pattern, [path])
        self.walked.append(real)
        found: list[str] = []
        for folder, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            names = (os.path.join(folder, n) for n in sorted(filenames) if not n.startswith("."))
            found.extend(self._new(pattern, names))
        return found

    def _new(self, pattern: str, paths: Iterable[str]) -> list[str]:
        fresh = []
        for path in paths:
            real = os.path.normpath(path)
            if self.root is not None and not Path(os.path.realpath(path)).is_relative_to(self.root):
                raise MlapplyError(
                    f'Dataset "{self.dataset}": pattern {pattern!r} reaches {path}, which '
                    f"is outside the repository ({self.root}) through a link",
                    "keep local data inside the repository as files, not links out of it",
                )
            if real not in self.seen:
                self.seen.add(real)
                fresh.append(path)
        self._check(pattern, len(self.seen))
        return fresh

    def spend(self, pattern: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        self._check(pattern, self.files)

    def _check(self, pattern: str, files: int) -> None:
        over = (
            f"more than {MAX_FILES:,} files"
            if files > MAX_FILES
            else f"more than {MAX_BYTES // 2**30} GiB"
            if self.bytes > MAX_BYTES
            else f"more than {MAX_SECONDS:.0f} s of reading"
            if time.monotonic() - self.started > MAX_SECONDS
            else None
        )
        if over:
            raise self._too_large(pattern, over)

    def _too_large(self, pattern: str, over: str) -> DataTooLarge:
        return DataTooLarge(
            f'Dataset "{self.dataset}": pattern {pattern!r} needs {over} to fingerprint '
            "(the bound of a plan)",
            "narrow the pattern, or set fingerprint: paths to fingerprint the patterns "
            "only (the data's content then leaves the job's identity)",
        )


def _relative(path: str, base: Path) -> str:
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return Path(path).as_posix()


def file_changes(before: FileList, after: FileList) -> dict[str, list[str]]:
    """Which files were added, removed and modified between two file lists."""
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "modified": sorted(
            p for p in set(before) & set(after) if tuple(before[p]) != tuple(after[p])
        ),
    }
