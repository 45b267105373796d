"""One apply per stack at a time: the lock in the local store.

The holder (a random id, pid, host, time) is recorded; a second apply waits
up to its timeout, then fails saying who holds the lock. A lock whose holder
process is gone (same host, pid dead) is reported as such, and
`mlapply unlock ID` breaks it; mlapply never breaks a lock by itself.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.backends.local.store import LocalStore, LockInfo
from reconciler.diagnostics import MlapplyError

POLL_SECONDS = 0.5


def holder_alive(info: LockInfo) -> bool | None:
    """Whether the holder still runs: None when it is on another host (unknown)."""
    if info.host != socket.gethostname():
        return None
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(info: LockInfo) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.acquired))
    return f"pid {info.pid} on {info.host} since {since} (lock id {info.holder})"


@contextmanager
def stack_lock(home: Path, stack: str, timeout: float) -> Iterator[str]:
    """Hold the stack's lock for the duration; yields the lock id."""
    holder = uuid.uuid4().hex[:12]
    store = LocalStore(home, create=True)
    deadline = time.monotonic() + timeout
    try:
        while True:
            held = store.try_lock(stack, holder, os.getpid(), socket.gethostname())
            if held is None:
                break
            if time.monotonic() >= deadline:
                alive = holder_alive(held)
                if alive is False:
                    raise MlapplyError(
                        f'stack "{stack}" is locked by {describe(held)}, and that process is gone',
                        "if no apply is running, break the lock: "
                        f"mlapply unlock {held.holder} PATH",
                    )
                raise MlapplyError(
                    f'stack "{stack}" is locked by {describe(held)}',
                    "another apply is running: wait for it, or raise --lock-timeout",
                )
            time.sleep(POLL_SECONDS)
        yield holder
    finally:
        store.unlock(stack, holder)
        store.close()


def break_lock(home: Path, stack: str, holder: str) -> LockInfo:
    """Remove the lock with id ``holder``; the lock that was removed."""
    store = LocalStore(home)
    try:
        info = store.lock_info(stack)
        if info is None or info.holder != holder:
            current = f"it is held by {describe(info)}" if info else "it is not locked"
            raise MlapplyError(f'stack "{stack}" has no lock {holder}: {current}')
        store.unlock(stack, holder)
        return info
    finally:
        store.close()
