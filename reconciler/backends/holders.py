"""Whether the holder of a lock is provably gone (DESIGN.md, Apply).

A holder is gone when it ran on this host and its process has ended, or its
pid now belongs to a process that started after the lock was taken (the pid
was reused). A holder on another host, or one whose start cannot be read, may
be alive: its lock is waited for and named, never taken.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_start(pid: int) -> float | None:
    """When ``pid`` started, in seconds since the epoch (Linux ``/proc``), or None.

    Boot time is whole seconds, so this is at most a second early: a live
    holder never reads as started after it took its lock.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    # Field 22 of /proc/PID/stat (starttime, in clock ticks since boot); the
    # split above starts at field 3.
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def holder_gone(host: str, pid: int, since: float) -> bool:
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, as another user
    started = process_start(pid)
    return started is not None and started > since
