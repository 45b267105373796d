"""`mlapply serve` under hostile clients: slowloris, half-open connections past the
limit and past the file limit. The real server (aiohttp, the guard) on 127.0.0.1,
with raw sockets as the hostile clients and urllib as the healthy one."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from reconciler.serving.catalog import Catalog
from reconciler.serving.guard import ClientLimits, RefusalLog
from reconciler.serving.server import ModelServer, ServeOptions, serve

LIMITS = ClientLimits(max_connections=40, header_seconds=1.0, body_seconds=1.0, idle_seconds=1.0)
STACK = """
apiVersion: mlapply/v1
kind: Stack
metadata: {name: served}
---
apiVersion: mlapply/v1
kind: Model
metadata: {name: m}
"""


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def _server(limits: ClientLimits) -> Iterator[tuple[str, ModelServer, _Lines]]:
    """The real server in a thread of its own, serving an empty catalog."""
    ready = threading.Event()
    found: dict[str, object] = {}
    loop = asyncio.new_event_loop()

    def on_ready(server: ModelServer, url: str) -> None:
        found.update(server=server, url=url)
        ready.set()

    task = loop.create_task(
        serve(lambda: Catalog({}), "127.0.0.1", 0, ServeOptions(clients=limits), on_ready)
    )
    thread = threading.Thread(target=lambda: loop.run_until_complete(_quietly(task)))
    lines = _Lines()
    logger = logging.getLogger("mlapply.serve")
    logger.addHandler(lines)
    thread.start()
    try:
        assert ready.wait(30)
        server = found["server"]
        assert isinstance(server, ModelServer)
        yield str(found["url"]), server, lines
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(30)
        loop.close()
        logger.removeHandler(lines)


async def _quietly(task: asyncio.Task[None]) -> None:
    with suppress(asyncio.CancelledError):
        await task


def _healthy(url: str, timeout: float = 5.0) -> float:
    """Seconds a healthy client waited for its answer (a 404 JSON: nothing is deployed)."""
    started = time.monotonic()
    try:
        urllib.request.urlopen(f"{url}/v1/models/m", timeout=timeout)
    except urllib.error.HTTPError as error:
        assert error.code == 404 and "not deployed" in json.loads(error.read())["error"]
    return time.monotonic() - started


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _closed_by_server(sock: socket.socket) -> bytes:
    """What the server sent before it closed the connection (b"" if nothing)."""
    sock.settimeout(5)
    received = b""
    with suppress(ConnectionResetError):
        while chunk := sock.recv(4096):
            received += chunk
    return received


@pytest.mark.slow
def test_slow_and_idle_clients_past_the_limit_do_not_starve_a_healthy_one() -> None:
    with _server(LIMITS) as (url, server, lines):
        slow = [_connect(url) for _ in range(30)]
        for sock in slow:
            sock.sendall(b"GET /v1/models/m HTTP/1.1\r\nHost: localhost\r\n")
        idle = [_connect(url) for _ in range(100)]
        stop = threading.Event()

        def trickle() -> None:  # a header line now and then, never the blank line
            while not stop.wait(0.2):
                for sock in slow:
                    with suppress(OSError):
                        sock.sendall(b"X-Slow: 1\r\n")

        trickler = threading.Thread(target=trickle)
        trickler.start()
        try:
            time.sleep(0.5)
            waits = [_healthy(url) for _ in range(40)]
            assert max(waits) < 1.0, waits
            totals = server.refusals.totals
            assert totals.get("limit", 0) + totals.get("evicted", 0) >= 90  # 130 tried, 40 fit
            time.sleep(LIMITS.header_seconds * 2)
            answers = [_closed_by_server(sock) for sock in slow]
            assert all(a == b"" or a.startswith(b"HTTP/1.1 408") for a in answers), answers
            assert any(a.startswith(b"HTTP/1.1 408") for a in answers)
            for sock in idle:  # evicted or past the header deadline; a timeout if still open
                _closed_by_server(sock)
        finally:
            stop.set()
            trickler.join()
            for sock in slow + idle:
                sock.close()
        refusals = [line for line in lines.lines if re.search(r"\(\d+( in the .*)?\)$", line)]
        # 130 hostile connections, a few lines: each kind once, then a count once a while.
        assert 1 <= len(refusals) <= 6, refusals
        assert any("to make room (limit 40)" in line for line in refusals), refusals


def test_an_idle_keep_alive_connection_is_closed_after_its_deadline() -> None:
    with _server(LIMITS) as (url, _, lines):
        sock = _connect(url)
        sock.sendall(b"GET /v1/models/m HTTP/1.1\r\nHost: localhost\r\n\r\n")
        started = time.monotonic()
        answer = _closed_by_server(sock)
        closed_after = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 404"), answer
        assert LIMITS.idle_seconds <= closed_after < LIMITS.idle_seconds + 2, closed_after
        assert not any("connections" in line for line in lines.lines)  # not a refusal


def test_a_client_that_sends_nothing_gets_408_after_the_header_deadline() -> None:
    with _server(LIMITS) as (url, server, _):
        sock = _connect(url)
        started = time.monotonic()
        assert _closed_by_server(sock).startswith(b"HTTP/1.1 408")
        assert LIMITS.header_seconds <= time.monotonic() - started < LIMITS.header_seconds + 2
        assert server.refusals.totals == {"header": 1}


def test_busy_everywhere_refuses_the_newcomer_with_503() -> None:
    limits = ClientLimits(max_connections=3, header_seconds=30, idle_seconds=30)
    with _server(limits) as (url, server, _):
        held = [_connect(url) for _ in range(3)]
        # Fresh connections are not evicted (a healthy client is about to send):
        newcomer = _connect(url)
        assert _closed_by_server(newcomer).startswith(b"HTTP/1.1 503")
        assert server.refusals.totals == {"limit": 1}
        for sock in held:
            sock.close()


def test_refusals_are_logged_once_a_while_with_a_count() -> None:
    now = [0.0]
    lines = _Lines()
    logger = logging.getLogger("test.refusals")
    logger.addHandler(lines)
    refusals = RefusalLog(logger, every=10, clock=lambda: now[0])
    for step in range(250):
        now[0] = step * 0.1  # 25 s of refusals, ten a second
        refusals.note("header", "closed slow connections")
    refusals.flush(everything=True)
    logger.removeHandler(lines)
    assert lines.lines == [
        "closed slow connections (1)",
        "closed slow connections (100 in the last 10 s)",
        "closed slow connections (100 in the last 10 s)",
        "closed slow connections (49 in the last 5 s)",
    ]
    assert refusals.totals == {"header": 250}


def _limit_under(soft: int, hard: int) -> str:
    """file_budget() and the file limit after it, in a process started with these."""
    code = (
        "import resource\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))\n"
        "from reconciler.serving.guard import file_budget\n"
        "print(*file_budget(), resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_connection_limit_leaves_headroom_below_the_file_limit() -> None:
    assert _limit_under(256, 256) == "192 16 (256, 256)"
    assert _limit_under(256, 1024) == "768 64 (1024, 1024)"  # the soft limit raised first
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard >= 20_000:
        assert _limit_under(1024, 20_000) == "10000 64 (20000, 20000)"  # a bound of its own


@pytest.mark.skipif(
    resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1024, reason="needs 1024 files here"
)
@pytest.mark.slow
def test_more_half_open_connections_than_files_and_the_server_still_answers(
    tmp_path: Path,
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "stack.yaml").write_text(STACK.lstrip())

    small_file_limit = (
        "import resource, runpy, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))\n"
        "sys.argv = ['mlapply', *sys.argv[1:]]\n"
        "runpy.run_module('reconciler', run_name='__main__')"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", small_file_limit, "serve", str(tmp_path / "m"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().split(" on ")[1].split()[0]
    half_open = []
    try:
        for _ in range(400):  # more than the server's 256 files
            with suppress(OSError):  # the kernel's accept queue may be full too
                half_open.append(_connect(url))
        assert len(half_open) > 256
        time.sleep(1.0)  # the flood's connections have waited long enough to make room
        assert max(_healthy(url) for _ in range(20)) < 2.0
    finally:
        for sock in half_open:
            sock.close()
        process.terminate()
        _, errors = process.communicate(timeout=30)
    assert "Too many open files" not in errors, errors[-2000:]
    assert "Traceback" not in errors, errors[-2000:]
    refusals = [line for line in errors.splitlines() if re.search(r"\(\d+( in the .*)?\)$", line)]
    assert 1 <= len(refusals) <= 6, refusals
    assert "at most 192 connections at once" in errors


def test_a_web_page_can_neither_rebind_a_name_to_it_nor_post_it_a_form() -> None:
    """DNS rebinding: a Host that is a name other than localhost is refused; a body
    a page can post without a preflight (a form, text/plain, none) is refused too."""
    with _server(LIMITS) as (url, _, _):
        port = url.rsplit(":", 1)[1]

        def call(host: str, kind: str | None) -> tuple[int, str]:
            headers = {"Host": host, **({"Content-Type": kind} if kind else {})}
            request = urllib.request.Request(
                f"{url}/v1/models/m:predict", b'{"instances": [1]}', headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as refused:
                return refused.code, json.loads(refused.read())["error"]

        status, said = call(f"attacker.example:{port}", "application/json")
        assert status == 403 and "--allow-host" in said, said
        for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            status, said = call(f"127.0.0.1:{port}", kind)
            assert status == 415 and "Content-Type: application/json" in said, (kind, said)
        # urllib gives a body a form type of its own: a raw request sends none at all.
        with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as raw:
            raw.sendall(
                b"POST /v1/models/m:predict HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
            )
            assert raw.recv(200).startswith(b"HTTP/1.1 415 "), "no Content-Type was taken"
        # What a client sends: JSON as JSON, reaching the model's route (not deployed).
        assert call(f"localhost:{port}", "application/json; charset=utf-8")[0] == 404
        assert call(f"[::1]:{port}", "application/json")[0] == 404
