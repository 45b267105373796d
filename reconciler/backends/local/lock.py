"""One apply per stack at a time: the lock in the local store.

The holder (a random id, pid, host, time) is recorded; a second apply waits
up to its timeout, then fails saying who holds the lock. A lock whose holder
is provably gone (``backends.holders``: this host, its process ended or its
pid reused) is taken over at once, with a note naming the old holder; one
that may be alive is only named, and `mlapply unlock ID` breaks it.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.backends.holders import holder_gone
from reconciler.backends.local.store import LocalStore, LockInfo
from reconciler.diagnostics import MlapplyError

POLL_SECONDS = 0.5


def describe_holder(info: LockInfo) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.acquired))
    return f"pid {info.pid} on {info.host} since {since} (lock id {info.holder})"


@contextmanager
def stack_lock(
    home: Path, stack: str, timeout: float, note: Callable[[str], None] = lambda _: None
) -> Iterator[str]:
    """Hold the stack's lock for the duration; yields the lock id."""
    holder = uuid.uuid4().hex[:12]
    store = LocalStore(home, create=True)
    deadline = time.monotonic() + timeout
    try:
        while True:
            held = store.try_lock(stack, holder, os.getpid(), socket.gethostname())
            if held is None:
                break
            if holder_gone(held.host, held.pid, held.acquired):
                if store.unlock(stack, held.holder):
                    note(
                        f'took over the lock of stack "{stack}" from {describe_holder(held)}: '
                        "that process is gone"
                    )
                continue
            if time.monotonic() >= deadline:
                raise MlapplyError(
                    f'stack "{stack}" is locked by {describe_holder(held)}',
                    "another apply is running: wait for it, or raise --lock-timeout; if "
                    f"none is, break the lock with `mlapply unlock {held.holder} PATH`",
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
            current = f"it is held by {describe_holder(info)}" if info else "it is not locked"
            raise MlapplyError(f'stack "{stack}" has no lock {holder}: {current}')
        store.unlock(stack, holder)
        return info
    finally:
        store.close()
