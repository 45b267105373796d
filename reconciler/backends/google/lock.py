"""A stack's apply lock as an object in the staging bucket.

Created with ``ifGenerationMatch=0``, so only one apply can create it; it
names its holder (an id, the pid, host and user, the time) and is deleted at
its generation when the apply ends. A lock whose holder is provably gone
(``backends.holders``: this host, its process ended) is taken over with a
note; ``mlapply unlock ID`` removes one held from elsewhere.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from reconciler.backends.google.errors import PreconditionFailed
from reconciler.backends.google.storage import Bucket
from reconciler.backends.holders import holder_gone
from reconciler.diagnostics import MlapplyError

POLL_SECONDS = 2.0


@contextmanager
def bucket_lock(
    bucket: Bucket,
    name: str,
    stack: str,
    timeout: float,
    note: Callable[[str], None] = lambda _: None,
) -> Iterator[str]:
    """Hold the lock object ``name``; waits ``timeout`` seconds, then names the holder."""
    holder = uuid.uuid4().hex[:12]
    info = {
        "id": holder,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "user": getpass.getuser(),
        "time": time.time(),
    }
    deadline = time.monotonic() + timeout
    while True:
        try:
            created = bucket.upload(name, data=json.dumps(info).encode(), if_generation_match=0)
            break
        except PreconditionFailed:
            present = bucket.get(name)
            data = bucket.read(name) if present else None
            found = json.loads(data) if present and data else {}
            if present is not None and found.get("id") == holder:
                created = present  # ours: the answer to our create was lost
                break
            gone = holder_gone(
                str(found.get("host")), int(found.get("pid") or 0), float(found.get("time") or 0)
            )
            if present and gone:
                held = lock_holder(bucket, name)
                try:
                    deleted = bucket.delete(name, generation=str(present.get("generation")))
                except PreconditionFailed:
                    continue  # someone else took it over first
                if deleted:
                    note(f'took over the lock of stack "{stack}" from {held}: that process is gone')
                continue
            if time.monotonic() >= deadline:
                raise MlapplyError(
                    f'stack "{stack}" is locked by {lock_holder(bucket, name)}',
                    "another apply is running: wait for it, or raise --lock-timeout; if "
                    "none is, break the lock with `mlapply unlock ID PATH`",
                ) from None
            time.sleep(POLL_SECONDS)
    try:
        yield holder
    finally:
        bucket.delete(name, generation=str(created.get("generation")))


def lock_holder(bucket: Bucket, name: str) -> str:
    data = bucket.read(name)
    if data is None:
        return "nobody any more"
    info = json.loads(data)
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("time", 0)))
    return (
        f"{info.get('user')} (pid {info.get('pid')} on {info.get('host')}) since {since} "
        f"(lock id {info.get('id')})"
    )


def break_lock(bucket: Bucket, name: str, stack: str, lock_id: str) -> str:
    """Remove the lock ``lock_id``; describes the holder it had."""
    present = bucket.get(name)
    data = bucket.read(name) if present else None
    info = json.loads(data) if data else None
    if info is None or info.get("id") != lock_id:
        current = f"it is held by {lock_holder(bucket, name)}" if info else "it is not locked"
        raise MlapplyError(f'stack "{stack}" has no lock {lock_id}: {current}')
    held = lock_holder(bucket, name)
    bucket.delete(name, generation=str(present.get("generation")) if present else None)
    return held
