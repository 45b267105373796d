"""A cache of file digests keyed by (path, size, mtime_ns), kept in the stack home.

Plans hash trainer sources and datasets on every run; the cache means a file
is read again only when its size or modification time changed. It is the one
thing ``plan`` writes. When the stack home cannot be written (a read-only
checkout), the cache quietly works in memory only; a link or other odd file in its
place is refused (``discover.home_file``).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from reconciler.manifests.discover import home_file, mark_home

CACHE_FILE = "hashcache.db"
_CHUNK = 1024 * 1024


def hash_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class HashCache:
    def __init__(self, home: Path | None) -> None:
        self._memory: dict[tuple[str, int, int], str] = {}
        self._pending: list[tuple[str, int, int, str]] = []
        self._db: sqlite3.Connection | None = None
        if home is not None:
            self._db = self._open(home)

    @staticmethod
    def _open(home: Path) -> sqlite3.Connection | None:
        try:
            home.mkdir(parents=True, exist_ok=True)
            mark_home(home)
            db = sqlite3.connect(home_file(home, CACHE_FILE, database=True), timeout=10)
            db.execute(
                "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, "
                "mtime_ns INTEGER, sha256 TEXT)"
            )
            return db
        except (OSError, sqlite3.Error):
            return None

    def digest(self, path: str) -> tuple[int, str]:
        """The size and sha256 of a file, read only when the cache has no match."""
        stat = os.stat(path)
        key = (path, stat.st_size, stat.st_mtime_ns)
        found = self._memory.get(key) or self._lookup(key)
        if found is None:
            found = hash_file(path)
            self._pending.append((*key, found))
        self._memory[key] = found
        return stat.st_size, found

    def _lookup(self, key: tuple[str, int, int]) -> str | None:
        if self._db is None:
            return None
        row = self._db.execute(
            "SELECT sha256 FROM files WHERE path = ? AND size = ? AND mtime_ns = ?", key
        ).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        if self._db is None:
            return
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", self._pending
                )
        except sqlite3.Error:
            pass
        finally:
            self._pending.clear()
            self._db.close()
            self._db = None
