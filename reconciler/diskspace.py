"""A full disk as one clear error: which path, how much is free, how much to free.

A full disk shows up as ``OSError`` ENOSPC (or EDQUOT, a quota) from a file
write, or as SQLite's "database or disk is full". Neither is a bug in
mlapply, and neither may leave a half-written record: callers translate it
here and stop, or (the supervisor) wait for space and write again.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3

from reconciler.diagnostics import MlapplyError

NEEDED_BYTES = 100 * 2**20
"""What to free for mlapply's own records; a first runtime build needs about 1.5 GB."""


class DiskFull(MlapplyError):
    """No space left where mlapply writes."""


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc)


def free_bytes(path: str) -> int | None:
    folder = path
    while folder and not os.path.exists(folder):
        folder = os.path.dirname(folder)
    try:
        return shutil.disk_usage(folder or ".").free
    except OSError:
        return None


def disk_full(path: str, needed: int = NEEDED_BYTES) -> DiskFull:
    free = free_bytes(path)
    shown = f"{free / 2**20:.1f} MiB free" if free is not None else "its free space unknown"
    return DiskFull(
        f"no space left on the disk of {path} ({shown})",
        f"free at least {needed / 2**20:.0f} MiB there and run the command again; "
        "nothing was half-written",
    )
