"""`mlapply console`: a web page that watches a stack, as the cloud console did.

An aiohttp application (the project's HTTP server library, as for `serve`)
that answers a static page and the JSON it reads:

- ``GET /api/stack``: backend, converged or not (a read-only plan: what would
  change and why), the last apply;
- ``GET /api/jobs``: jobs with state, runtime, time, CPU and memory now or
  mean and peak, trials, links (TensorBoard, the cloud's console);
- ``GET /api/jobs/{name}/usage?trial=&since=``: CPU and memory per task over
  time (at most ``MAX_POINTS`` a task, after ``since``);
- ``GET /api/jobs/{name}/log?trial=&task=chief-0&lines=200``: a log's tail;
- ``GET /api/models``: models, versions, the default, the figures each was
  deployed with, and versions held by their gate.

It reads only (through a :class:`ConsoleSource`), sends no secrets, and its
page loads nothing from elsewhere: the charting library (uPlot) is shipped in
``static/vendor``. Every answer carries a Content-Security-Policy that allows
this origin only.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from reconciler.diagnostics import MlapplyError
from reconciler.hostcheck import Hosts

STATIC = Path(__file__).parent / "static"
_TASK = re.compile(r"^[a-z]+-[0-9]{1,4}$")
_TRIAL = re.compile(r"^[0-9]{1,6}$")
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ConsoleSource(Protocol):
    """What the console reads; each call may block (it runs on a worker thread).
    An unknown job or trial raises LookupError."""

    def stack(self) -> dict[str, Any]: ...

    def jobs(self) -> dict[str, Any]: ...

    def usage(self, job: str, trial: str | None, since: float | None) -> dict[str, Any]: ...

    def log(self, job: str, trial: str | None, task: str, lines: int) -> dict[str, Any]: ...

    def models(self) -> dict[str, Any]: ...


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.update(_HEADERS)
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def make_app(source: ConsoleSource, hosts: Hosts) -> web.Application:
    refuse = hosts.middleware(
        lambda _, status, why: web.json_response({"error": why}, status=status)
    )
    app = web.Application(middlewares=[_headers, refuse], client_max_size=4096)

    async def page(_: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    def answer(read: Callable[[web.Request], dict[str, Any]]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                body = await asyncio.to_thread(read, request)
            except LookupError as missing:
                return web.json_response({"error": str(missing)}, status=404)
            except ValueError as bad:
                return web.json_response({"error": str(bad)}, status=400)
            except MlapplyError as refused:  # what the backend cannot show, and why
                return web.json_response({"error": refused.message, "hint": refused.hint})
            return web.json_response(body)

        return handle

    app.router.add_get("/", page)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    app.router.add_get("/api/stack", answer(lambda _: source.stack()))
    app.router.add_get("/api/jobs", answer(lambda _: source.jobs()))
    app.router.add_get(
        "/api/jobs/{name}/usage",
        answer(lambda r: source.usage(r.match_info["name"], _trial(r), _number(r, "since", None))),
    )
    app.router.add_get(
        "/api/jobs/{name}/log",
        answer(
            lambda r: source.log(
                r.match_info["name"], _trial(r), _task(r), int(_number(r, "lines", 200) or 200)
            )
        ),
    )
    app.router.add_get("/api/models", answer(lambda _: source.models()))
    return app


def _trial(request: web.Request) -> str | None:
    trial = request.query.get("trial") or None
    if trial is not None and not _TRIAL.match(trial):
        raise ValueError(f"trial {trial!r} is not a trial id")
    return trial


def _task(request: web.Request) -> str:
    task = request.query.get("task", "chief-0")
    if not _TASK.match(task):
        raise ValueError(f"task {task!r} is not a task (chief-0, worker-1 ...)")
    return task


def _number(request: web.Request, key: str, default: float | None) -> float | None:
    text = request.query.get(key)
    if text is None or text == "":
        return default
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"{key} must be a number, not {text!r}")
    return number


async def run_console(
    source: ConsoleSource,
    host: str,
    port: int,
    on_ready: Callable[[str], None],
    allowed_hosts: tuple[str, ...] = (),
) -> None:
    """Serve until cancelled; ``on_ready`` gets the URL once it listens."""
    runner = web.AppRunner(make_app(source, Hosts(host, allowed_hosts)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = next(iter(runner.addresses), (host, port))[1]  # the port chosen for port 0
    shown = f"[{host}]" if ":" in host else host
    on_ready(f"http://{shown}:{bound}")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
