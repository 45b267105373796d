"""Bounds on `mlapply serve`'s clients, so slow or idle ones cannot starve healthy ones.

aiohttp bounds a body's size but not how long a client may take to send its
headers, and keeps an idle connection open; a few hundred slowloris or
half-open connections then hold every file descriptor and the server stops
answering. The guard wraps aiohttp's protocol factory, so it sees each
connection open, receive and close, and the app's middleware tells it while a
request is being handled. It enforces:

- a **connection limit** with headroom below the file limit (raised to its
  hard limit first, as Go's runtime does since 1.19); when full, the
  connection that has waited longest without a request in handling makes
  room, and only when every connection is busy is the newcomer refused (503);
- a **header deadline**: a connection that has not sent a complete request's
  headers within ``header_seconds`` of opening or of its first byte is
  answered 408 and closed;
- a **keep-alive deadline**: a connection idle for ``idle_seconds`` after an
  answer is closed;
- the **body deadline** is the handler's (``ClientLimits.body_seconds``).

Each kind of refusal is logged at once the first time, then at most once per
``RefusalLog.every`` seconds with a count, never once per connection.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import resource
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiohttp import web

FILE_HEADROOM = 256  # descriptors left for SavedModels, the store, threads and logs
MOST_CONNECTIONS = 10_000
LISTEN_BACKLOG = 100  # asyncio's default
LISTEN_QUEUE = 1024  # connections the kernel holds unaccepted (they hold no file of ours)
MOST_FILES = 1 << 20  # what to raise an unlimited hard limit's soft limit to
_OUT_OF_FILES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_BUSY_BODY = b'{"error": "the server is at its connection limit; try again"}'
_BUSY_ANSWER = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (len(_BUSY_BODY), _BUSY_BODY)
)


@dataclass(frozen=True)
class ClientLimits:
    max_connections: int | None = None  # None: from the file limit (file_budget)
    header_seconds: float = 10.0
    body_seconds: float = 30.0
    idle_seconds: float = 15.0


class FileBudget(NamedTuple):
    connections: int  # at most this many at once
    backlog: int  # how many asyncio accepts in one go (its listen backlog)


def file_budget() -> FileBudget:
    """How many connections this process can hold: its file limit, raised to the
    hard limit when it can be, less headroom for everything else it opens. A
    connection refused or evicted holds its file until the next turn of the loop,
    and asyncio accepts up to the backlog at once: a burst can hold the limit plus
    twice the backlog, so the backlog is a quarter of the headroom."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MOST_FILES if hard == resource.RLIM_INFINITY else min(hard, MOST_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        soft = MOST_FILES
    headroom = min(FILE_HEADROOM, soft // 4)
    return FileBudget(
        max(1, min(MOST_CONNECTIONS, soft - headroom)), max(1, min(LISTEN_BACKLOG, headroom // 4))
    )


def deepen_listen_queue(listener: asyncio.Server) -> None:
    """Give the kernel a deep queue of unaccepted connections again after asyncio
    set it to the (small) number it accepts in one go: with a shallow queue a
    client's SYN is dropped under a flood and it waits a second to retry."""
    for listening in listener.sockets:
        with socket.fromfd(listening.fileno(), listening.family, listening.type) as same:
            same.listen(LISTEN_QUEUE)  # a duplicate descriptor of the same socket


class RefusalLog:
    """Refusals counted per kind: the first of a kind is logged at once, the rest
    at most once per ``every`` seconds as a count (``flush`` writes what is due)."""

    def __init__(
        self,
        logger: logging.Logger,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self.every = every
        self._clock = clock
        self._pending: dict[str, tuple[str, int]] = {}  # kind -> (message, count)
        self._logged: dict[str, float] = {}  # kind -> when last logged
        self.totals: dict[str, int] = {}

    def note(self, kind: str, message: str) -> None:
        self.totals[kind] = self.totals.get(kind, 0) + 1
        _, count = self._pending.get(kind, (message, 0))
        self._pending[kind] = (message, count + 1)
        now = self._clock()
        if kind not in self._logged or now - self._logged[kind] >= self.every:
            self._write(kind, now)

    def flush(self, everything: bool = False) -> None:
        now = self._clock()
        for kind in list(self._pending):
            if everything or now - self._logged.get(kind, 0.0) >= self.every:
                self._write(kind, now)

    def _write(self, kind: str, now: float) -> None:
        message, count = self._pending.pop(kind)
        last = self._logged.get(kind)
        self._logged[kind] = now
        when = "" if last is None else f" in the last {now - last:.0f} s"
        self._logger.warning("%s (%d%s)", message, count, when)


class _Connection(asyncio.Protocol):
    """aiohttp's protocol for one connection, with what the guard needs to know."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.busy = 0  # requests in handling
        self.requests = 0  # requests handled so far
        self.waiting_since = time.monotonic()  # opened, or last answered
        self.partial_since: float | None = None  # first byte of a request not yet handled

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.busy and self.partial_since is None:
            self.partial_since = time.monotonic()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.closed(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class _Refused(asyncio.Protocol):
    """A connection over the limit while every other is busy: 503, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_BUSY_ANSWER)
        transport.close()


class ConnectionGuard:
    """Tracks the server's connections and enforces ``ClientLimits`` on them."""

    def __init__(self, limits: ClientLimits, refusals: RefusalLog) -> None:
        self.limits = limits
        budget = file_budget()
        self.limit = min(limits.max_connections or budget.connections, budget.connections)
        self.backlog = budget.backlog
        self.refusals = refusals
        self._open: dict[asyncio.Protocol, _Connection] = {}  # aiohttp's protocol -> ours
        # Only a connection that has waited this long without a request is evicted:
        # a healthy client that has just connected is about to send one.
        self._patience = min(0.5, limits.header_seconds / 4)

    def protocols(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """The protocol factory to listen with: ``factory``'s protocols, guarded."""
        return functools.partial(self._accept, factory)

    def _accept(self, factory: Callable[[], asyncio.Protocol]) -> asyncio.Protocol:
        if len(self._open) >= self.limit and not self._evict_one():
            self.refusals.note(
                "limit",
                f"refused connections: all {self.limit} are in use, none idle long enough to close",
            )
            return _Refused()
        inner = factory()
        connection = _Connection(self, inner)
        self._open[inner] = connection
        return connection

    def closed(self, connection: _Connection) -> None:
        self._open.pop(connection.inner, None)

    def _evict_one(self) -> bool:
        now = time.monotonic()
        waiting = [
            c
            for c in self._open.values()
            if not c.busy and c.transport is not None and now - c.waiting_since >= self._patience
        ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c.partial_since or c.waiting_since)
        self._end(oldest, answer=oldest.partial_since is not None)
        self._open.pop(oldest.inner, None)  # its slot is free now; connection_lost follows
        self.refusals.note(
            "evicted",
            f"closed connections waiting without a request to make room (limit {self.limit})",
        )
        return True

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        connection = self._open.get(request.protocol)
        if connection is None:
            return await handler(request)
        connection.busy += 1
        connection.requests += 1
        connection.partial_since = None
        try:
            return await handler(request)
        finally:
            connection.busy -= 1
            connection.waiting_since = time.monotonic()

    def sweep(self) -> None:
        """End the connections past their deadlines; write the refusals that are due."""
        now = time.monotonic()
        header, idle = self.limits.header_seconds, self.limits.idle_seconds
        for connection in list(self._open.values()):
            if connection.busy or connection.transport is None or connection.transport.is_closing():
                continue
            started = connection.partial_since
            if started is None and connection.requests == 0:
                started = connection.waiting_since  # opened and sent nothing yet
            if started is not None and now - started > header:
                self._end(connection, answer=True)
                self.refusals.note(
                    "header",
                    f"closed connections that sent no complete request headers within {header:g} s",
                )
            elif started is None and now - connection.waiting_since > idle:
                connection.transport.close()  # keep-alive over (its last answer flushed first)
        self.refusals.flush()

    async def watch(self) -> None:
        tick = max(0.05, min(self.limits.header_seconds, self.limits.idle_seconds) / 4)
        while True:
            await asyncio.sleep(tick)
            self.sweep()

    def exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The event loop's handler: an accept out of file descriptors is a refusal
        counted once a while, not a traceback per attempt."""
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in _OUT_OF_FILES:
            self.refusals.note("files", f"could not accept connections: {error.strerror}")
            return
        loop.default_exception_handler(context)

    @staticmethod
    def _end(connection: _Connection, *, answer: bool) -> None:
        transport = connection.transport
        if transport is None or transport.is_closing():
            return
        if answer:
            transport.write(_TIMEOUT_ANSWER)
            transport.close()
        else:
            transport.abort()
