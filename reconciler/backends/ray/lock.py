"""A stack's apply lock, kept in the cluster as a Ray job of its own.

The Jobs API refuses a second job with a submission id it has (Ray's
``JobSubmissionClient.submit_job``: "Job with submission_id ... already
exists"), so submitting ``mlapply-lock-STACK`` is an atomic create that
every client of the cluster sees. The job runs ``true`` with no CPUs and its
metadata names the holder (an id, pid, host, user, time); releasing deletes
it once it has ended. Ray may write a lock deleted just after it ended back as a
ghost (``removal``); a ghost holds nothing and the next apply removes it, so a
release does not wait for one (purge does: a destroyed stack leaves nothing on
the cluster). A lock whose holder is provably gone
(``backends.holders``) is taken over with a note, as on the other backends.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from reconciler.backends.holders import holder_gone
from reconciler.backends.ray import removal
from reconciler.diagnostics import MlapplyError

POLL_SECONDS = 1.0
ENDED_WITHIN = 60.0
LOCK_LABEL = "mlapply-lock"


def lock_id(stack: str) -> str:
    return f"mlapply-lock-{stack}"


class JobLock:
    """The lock of each stack on one cluster (``client``: a JobSubmissionClient)."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client

    def holder(self, stack: str) -> dict[str, str] | None:
        client, name = self._client(), lock_id(stack)
        try:
            info = client.get_job_info(name)
        except RuntimeError:
            return None  # not found: nobody holds it
        if removal.is_ghost(info):
            removal.clear_ghost(client, name)
            return None
        return dict(info.metadata)

    @contextmanager
    def held(
        self, stack: str, timeout: float, note: Callable[[str], None] = lambda _: None
    ) -> Iterator[str]:
        holder = uuid.uuid4().hex[:12]
        info = {
            LOCK_LABEL: stack,
            "id": holder,
            "pid": str(os.getpid()),
            "host": socket.gethostname(),
            "user": getpass.getuser(),
            "time": f"{time.time():.3f}",
        }
        deadline = time.monotonic() + timeout
        while True:
            if self._create(stack, info):
                break
            found = self.holder(stack)
            if found is None:
                continue  # released between the two calls
            if found.get("id") == holder:
                break  # ours: the answer to our submission was lost
            gone = holder_gone(
                found.get("host", ""), int(found.get("pid") or 0), float(found.get("time") or 0)
            )
            if gone:
                self._remove(stack)
                note(
                    f'took over the lock of stack "{stack}" from {describe(found)}: that '
                    "process is gone"
                )
                continue
            if time.monotonic() >= deadline:
                raise MlapplyError(
                    f'stack "{stack}" is locked by {describe(found)}',
                    "another apply is running: wait for it, or raise --lock-timeout; if "
                    "none is, break the lock with `mlapply unlock ID PATH`",
                )
            time.sleep(POLL_SECONDS)
        try:
            yield holder
        finally:
            self._remove(stack)

    def unlock(self, stack: str, wanted: str) -> str:
        found = self.holder(stack)
        if found is None or found.get("id") != wanted:
            current = f"it is held by {describe(found)}" if found else "it is not locked"
            raise MlapplyError(f'stack "{stack}" has no lock {wanted}: {current}')
        self._remove(stack)
        return describe(found)

    def _create(self, stack: str, info: dict[str, str]) -> bool:
        try:
            self._client().submit_job(
                entrypoint="true",
                submission_id=lock_id(stack),
                metadata=info,
                entrypoint_num_cpus=0,
            )
        except RuntimeError as refused:
            if "already exists" in str(refused):
                return False
            raise
        return True

    def _remove(self, stack: str) -> None:
        """Delete the lock's job once it has ended (the Jobs API deletes only ended jobs)."""
        client, name = self._client(), lock_id(stack)
        deadline = time.monotonic() + ENDED_WITHIN
        while True:
            try:
                status = client.get_job_status(name)
            except RuntimeError:
                return  # gone already
            if status.is_terminal():
                break
            if time.monotonic() >= deadline:
                client.stop_job(name)
                deadline = time.monotonic() + ENDED_WITHIN
            time.sleep(0.2)
        removal.delete(client, name)


def describe(info: dict[str, str]) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info.get("time") or 0)))
    return (
        f"{info.get('user')} (pid {info.get('pid')} on {info.get('host')}) since {since} "
        f"(lock id {info.get('id')})"
    )
