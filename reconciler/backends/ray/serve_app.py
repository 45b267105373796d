"""The Ray Serve application of one model, as the ray backend deploys it.

It runs on the cluster, not here: ``serving.py`` copies this file (as
``mlapply_ray_serve.py``) into the stack's storage with the two modules of
``reconciler.serving`` it imports (the paths and errors of each client's
dialect, and the SavedModel's signature), and names that folder on the
application's ``PYTHONPATH``. So the cluster answers exactly what ``mlapply
serve`` answers, ML Engine ``:predict`` and TF Serving REST, beneath the
model's route prefix.

Each version is a deployment of its own (named as the version's live name)
that loads its SavedModel on its first request, as ``mlapply serve`` does; the
model's ingress routes a request to the version its path names, or to the
default, or by weight while a rollout splits the traffic. The application's
``args`` are what the driver wrote: the versions' exports and shapes; the
ingress's ``user_config`` holds the default, the split (``traffic``) and, under
``mlapply``, the labels and records that ``plan`` reads back (ignored here).

The ingress counts what each version served (requests, the version's failures,
latency in ``served.LATENCY_BOUNDS_MS`` buckets) in ``BUCKET_SECONDS`` buckets
kept for ``KEPT_SECONDS``, and answers them on ``GET PREFIX/-/served``: a
rollout's gates read them there. They live in the ingress replica (one per
application): a restarted ingress starts counting afresh.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import JSONResponse

from reconciler.backends.served import LATENCY_BOUNDS_MS, bucket_of
from reconciler.serving.routes import (
    HttpError,
    Route,
    dialect_of,
    error_body,
    json_body,
    parse,
)
from reconciler.serving.signature import (
    InstanceError,
    ServingSignature,
    answer,
    request_columns,
)

MAX_REQUEST_BYTES = 1_500_000
"""ML Engine's online prediction limit, as mlapply serve's."""
VERSION_HEADER = "X-Mlapply-Model-Version"
SERVED_PATH = "/-/served"
BUCKET_SECONDS = 2
KEPT_SECONDS = 2 * 3600


class Version:
    """One version of the model: its SavedModel, loaded on the first request."""

    def __init__(self, export: str) -> None:
        self.export = export
        self._signature: ServingSignature | None = None
        self._loading = threading.Lock()

    def _loaded(self) -> ServingSignature:
        with self._loading:
            if self._signature is None:
                self._signature = ServingSignature.load(Path(self.export))
            return self._signature

    def predict(self, body: bytes) -> tuple[int, Any, bool]:
        """(200, the answer, False) or (an HTTP status, why, whether the version failed
        it rather than the request), as mlapply serve answers."""
        try:
            signature = self._loaded()
        except Exception as exc:  # the replica keeps answering; the client learns why
            return 500, f"the version's SavedModel did not load: {_first_line(exc)}", True
        try:
            columns_form, columns, count = request_columns(signature, body)
        except InstanceError as exc:
            return 400, str(exc), False
        try:
            outputs = signature.run(columns)
        except Exception as exc:
            return 400, f"the model refused the request: {_first_line(exc)}", True
        return 200, answer(outputs, count, columns_form), False


class Model:
    """The model's ingress: a request goes to the version its path names, or the default."""

    def __init__(self, model: str, versions: dict[str, DeploymentHandle[Any]]) -> None:
        self.model, self.versions = model, versions
        self.default: str | None = None
        self.traffic: dict[str, int] = {}
        # version -> bucket (start second) -> [requests, errors, latency counts...]
        self.served: dict[str, dict[int, list[int]]] = {}

    def reconfigure(self, config: dict[str, Any]) -> None:
        """The deployment's ``user_config``: the default and the split, changed in place."""
        self.default = config.get("default")
        split = config.get("traffic") or {}
        self.traffic = {str(k): int(v) for k, v in split.items() if int(v) > 0}

    async def __call__(self, request: Request) -> JSONResponse:
        path = str(request.scope["path"])
        root = str(request.scope.get("root_path") or "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        if path == SERVED_PATH and request.method == "GET":
            return JSONResponse(self._served())
        dialect = dialect_of(path)
        try:
            route = parse(path)
            dialect = route.dialect
            version = self._version(route)
            if route.verb == "predict":
                if request.method != "POST":
                    raise HttpError(405, f"{path} takes POST")
                json_body(request.headers.get("content-type"))
                body = await request.body()
                if len(body) > MAX_REQUEST_BYTES:
                    raise HttpError(
                        413, f"the request body is over the {MAX_REQUEST_BYTES}-byte limit"
                    )
                started = time.perf_counter()
                failed = True
                try:
                    status, answer, failed = await self.versions[version].predict.remote(body)
                finally:
                    self._count(version, time.perf_counter() - started, failed)
                if status != 200:
                    return JSONResponse(
                        error_body(dialect, status, answer),
                        status,
                        headers={VERSION_HEADER: version},
                    )
                return JSONResponse(answer, headers={VERSION_HEADER: version})
            if route.verb is not None or request.method != "GET":
                raise HttpError(404, f"no such method: {request.method} {path}")
            return JSONResponse(self._describe(route, version), headers={VERSION_HEADER: version})
        except HttpError as exc:
            return JSONResponse(error_body(dialect, exc.status, exc.message), exc.status)

    def _version(self, route: Route) -> str:
        if route.model != self.model:
            raise HttpError(
                404, f"model {route.model} is not served here (this is {self.model}'s route)"
            )
        version = route.version or self._pick()
        if version is None:
            raise HttpError(404, f"model {self.model} has no default version")
        if version not in self.versions:
            raise HttpError(404, f"model {self.model} has no version {version}")
        return version

    def _pick(self) -> str | None:
        """The version for a request that names none: by the split's weights while a
        rollout splits the traffic, else the default."""
        split = [(name, weight) for name, weight in self.traffic.items() if name in self.versions]
        if not split:
            return self.default
        draw = random.random() * sum(weight for _, weight in split)  # noqa: S311 (not a secret)
        for name, weight in split:
            draw -= weight
            if draw < 0:
                return name
        return split[-1][0]

    def _count(self, version: str, seconds: float, failed: bool) -> None:
        now = int(time.time())
        slot = now - now % BUCKET_SECONDS
        buckets = self.served.setdefault(version, {})
        row = buckets.get(slot)
        if row is None:
            row = buckets[slot] = [0, 0] + [0] * (len(LATENCY_BOUNDS_MS) + 1)
            for old in [s for s in buckets if s < slot - KEPT_SECONDS]:
                del buckets[old]
        row[0] += 1
        row[1] += failed
        row[2 + bucket_of(seconds * 1000.0)] += 1

    def _served(self) -> dict[str, Any]:
        return {
            "bucket_seconds": BUCKET_SECONDS,
            "bounds_ms": list(LATENCY_BOUNDS_MS),
            "versions": {
                version: [[slot, *row] for slot, row in sorted(buckets.items())]
                for version, buckets in self.served.items()
            },
        }

    def _describe(self, route: Route, version: str) -> dict[str, Any]:
        if route.project is None:  # TF Serving's model status
            names = [route.version] if route.version else sorted(self.versions)
            ok = {"error_code": "OK", "error_message": ""}
            return {
                "model_version_status": [
                    {"version": name, "state": "AVAILABLE", "status": ok} for name in names
                ]
            }
        base = f"projects/{route.project}/models/{self.model}"
        if route.version is None:
            return {"name": base, "defaultVersion": {"name": f"{base}/versions/{version}"}}
        return {
            "name": f"{base}/versions/{version}",
            "state": "READY",
            "isDefault": version == self.default,
        }


def app(args: dict[str, Any]) -> Application:
    """The application ``args`` describe (Serve's application builder)."""
    version: Any = serve.deployment(Version)
    model: Any = serve.deployment(Model)
    versions = {
        name: version.options(
            name=name,
            num_replicas=int(spec.get("replicas", 1)),
            ray_actor_options={"num_cpus": float(spec.get("cpus", 1))},
        ).bind(spec["export"])
        for name, spec in args["versions"].items()
    }
    ingress = model.options(name="ingress", ray_actor_options={"num_cpus": 0})
    bound: Application = ingress.bind(args["model"], versions)
    return bound


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
