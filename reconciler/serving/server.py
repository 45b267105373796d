"""`mlapply serve`: an HTTP server for a stack's deployed model versions.

Built on aiohttp: one mature, widely used package that is both the HTTP
server and the event loop integration, with a request size bound built in;
an async server is what lets concurrent requests meet in one batch
(:mod:`reconciler.serving.batcher`) while TensorFlow runs on worker threads
(a lone client's short calls run on the loop's own thread, saving two thread
wake-ups per request).

It answers the paths real clients send:

- ML Engine: ``POST /v1/projects/P/models/M[/versions/V]:predict`` (what
  google-api-python-client's ``projects().predict()`` sends) and
  ``GET /v1/projects/P/models/M[/versions/V]``. Errors are Google API errors,
  ``{"error": {"code", "message", "status"}}``, which the client raises.
- TF Serving REST: ``POST /v1/models/M[/versions/V]:predict`` with
  ``instances`` (rows) or ``inputs`` (columns), and ``GET /v1/models/M[/versions/V]``
  (status). Errors are ``{"error": "message"}``.

Versions load on their first request. The deployed state is read again every
``refresh`` seconds (and at once when a request names something unknown);
requests that name no version go to the default, or by weight to the versions
of a rollout's traffic split. When those change, the versions answering keep
answering until every new one has loaded, so a switch under load fails no
request. Each answer carries the version that gave it in
``X-Mlapply-Model-Version``.

Each version's requests, failures and latency are counted
(:mod:`reconciler.serving.counting`): on ``GET /metrics`` for Prometheus, and
every ``keep_seconds`` into the store, where a rollout's gates read them.

Clients are bounded (:mod:`reconciler.serving.guard`): connections, how long
headers, a body and an idle keep-alive may take.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from reconciler.backends.served import Served
from reconciler.diagnostics import MlapplyError
from reconciler.hostcheck import Hosts
from reconciler.serving.batcher import Batcher
from reconciler.serving.catalog import Catalog, DeployedModel
from reconciler.serving.counting import CONTENT_TYPE, Counters
from reconciler.serving.guard import (
    ClientLimits,
    ConnectionGuard,
    RefusalLog,
    deepen_listen_queue,
)
from reconciler.serving.routes import Dialect, dialect_of, error_body, json_body
from reconciler.serving.routes import HttpError as _HttpError
from reconciler.serving.routes import Route as _Route
from reconciler.serving.routes import parse as _parse
from reconciler.serving.signature import (
    InstanceError,
    ServingSignature,
    answer,
    request_columns,
)

log = logging.getLogger("mlapply.serve")

RELOAD_AFTER = 30.0  # seconds before a SavedModel that failed to load is tried again


@dataclass(frozen=True)
class ServeOptions:
    max_batch: int = 256
    max_wait: float = 0.002
    max_request_bytes: int = 1_500_000  # ML Engine's online prediction limit
    refresh: float = 1.0
    threads: int = 4
    clients: ClientLimits = field(default_factory=ClientLimits)
    allowed_hosts: tuple[str, ...] = ()
    """Host names answered beside addresses, localhost and the one listened on
    (hostcheck.py)."""
    keep_seconds: float = 2.0
    """How often what each version served is handed to the store."""


class ModelServer:
    """The state behind the HTTP app: the catalog, loaded versions, default routing."""

    def __init__(self, read_catalog: Callable[[], Catalog], options: ServeOptions) -> None:
        self._read_catalog = read_catalog
        self.options = options
        self.catalog = Catalog({})
        self._executor = ThreadPoolExecutor(options.threads, thread_name_prefix="mlapply-serve")
        self._loading: dict[str, asyncio.Task[Batcher]] = {}  # SavedModel folder -> load
        # model -> (version, folder, weight) answering requests that name no version
        self._routes: dict[str, tuple[tuple[str, str, int], ...]] = {}
        self.counters = Counters()
        self._last_refresh = 0.0
        self._failed: dict[str, float] = {}  # SavedModel folder -> when its load failed
        self.refusals = RefusalLog(log)

    # Deployed state.

    async def refresh(self) -> None:
        loop = asyncio.get_running_loop()
        catalog = await loop.run_in_executor(self._executor, self._read_catalog)
        self._last_refresh = time.monotonic()
        self.catalog = catalog
        for model in catalog.models.values():
            self._follow_routes(model)
        for name in set(self._routes) - set(catalog.models):
            del self._routes[name]
        wanted = {uri for m in catalog.models.values() for uri in m.versions.values()}
        wanted |= {uri for routes in self._routes.values() for _, uri, _ in routes}
        for uri in set(self._loading) - wanted:
            task = self._loading.pop(uri)
            if task.done() and not task.cancelled() and task.exception() is None:
                await task.result().close()

    def _follow_routes(self, model: DeployedModel) -> None:
        target = model.routes()
        if not target:
            self._routes.pop(model.name, None)
            return
        current = self._routes.get(model.name)
        if current == target:
            return
        if current is None or not all(self._is_loaded(uri) for _, uri, _ in current):
            self._routes[model.name] = target
            return
        # Keep the loaded versions answering until every new one has loaded. In a split
        # (a rollout), one that failed to load takes its share too: its 503s are what
        # its gates count, rather than a rollout held still, unseen.
        waiting = [self._load(uri) for _, uri, _ in target if not self._is_loaded(uri)]
        if not waiting:
            self._routes[model.name] = target
            return

        def switch(_: object) -> None:
            latest = self.catalog.models.get(model.name)
            if len(target) > 1:
                settled = all(task.done() for task in waiting)
            else:
                settled = all(self._is_loaded(uri) for _, uri, _ in target)
            if settled and latest is not None and latest.routes() == target:
                self._routes[model.name] = target

        for task in waiting:
            task.add_done_callback(switch)

    async def refresh_soon(self) -> None:
        if time.monotonic() - self._last_refresh > 0.05:
            await self.refresh()

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.refresh)
            try:
                await self.refresh()
            except Exception:  # a busy or half-written store: try again next time
                log.exception("reading the deployed versions failed")

    # Loading.

    def _is_loaded(self, uri: str) -> bool:
        task = self._loading.get(uri)
        return task is not None and task.done() and not task.cancelled() and not task.exception()

    def _load(self, uri: str) -> asyncio.Task[Batcher]:
        task = self._loading.get(uri)
        failed = task is not None and task.done() and (task.cancelled() or task.exception())
        if task is None or (failed and time.monotonic() - self._failed.get(uri, 0) > RELOAD_AFTER):
            task = asyncio.create_task(self._load_batcher(uri))
            task.add_done_callback(lambda done: self._note_failure(uri, done))
            self._loading[uri] = task
        return task

    def _note_failure(self, uri: str, task: asyncio.Task[Batcher]) -> None:
        if task.cancelled() or task.exception() is not None:
            self._failed[uri] = time.monotonic()

    def load_error(self, uri: str) -> str | None:
        """Why the SavedModel at ``uri`` did not load, if it did not."""
        task = self._loading.get(uri)
        if task is None or not task.done() or task.cancelled():
            return None
        error = task.exception()
        return str(error) if error else None

    async def _load_batcher(self, uri: str) -> Batcher:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        signature = await loop.run_in_executor(self._executor, ServingSignature.load, Path(uri))
        log.info("loaded %s in %.1f s", uri, time.monotonic() - started)
        if signature.note:
            log.info("%s: %s", uri, signature.note)
        return Batcher(
            signature,
            self._executor,
            max_batch=self.options.max_batch,
            max_wait=self.options.max_wait,
            on_batch=_log_batch,
        )

    async def resolve(self, route: _Route) -> tuple[DeployedModel, str, str]:
        """(model, version name, SavedModel folder) for a route; 404 if unknown."""
        for attempt in range(2):
            model = self.catalog.find(route.model)
            if model is not None:
                if route.version is None and model.name in self._routes:
                    version, uri = _pick(self._routes[model.name])
                    return model, version, uri
                if route.version is not None and route.version in model.versions:
                    return model, route.version, model.versions[route.version]
            if attempt == 0:
                await self.refresh_soon()
        if model is None:
            raise _HttpError(
                404, f"model {route.model!r} is not deployed (deployed: {self.catalog.describe()})"
            )
        if route.version is None:
            raise _HttpError(404, f"model {model.name!r} has no default version")
        known = ", ".join(sorted(model.versions)) or "none"
        raise _HttpError(
            404, f"model {model.name!r} has no version {route.version!r} (versions: {known})"
        )

    async def batcher(self, uri: str) -> Batcher:
        try:
            return await self._load(uri)
        except MlapplyError as exc:
            raise _HttpError(503, str(exc)) from exc

    def default_version(self, model: str) -> str | None:
        found = self.catalog.models.get(model)
        return found.default_version if found else None

    def traffic(self) -> dict[str, dict[str, int]]:
        """Percent by version of each model's requests that name none, as routed now."""
        return {
            model: {version: weight for version, _, weight in routes}
            for model, routes in self._routes.items()
        }

    async def keep_forever(
        self, keep: Callable[[list[tuple[str, str, float, Served]]], None]
    ) -> None:
        """Hand what each version served to ``keep`` every ``keep_seconds``."""
        while True:
            await asyncio.sleep(self.options.keep_seconds)
            await self.keep_now(keep)

    async def keep_now(self, keep: Callable[[list[tuple[str, str, float, Served]]], None]) -> None:
        rows = self.counters.unkept()
        if not rows:
            return
        at = time.time()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                self._executor,
                keep,
                [(model, version, at, served) for model, version, served in rows],
            )
        except Exception:  # a busy store: the figures stay on /metrics
            log.exception("keeping what the versions served failed")

    async def close(self) -> None:
        for task in self._loading.values():
            if task.done() and not task.cancelled() and task.exception() is None:
                await task.result().close()
            else:
                task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)


def make_app(server: ModelServer, guard: ConnectionGuard, hosts: Hosts) -> web.Application:
    refuse = hosts.middleware(
        lambda request, status, why: _error(dialect_of(request.path), status, why)
    )
    app = web.Application(
        client_max_size=server.options.max_request_bytes, middlewares=[guard.middleware, refuse]
    )
    app.router.add_get("/metrics", _metrics(server))
    app.router.add_route("*", "/{tail:.*}", _handler(server))
    return app


def _metrics(server: ModelServer) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics(request: web.Request) -> web.Response:
        text = server.counters.exposition(server.traffic())
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})

    return metrics


def _pick(routes: tuple[tuple[str, str, int], ...]) -> tuple[str, str]:
    """A version for one request, by the routes' weights."""
    if len(routes) == 1:
        return routes[0][0], routes[0][1]
    total = sum(weight for _, _, weight in routes)
    draw = random.random() * total  # noqa: S311 (a share of traffic, not a secret)
    for version, uri, weight in routes:
        draw -= weight
        if draw < 0:
            return version, uri
    return routes[-1][0], routes[-1][1]


def _handler(server: ModelServer) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        dialect = dialect_of(request.path)
        try:
            route = _parse(request.path)
            dialect = route.dialect
            if route.verb == "predict":
                if request.method != "POST":
                    raise _HttpError(405, f"{request.path} takes POST")
                return await _predict(server, route, request)
            if route.verb is not None or request.method != "GET":
                raise _HttpError(404, f"no such method: {request.method} {request.path}")
            return await _describe(server, route)
        except _HttpError as exc:
            response = _error(dialect, exc.status, exc.message, exc.version)
            if exc.close:  # answer now, then close: no lingering for a body not coming
                response.force_close()
                await response.prepare(request)
                await response.write_eof()
                request.protocol.force_close()
            return response
        except web.HTTPRequestEntityTooLarge:
            limit = server.options.max_request_bytes
            return _error(dialect, 413, f"the request body is over the {limit}-byte limit")
        except Exception as exc:  # the server keeps serving; the client learns why
            log.exception("prediction failed")
            return _error(dialect, 500, f"prediction failed: {exc}")

    return handle


async def _predict(server: ModelServer, route: _Route, request: web.Request) -> web.Response:
    json_body(request.headers.get("Content-Type"))
    model, version, uri = await server.resolve(route)
    tally = server.counters.tally(model.name, version)
    started = time.perf_counter()
    failed = True  # the version's fault (its model raised, or the server failed) unless said
    try:
        batcher = await server.batcher(uri)
        batcher.expect()
        try:
            body = await _body(server, request)
            columns_form, columns, count = _columns(batcher.signature, body)
        except BaseException:
            batcher.forget()
            raise
        try:
            outputs = await batcher.predict(columns, count)
        except Exception as exc:
            raise _HttpError(
                400, f"the model refused the request: {_first_line(exc)}", model_failed=True
            ) from exc
        failed = False
        return _json(200, answer(outputs, count, columns_form), version)
    except _HttpError as exc:
        # A malformed request is the client's: the model never saw it.
        failed = exc.status >= 500 or exc.model_failed
        exc.version = version
        raise
    finally:
        tally.add(time.perf_counter() - started, failed)


async def _body(server: ModelServer, request: web.Request) -> bytes:
    if request.content.is_eof():  # all of it came with the headers: nothing to wait for
        return await request.read()
    seconds = server.options.clients.body_seconds
    try:
        return await asyncio.wait_for(request.read(), seconds)
    except asyncio.TimeoutError:
        server.refusals.note(
            "body", f"answered 408 to requests whose body did not arrive within {seconds:g} s"
        )
        raise _HttpError(
            408, f"the request body did not arrive within {seconds:g} s", close=True
        ) from None


def _columns(signature: ServingSignature, body: bytes) -> tuple[bool, Any, int]:
    try:
        return request_columns(signature, body)
    except InstanceError as exc:
        raise _HttpError(400, str(exc)) from exc


async def _describe(server: ModelServer, route: _Route) -> web.Response:
    model, version, _ = await server.resolve(route)
    if route.dialect is Dialect.TF_SERVING:
        names = [route.version] if route.version else sorted(model.versions)
        status = []
        for name in names:
            error = server.load_error(model.versions.get(name, ""))
            status.append(
                {
                    "version": name,
                    "state": "END" if error else "AVAILABLE",
                    "status": {
                        "error_code": "UNKNOWN" if error else "OK",
                        "error_message": error or "",
                    },
                }
            )
        return _json(200, {"model_version_status": status}, version)
    base = f"projects/{route.project}/models/{model.name}"
    if route.version is None:
        body: dict[str, Any] = {
            "name": base,
            "defaultVersion": {"name": f"{base}/versions/{version}"},
        }
    else:
        body = {
            "name": f"{base}/versions/{version}",
            "state": "READY",
            "isDefault": server.default_version(model.name) == version,
        }
    return _json(200, body, version)


def _log_batch(requests: int, instances: int) -> None:
    log.debug("batch of %d requests, %d instances", requests, instances)


def _json(status: int, body: Any, version: str | None = None) -> web.Response:
    headers = {"X-Mlapply-Model-Version": version} if version else None
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


def _error(dialect: Dialect, status: int, message: str, version: str | None = None) -> web.Response:
    return _json(status, error_body(dialect, status, message), version)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


async def serve(
    read_catalog: Callable[[], Catalog],
    host: str,
    port: int,
    options: ServeOptions,
    on_ready: Callable[[ModelServer, str], None],
    keep: Callable[[list[tuple[str, str, float, Served]]], None] | None = None,
) -> None:
    """Run until cancelled; ``on_ready`` gets the server and its URL once it listens;
    ``keep`` is handed what each version served (by ``keep_seconds``)."""
    server = ModelServer(read_catalog, options)
    await server.refresh()
    loop = asyncio.get_running_loop()
    guard = ConnectionGuard(options.clients, server.refusals)
    hosts = Hosts(host, options.allowed_hosts)
    runner = web.AppRunner(make_app(server, guard, hosts), access_log=None)
    await runner.setup()
    assert runner.server is not None
    loop.set_exception_handler(guard.exception_handler)
    listener = await loop.create_server(
        guard.protocols(runner.server), host, port, reuse_address=True, backlog=guard.backlog
    )
    deepen_listen_queue(listener)
    bound = listener.sockets[0].getsockname()[1] if listener.sockets else port
    shown = f"[{host}]" if ":" in host else host
    log.info("at most %d connections at once", guard.limit)
    on_ready(server, f"http://{shown}:{bound}")
    refresher = asyncio.create_task(server.refresh_forever())
    watcher = asyncio.create_task(guard.watch())
    keeper = asyncio.create_task(server.keep_forever(keep)) if keep is not None else None
    try:
        await asyncio.Event().wait()
    finally:
        refresher.cancel()
        watcher.cancel()
        if keeper is not None and keep is not None:
            keeper.cancel()
            await server.keep_now(keep)
        listener.close()
        await runner.cleanup()
        server.refusals.flush(everything=True)
        await server.close()
