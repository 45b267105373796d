"""A fake Vertex AI + Cloud Storage on 127.0.0.1, strict about requests.

Every request is matched to a method of the aiplatform v1 or storage v1
discovery document (unknown paths and query parameters are refused), its
body is validated against the method's schema (:mod:`tests.fake_gcp.discovery`),
and then against the API's own rules that discovery cannot say: label syntax,
id patterns, the chief pool's single replica, prebuilt image names, traffic
splits that sum to 100, what may be undeployed or deleted. A refused request
gets the 400 the real API would give and is kept in :attr:`FakeGcp.violations`;
tests fail when that list is not empty.

It simulates jobs (queued, running, then succeeded, writing a SavedModel
under the trainer's ``--output_dir`` as a trainer would), long-running
operations (done on the first poll), pagination (small pages) and label
filters, and can inject 408/429/500/503 answers, slow answers, and a create whose
answer is lost after it took effect.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fake_gcp.discovery import STANDARD_QUERY, Api, Method, load

LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
MODEL_ID = re.compile(r"^[a-z_][a-z0-9_-]{0,62}$")
ENDPOINT_ID = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
ALIAS = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$")
REGISTRY = r"^(us|europe|asia)-docker\.pkg\.dev/vertex-ai/"
TRAINING_IMAGE = re.compile(REGISTRY + r"training/tf-(cpu|gpu)\.2-\d+\.py3\d+:latest$")
PREDICTION_IMAGE = re.compile(REGISTRY + r"prediction/tf2-(cpu|gpu)\.2-\d+:latest$")
FILTER_TERM = re.compile(r'^(labels\.([a-z0-9_-]+)|display_name)="([^"]*)"$')
PAGE = 10  # the fake's largest page, small so that pagination is exercised


class ApiError(Exception):
    def __init__(self, status: int, message: str, reason: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


def _now() -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1e6) % 10**6:06d}Z"
    )


@dataclass
class Faults:
    rate: float = 0.0  # share of requests answered 429 or 500 before they take effect
    lose_create_answers: int = 0  # creates that take effect but answer 503
    lost_rate: float = 0.0  # share of changes (not GETs) that take effect but answer 503
    delay: float = 0.0  # seconds added to every answer
    deny: set[str] = field(default_factory=set)  # method ids answered 403
    failed_operations: set[str] = field(default_factory=set)  # method ids whose LRO fails
    seed: int = 7
    injected: int = 0  # how many were injected


@dataclass
class Job:
    resource: dict[str, Any]
    kind: str  # "customJobs" or "hyperparameterTuningJobs"
    created: float = field(default_factory=time.monotonic)
    fail: bool = False
    seconds: float = 0.3  # how long it runs


class FakeGcp:
    def __init__(self, project: str = "demo-project", job_seconds: float = 0.3) -> None:
        self.project = project
        self.job_seconds = job_seconds
        self.max_page = PAGE
        self.faults = Faults()
        self.violations: list[str] = []
        self.calls: list[str] = []
        self.uploads: list[str] = []  # object names, in order
        self.fail_jobs: set[str] = set()  # display names whose jobs fail
        self.slow_jobs: set[str] = set()  # display names whose jobs run for minutes
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.jobs: dict[str, Job] = {}
        self.models: dict[str, list[dict[str, Any]]] = {}  # model resource name -> versions
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1000)
        self._version_ids: dict[str, Iterator[int]] = {}
        self._generations = itertools.count(1)
        self._lock = threading.RLock()
        self._random = random.Random(self.faults.seed)
        self._current = ""
        self._sessions: dict[str, tuple[str, str, bytearray]] = {}
        self.ai = load("aiplatform")
        self.storage = load("storage")
        self._server: ThreadingHTTPServer | None = None

    # Serving ---------------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[str]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                extra: dict[str, str] = {}
                if "uploadType=resumable" in self.path:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    status, extra, answer = fake.resumable(self.command, self.path, headers, body)
                    content_type = "application/json"
                else:
                    status, content_type, answer = fake.handle(
                        self.command, self.path, dict(self.headers), body
                    )
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self._server = server
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()
            server.server_close()

    def handle(
        self, verb: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        if self.faults.delay:
            time.sleep(self.faults.delay)
        parts = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        api, found = self._method(verb, parts.path)
        if found is None:
            return self._refuse(404, f"no such method: {verb} {parts.path}")
        method, params = found
        with self._lock:
            self.calls.append(method.id)
            self._current = method.id
            if method.id in self.faults.deny:
                message = f"Permission '{method.id}' denied on resource (or it may not exist)."
                return _error(403, message, "PERMISSION_DENIED")
            if self.faults.rate and self._random.random() < self.faults.rate:
                status = self._random.choice([408, 429, 500, 503])
                self.faults.injected += 1
                return _error(status, "injected fault", "UNAVAILABLE")
        unknown = set(query) - method.query - STANDARD_QUERY
        if unknown:
            return self._refuse(400, f"{method.id}: unknown query parameter {sorted(unknown)}")
        payload: Any = None
        if method.request is not None:
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                return self._refuse(400, f"{method.id}: the body is not JSON")
            errors = api.body_errors(method, payload)
            if errors:
                return self._refuse(400, f"{method.id}: " + "; ".join(errors[:5]))
        try:
            with self._lock:
                result = self._dispatch(method, params, query, payload, body)
        except ApiError as exc:
            if exc.status == 400 and exc.reason == "INVALID_ARGUMENT":
                self.violations.append(exc.message)
            return _error(exc.status, exc.message, exc.reason)
        if isinstance(result, bytes):
            return 200, "application/octet-stream", result
        with self._lock:
            if method.id.endswith(".create") and self.faults.lose_create_answers > 0:
                self.faults.lose_create_answers -= 1
                return _error(503, "the answer was lost", "UNAVAILABLE")
            if (
                verb != "GET"
                and self.faults.lost_rate
                and self._random.random() < self.faults.lost_rate
            ):
                self.faults.injected += 1
                return _error(503, "the answer was lost", "UNAVAILABLE")
        return 200, "application/json", json.dumps(result).encode()

    def _method(self, verb: str, path: str) -> tuple[Api, tuple[Method, dict[str, str]] | None]:
        api = self.storage if "/storage/v1/" in path else self.ai
        return api, api.find(verb, path)

    def _refuse(self, status: int, message: str) -> tuple[int, str, bytes]:
        self.violations.append(message)
        return _error(status, message, "INVALID_ARGUMENT")

    def _dispatch(
        self,
        method: Method,
        params: dict[str, str],
        query: dict[str, str],
        payload: Any,
        raw: bytes,
    ) -> Any:
        name = method.id.split(".", 1)[1].removeprefix("projects.locations.")
        handler: Callable[..., Any] | None = getattr(self, "_" + name.replace(".", "_"), None)
        if handler is None:
            raise ApiError(501, f"the fake does not implement {method.id}", "UNIMPLEMENTED")
        if method.media_upload:
            return self._objects_upload(params, query, raw)
        return handler(params, query, payload)

    # Helpers ---------------------------------------------------------------------------

    def _parent(self, params: dict[str, str]) -> str:
        return f"projects/{params['projectsId']}/locations/{params['locationsId']}"

    def _labels(self, labels: Any, where: str) -> None:
        labels = labels or {}
        if len(labels) > 64:
            raise ApiError(400, f"{where}: more than 64 labels")
        for key, value in labels.items():
            if not LABEL_KEY.match(key) or not LABEL_VALUE.match(str(value)):
                raise ApiError(400, f"{where}: invalid label {key}={value}")

    def _operation(self, parent: str, response: dict[str, Any]) -> dict[str, Any]:
        name = f"{parent}/operations/{next(self._ids)}"
        if self._current in self.faults.failed_operations:
            error = {"code": 9, "message": "Model server never became ready."}
            self.operations[name] = {"name": name, "done": True, "error": error}
        else:
            self.operations[name] = {"name": name, "done": True, "response": response}
        return {"name": name, "done": False}

    def _filter(self, items: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
        if not text:
            return items
        terms = [term.strip() for term in text.split(" AND ")]
        checks = []
        for term in terms:
            match = FILTER_TERM.match(term)
            if match is None:
                raise ApiError(400, f"the fake cannot read the filter term {term!r}")
            checks.append(match)

        def keep(item: dict[str, Any]) -> bool:
            for match in checks:
                if match.group(2):
                    if item.get("labels", {}).get(match.group(2)) != match.group(3):
                        return False
                elif item.get("displayName") != match.group(3):
                    return False
            return True

        return [item for item in items if keep(item)]

    def _page(self, items: list[dict[str, Any]], query: dict[str, str], key: str) -> dict[str, Any]:
        size = min(int(query.get("pageSize") or query.get("maxResults") or PAGE), self.max_page)
        start = int(query.get("pageToken") or 0)
        page: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            page["nextPageToken"] = str(start + size)
        return page

    # Jobs ------------------------------------------------------------------------------

    def _check_job_spec(self, spec: dict[str, Any], where: str) -> None:
        pools = spec.get("workerPoolSpecs") or []
        if not pools or not pools[0]:
            raise ApiError(400, f"{where}: workerPoolSpecs[0] (the chief) is required")
        if str(pools[0].get("replicaCount", "1")) != "1":
            raise ApiError(400, f"{where}: workerPoolSpecs[0].replicaCount must be 1")
        for index, pool in enumerate(pools):
            if not pool:
                continue
            if "machineSpec" not in pool or not pool["machineSpec"].get("machineType"):
                raise ApiError(400, f"{where}: workerPoolSpecs[{index}].machineSpec.machineType")
            if ("pythonPackageSpec" in pool) == ("containerSpec" in pool):
                raise ApiError(
                    400, f"{where}: pool {index} needs one of pythonPackageSpec, containerSpec"
                )
            package = pool.get("pythonPackageSpec", {})
            if package and not TRAINING_IMAGE.match(package["executorImageUri"]):
                raise ApiError(
                    400, f"{where}: not a prebuilt training image: {package['executorImageUri']}"
                )
            for uri in package.get("packageUris", []):
                if not uri.startswith("gs://") or self._object(uri) is None:
                    raise ApiError(400, f"{where}: package {uri} does not exist")

    def _create_job(
        self, kind: str, params: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any]:
        where = f"{kind}.create"
        self._labels(body.get("labels"), where)
        if len(body["displayName"]) > 128:
            raise ApiError(400, f"{where}: displayName is over 128 characters")
        spec = body["jobSpec"] if kind == "customJobs" else body["trialJobSpec"]
        self._check_job_spec(spec, where)
        if kind == "hyperparameterTuningJobs" and (
            body["maxTrialCount"] < 1 or body["parallelTrialCount"] < 1
        ):
            raise ApiError(400, f"{where}: trial counts must be positive")
        name = f"{self._parent(params)}/{kind}/{next(self._ids)}"
        resource = {
            **body,
            "name": name,
            "state": "JOB_STATE_QUEUED",
            "createTime": _now(),
            "updateTime": _now(),
        }
        seconds = 600.0 if body["displayName"] in self.slow_jobs else self.job_seconds
        self.jobs[name] = Job(
            resource, kind, fail=body["displayName"] in self.fail_jobs, seconds=seconds
        )
        return resource

    def _advance(self, job: Job) -> dict[str, Any]:
        resource = job.resource
        age = time.monotonic() - job.created
        state = resource["state"]
        if state == "JOB_STATE_CANCELLING":
            resource.update(
                state="JOB_STATE_CANCELLED",
                endTime=_now(),
                error={"code": 1, "message": "CANCELED"},
            )
        elif state == "JOB_STATE_QUEUED" and age > min(job.seconds / 3, 1.0):
            resource.update(state="JOB_STATE_RUNNING", startTime=_now())
        elif state == "JOB_STATE_RUNNING" and age > job.seconds:
            if job.fail:
                message = "The replica workerpool0-0 exited with a non-zero status of 1."
                resource.update(
                    state="JOB_STATE_FAILED", endTime=_now(), error={"code": 3, "message": message}
                )
            else:
                self._train(job)
                resource.update(state="JOB_STATE_SUCCEEDED", endTime=_now())
        return resource

    def _train(self, job: Job) -> None:
        """What the trainer would leave: a SavedModel under --output_dir (under
        --output_dir/TRIAL for each trial of a tuning job, with its metric)."""
        spec = job.resource.get("jobSpec") or job.resource["trialJobSpec"]
        args = spec["workerPoolSpecs"][0]["pythonPackageSpec"]["args"]
        output = next((a.split("=", 1)[1] for a in args if a.startswith("--output_dir=")), None)
        if output is None:
            return
        folders = [output.rstrip("/")]
        if job.kind == "hyperparameterTuningJobs":
            metric = job.resource["studySpec"]["metrics"][0]["metricId"]
            trials = []
            for trial in range(1, int(job.resource["maxTrialCount"]) + 1):
                value = 10.0 / trial if trial != 2 else 0.5  # trial 2 is the best when minimising
                trials.append(
                    {
                        "id": str(trial),
                        "state": "SUCCEEDED",
                        "finalMeasurement": {"metrics": [{"metricId": metric, "value": value}]},
                    }
                )
            job.resource["trials"] = trials
            folders = [f"{output.rstrip('/')}/{t['id']}" for t in trials]
        for folder in folders:
            export = f"{folder}/export/{int(time.time() * 1000)}"
            self._put_object(f"{export}/saved_model.pb", b"a SavedModel")
            self._put_object(f"{export}/variables/variables.index", b"variables")

    def add_finished_job(self, parent: str, display_name: str, labels: dict[str, str]) -> None:
        """A job that ran before this test (for plans over many jobs)."""
        name = f"{parent}/customJobs/{next(self._ids)}"
        resource = {
            "name": name,
            "displayName": display_name,
            "labels": labels,
            "state": "JOB_STATE_SUCCEEDED",
            "createTime": _now(),
            "endTime": _now(),
        }
        self.jobs[name] = Job(resource, "customJobs")

    def _customJobs_create(self, params: dict[str, str], query: Any, body: Any) -> Any:
        return self._create_job("customJobs", params, body)

    def _hyperparameterTuningJobs_create(self, params: dict[str, str], q: Any, body: Any) -> Any:
        return self._create_job("hyperparameterTuningJobs", params, body)

    def _list_jobs(self, kind: str, params: dict[str, str], query: dict[str, str]) -> Any:
        parent = self._parent(params)
        items = [
            {k: v for k, v in self._advance(job).items() if k != "trials"}  # lists omit trials
            for name, job in self.jobs.items()
            if job.kind == kind and name.startswith(parent + "/")
        ]
        return self._page(self._filter(items, query.get("filter", "")), query, kind)

    def _customJobs_list(self, params: dict[str, str], query: dict[str, str], _: Any) -> Any:
        return self._list_jobs("customJobs", params, query)

    def _hyperparameterTuningJobs_list(self, params: dict[str, str], query: Any, _: Any) -> Any:
        return self._list_jobs("hyperparameterTuningJobs", params, query)

    def _hyperparameterTuningJobs_get(self, params: dict[str, str], query: Any, _: Any) -> Any:
        job_id = params["hyperparameterTuningJobsId"]
        name = f"{self._parent(params)}/hyperparameterTuningJobs/{job_id}"
        if name not in self.jobs:
            raise ApiError(404, f"{name} not found", "NOT_FOUND")
        return self._advance(self.jobs[name])

    def _cancel(self, kind: str, params: dict[str, str]) -> Any:
        name = f"{self._parent(params)}/{kind}/{params[kind + 'Id']}"
        job = self.jobs.get(name)
        if job is None:
            raise ApiError(404, f"{name} not found", "NOT_FOUND")
        if job.resource["state"] in (
            "JOB_STATE_SUCCEEDED",
            "JOB_STATE_FAILED",
            "JOB_STATE_CANCELLED",
        ):
            raise ApiError(400, f"{name} is already finished", "FAILED_PRECONDITION")
        job.resource["state"] = "JOB_STATE_CANCELLING"
        return {}

    def _delete_job(self, kind: str, params: dict[str, str]) -> Any:
        name = f"{self._parent(params)}/{kind}/{params[kind + 'Id']}"
        job = self.jobs.get(name)
        if job is None:
            raise ApiError(404, f"{name} not found", "NOT_FOUND")
        if job.resource["state"] not in (
            "JOB_STATE_SUCCEEDED",
            "JOB_STATE_FAILED",
            "JOB_STATE_CANCELLED",
        ):
            raise ApiError(400, f"{name} is still running", "FAILED_PRECONDITION")
        del self.jobs[name]
        return self._operation(name, {})

    def _customJobs_delete(self, params: dict[str, str], query: Any, _: Any) -> Any:
        return self._delete_job("customJobs", params)

    def _hyperparameterTuningJobs_delete(self, params: dict[str, str], q: Any, _: Any) -> Any:
        return self._delete_job("hyperparameterTuningJobs", params)

    def _customJobs_operations_get(self, params: dict[str, str], query: Any, _: Any) -> Any:
        job = f"{self._parent(params)}/customJobs/{params['customJobsId']}"
        return self._get_operation(f"{job}/operations/{params['operationsId']}")

    def _hyperparameterTuningJobs_operations_get(
        self, params: dict[str, str], q: Any, _: Any
    ) -> Any:
        job_id = params["hyperparameterTuningJobsId"]
        job = f"{self._parent(params)}/hyperparameterTuningJobs/{job_id}"
        return self._get_operation(f"{job}/operations/{params['operationsId']}")

    def _customJobs_cancel(self, params: dict[str, str], query: Any, body: Any) -> Any:
        return self._cancel("customJobs", params)

    def _hyperparameterTuningJobs_cancel(self, params: dict[str, str], q: Any, b: Any) -> Any:
        return self._cancel("hyperparameterTuningJobs", params)

    # Models ----------------------------------------------------------------------------

    def _models_upload(self, params: dict[str, str], query: Any, body: dict[str, Any]) -> Any:
        parent = self._parent(params)
        model = body["model"]
        self._labels(model.get("labels"), "models.upload")
        if not str(model.get("artifactUri", "")).startswith("gs://"):
            raise ApiError(400, "models.upload: artifactUri must be a gs:// folder")
        if self._object(model["artifactUri"].rstrip("/") + "/saved_model.pb") is None:
            raise ApiError(400, f"models.upload: no saved_model.pb in {model['artifactUri']}")
        image = model.get("containerSpec", {}).get("imageUri", "")
        if not PREDICTION_IMAGE.match(image):
            raise ApiError(400, f"models.upload: not a prebuilt prediction image: {image}")
        for alias in model.get("versionAliases", []):
            if not ALIAS.match(alias):
                raise ApiError(400, f"models.upload: invalid version alias {alias}")
        if "parentModel" in body:
            name = body["parentModel"]
            if name not in self.models:
                raise ApiError(404, f"{name} not found", "NOT_FOUND")
        else:
            model_id = body.get("modelId") or str(next(self._ids))
            if not MODEL_ID.match(model_id):
                raise ApiError(400, f"models.upload: invalid modelId {model_id}")
            name = f"{parent}/models/{model_id}"
            if name in self.models:
                raise ApiError(409, f"{name} already exists", "ALREADY_EXISTS")
            self.models[name] = []
        versions = self.models[name]
        taken = {a for v in versions for a in v.get("versionAliases", [])}
        if taken & set(model.get("versionAliases", [])):
            raise ApiError(400, "models.upload: a version alias is already used")
        # "an auto-incrementing decimal number" (Model.versionId, aiplatform v1 discovery
        # document, revision 20261106, checked 2026-12-01): never reused after a delete.
        version_id = str(next(self._version_ids.setdefault(name, itertools.count(1))))
        versions.append(
            {
                **model,
                "name": name,
                "versionId": version_id,
                "versionCreateTime": _now(),
                "createTime": _now(),
            }
        )
        return self._operation(name, {"model": name, "modelVersionId": version_id})

    def _models_list(self, params: dict[str, str], query: dict[str, str], _: Any) -> Any:
        parent = self._parent(params)
        items = [v[-1] for n, v in self.models.items() if n.startswith(parent + "/") and v]
        return self._page(self._filter(items, query.get("filter", "")), query, "models")

    def _model(self, params: dict[str, str]) -> tuple[str, str | None]:
        model_id, _, version = params["modelsId"].partition("@")
        name = f"{self._parent(params)}/models/{model_id}"
        if name not in self.models:
            raise ApiError(404, f"{name} not found", "NOT_FOUND")
        return name, version or None

    def _models_listVersions(self, params: dict[str, str], query: dict[str, str], _: Any) -> Any:
        name, _ = self._model(params)
        return self._page(self._filter(self.models[name], query.get("filter", "")), query, "models")

    def _deployed(self, name: str, version_id: str) -> bool:
        return any(
            d["model"] == f"{name}@{version_id}"
            for e in self.endpoints.values()
            for d in e.get("deployedModels", [])
        )

    def _models_patch(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        name, version = self._model(params)
        self._labels(body.get("labels"), "models.patch")
        if not query.get("updateMask"):
            raise ApiError(400, "models.patch: updateMask is required")
        target = next((v for v in self.models[name] if v["versionId"] == version), None)
        if target is None:
            raise ApiError(404, f"{name}@{version} not found", "NOT_FOUND")
        for path in query["updateMask"].split(","):
            if path in body:
                target[path] = body[path]
        return target

    def _models_deleteVersion(self, params: dict[str, str], query: Any, _: Any) -> Any:
        name, version = self._model(params)
        versions = self.models[name]
        if not any(v["versionId"] == version for v in versions):
            raise ApiError(404, f"{name}@{version} not found", "NOT_FOUND")
        if len(versions) == 1:
            raise ApiError(400, f"{name}: cannot delete the only version", "FAILED_PRECONDITION")
        if self._deployed(name, str(version)):
            raise ApiError(400, f"{name}@{version} is deployed", "FAILED_PRECONDITION")
        self.models[name] = [v for v in versions if v["versionId"] != version]
        return self._operation(name, {})

    def _models_delete(self, params: dict[str, str], query: Any, _: Any) -> Any:
        name, _ = self._model(params)
        if any(self._deployed(name, v["versionId"]) for v in self.models[name]):
            raise ApiError(400, f"{name} has deployed versions", "FAILED_PRECONDITION")
        del self.models[name]
        self._version_ids.pop(name, None)  # a model made again under this id is a new one
        return self._operation(name, {})

    def _models_operations_get(self, params: dict[str, str], query: Any, _: Any) -> Any:
        model = f"{self._parent(params)}/models/{params['modelsId']}"
        return self._get_operation(f"{model}/operations/{params['operationsId']}")

    def _endpoints_operations_get(self, params: dict[str, str], query: Any, _: Any) -> Any:
        endpoint = f"{self._parent(params)}/endpoints/{params['endpointsId']}"
        return self._get_operation(f"{endpoint}/operations/{params['operationsId']}")

    def _get_operation(self, name: str) -> Any:
        if name not in self.operations:
            raise ApiError(404, f"{name} not found", "NOT_FOUND")
        return self.operations[name]

    # Endpoints -------------------------------------------------------------------------

    def _endpoint(self, params: dict[str, str]) -> dict[str, Any]:
        name = f"{self._parent(params)}/endpoints/{params['endpointsId']}"
        if name not in self.endpoints:
            raise ApiError(404, f"{name} not found", "NOT_FOUND")
        return self.endpoints[name]

    def _endpoints_create(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        endpoint_id = query.get("endpointId") or str(next(self._ids))
        if not ENDPOINT_ID.match(endpoint_id):
            raise ApiError(400, f"endpoints.create: invalid endpointId {endpoint_id}")
        self._labels(body.get("labels"), "endpoints.create")
        name = f"{self._parent(params)}/endpoints/{endpoint_id}"
        if name in self.endpoints:
            raise ApiError(409, f"{name} already exists", "ALREADY_EXISTS")
        self.endpoints[name] = {
            **body,
            "name": name,
            "createTime": _now(),
            "deployedModels": [],
            "trafficSplit": {},
        }
        return self._operation(name, self.endpoints[name])

    def _endpoints_get(self, params: dict[str, str], query: Any, _: Any) -> Any:
        return self._endpoint(params)

    def _endpoints_list(self, params: dict[str, str], query: dict[str, str], _: Any) -> Any:
        parent = self._parent(params)
        items = [e for n, e in self.endpoints.items() if n.startswith(parent + "/")]
        return self._page(self._filter(items, query.get("filter", "")), query, "endpoints")

    def _check_split(self, endpoint: dict[str, Any], split: dict[str, int], where: str) -> None:
        ids = {d["id"] for d in endpoint["deployedModels"]}
        if split and sum(split.values()) != 100:
            raise ApiError(400, f"{where}: trafficSplit must sum to 100, not {sum(split.values())}")
        unknown = set(split) - ids
        if unknown:
            raise ApiError(400, f"{where}: trafficSplit names undeployed models {sorted(unknown)}")

    def _endpoints_patch(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        endpoint = self._endpoint(params)
        mask = query.get("updateMask")
        if not mask:
            raise ApiError(400, "endpoints.patch: updateMask is required")
        self._labels(body.get("labels"), "endpoints.patch")
        if "trafficSplit" in mask.split(","):
            self._check_split(endpoint, body.get("trafficSplit", {}), "endpoints.patch")
        for path in mask.split(","):
            if path in body:
                endpoint[path] = body[path]
        return endpoint

    def _endpoints_deployModel(self, params: dict[str, str], query: Any, body: Any) -> Any:
        endpoint = self._endpoint(params)
        deployed = dict(body["deployedModel"])
        model, _, version = deployed["model"].partition("@")
        if model not in self.models or not any(
            v["versionId"] == version for v in self.models[model]
        ):
            raise ApiError(400, f"deployModel: no model version {deployed['model']}")
        resources = deployed.get("dedicatedResources")
        if not resources or resources["minReplicaCount"] < 1:
            raise ApiError(400, "deployModel: dedicatedResources with minReplicaCount >= 1")
        deployed["id"] = str(next(self._ids))
        deployed["modelVersionId"] = version
        split = dict(body.get("trafficSplit") or {})
        if "0" in split:
            split[deployed["id"]] = split.pop("0")
        endpoint["deployedModels"].append(deployed)
        if split:
            self._check_split(endpoint, split, "deployModel")
            endpoint["trafficSplit"] = split
        elif not endpoint["trafficSplit"]:
            endpoint["trafficSplit"] = {deployed["id"]: 100}
        return self._operation(endpoint["name"], {"deployedModel": deployed})

    def _endpoints_undeployModel(self, params: dict[str, str], query: Any, body: Any) -> Any:
        endpoint = self._endpoint(params)
        gone = body["deployedModelId"]
        if gone not in {d["id"] for d in endpoint["deployedModels"]}:
            raise ApiError(400, f"undeployModel: {gone} is not deployed")
        split = body.get("trafficSplit")
        if split is None:
            split = endpoint["trafficSplit"]
        remaining = [d for d in endpoint["deployedModels"] if d["id"] != gone]
        if split.get(gone):
            raise ApiError(400, f"undeployModel: {gone} still has traffic")
        endpoint["deployedModels"] = remaining
        self._check_split(endpoint, split, "undeployModel")
        endpoint["trafficSplit"] = split if remaining else {}
        return self._operation(endpoint["name"], {})

    def _endpoints_delete(self, params: dict[str, str], query: Any, _: Any) -> Any:
        endpoint = self._endpoint(params)
        if endpoint["deployedModels"]:
            raise ApiError(
                400, f"{endpoint['name']} still has deployed models", "FAILED_PRECONDITION"
            )
        del self.endpoints[endpoint["name"]]
        return self._operation(endpoint["name"], {})

    # Storage ---------------------------------------------------------------------------

    def _object(self, uri: str) -> dict[str, Any] | None:
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        return self.objects.get((bucket, name))

    def put_object(self, uri: str, data: bytes) -> dict[str, Any]:
        """An object that was in the bucket before the test (a prebuilt package)."""
        with self._lock:
            return self._put_object(uri, data)

    def _put_object(self, uri: str, data: bytes) -> dict[str, Any]:
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        return self._store(bucket, name, data)

    def _store(self, bucket: str, name: str, data: bytes) -> dict[str, Any]:
        meta = {
            "kind": "storage#object",
            "bucket": bucket,
            "name": name,
            "size": str(len(data)),
            "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
            "generation": str(next(self._generations)),
            "timeCreated": _now(),
            "updated": _now(),
        }
        self.objects[(bucket, name)] = {"meta": meta, "data": data}
        return meta

    def resumable(
        self, verb: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Resumable uploads: a POST opens a session, PUTs send chunks
        (Content-Range), 308 says how much arrived, the last chunk creates the object.
        ``headers`` have lower-case names."""
        parts = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.calls.append("storage.objects.insert")
            if verb == "POST":
                found = self.storage.find("POST", parts.path)
                if found is None or not query.get("name"):
                    status, _, answer = self._refuse(400, "resumable upload: bucket and name")
                    return status, {}, answer
                session = str(next(self._ids))
                self._sessions[session] = (found[1]["bucket"], query["name"], bytearray())
                host = headers.get("host", "127.0.0.1")
                location = f"http://{host}{parts.path}?uploadType=resumable&upload_id={session}"
                return 200, {"Location": location}, b""
            bucket, name, data = self._sessions[query["upload_id"]]
            match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", headers.get("content-range", ""))
            if match:
                if int(match.group(1)) != len(data):
                    status, _, answer = self._refuse(400, "resumable upload: a chunk out of order")
                    return status, {}, answer
                data.extend(body)
                total = match.group(3)
                if total != "*" and len(data) == int(total):
                    del self._sessions[query["upload_id"]]
                    self.uploads.append(name)
                    return 200, {}, json.dumps(self._store(bucket, name, bytes(data))).encode()
            range_header = {"Range": f"bytes=0-{len(data) - 1}"} if data else {}
            return 308, range_header, b""

    def _objects_upload(self, params: dict[str, str], query: dict[str, str], data: bytes) -> Any:
        if query.get("uploadType") != "media" or not query.get("name"):
            raise ApiError(400, "objects.insert: the fake takes uploadType=media with a name")
        key = (params["bucket"], query["name"])
        wanted = query.get("ifGenerationMatch")
        present = self.objects.get(key)
        if wanted is not None:
            current = present["meta"]["generation"] if present else "0"
            if current != wanted:
                raise ApiError(
                    412,
                    "At least one of the pre-conditions you specified did not hold.",
                    "conditionNotMet",
                )
        self.uploads.append(query["name"])
        return self._store(params["bucket"], query["name"], data)

    def _objects_insert(self, params: dict[str, str], query: Any, body: Any) -> Any:
        raise ApiError(400, "objects.insert: the fake takes media uploads")

    def _objects_get(self, params: dict[str, str], query: dict[str, str], _: Any) -> Any:
        found = self.objects.get((params["bucket"], params["object"]))
        # Without object versioning only the live generation exists: asking for another
        # is a 404 (cloud.google.com/storage/docs/object-versioning, checked 2026-12-01).
        wanted = query.get("generation")
        if found is None or (wanted is not None and found["meta"]["generation"] != wanted):
            raise ApiError(404, "No such object", "notFound")
        return found["data"] if query.get("alt") == "media" else found["meta"]

    def _objects_list(self, params: dict[str, str], query: dict[str, str], _: Any) -> Any:
        prefix = query.get("prefix", "")
        items = [
            o["meta"]
            for (bucket, name), o in sorted(self.objects.items())
            if bucket == params["bucket"] and name.startswith(prefix)
        ]
        return self._page(items, query, "items")

    def _objects_delete(self, params: dict[str, str], query: dict[str, str], _: Any) -> Any:
        key = (params["bucket"], params["object"])
        if key not in self.objects:
            raise ApiError(404, "No such object", "notFound")
        wanted = query.get("ifGenerationMatch")
        if wanted is not None and self.objects[key]["meta"]["generation"] != wanted:
            raise ApiError(
                412,
                "At least one of the pre-conditions you specified did not hold.",
                "conditionNotMet",
            )
        del self.objects[key]
        return {}


def _error(status: int, message: str, reason: str) -> tuple[int, str, bytes]:
    body = {"error": {"code": status, "message": message, "status": reason}}
    return status, "application/json", json.dumps(body).encode()


@contextmanager
def pointed_at(fake: FakeGcp, poll_seconds: float = 0.05) -> Iterator[str]:
    """Run the fake and point mlapply's Google backends at it (endpoints, no
    credentials, quick retries and polls) until the block ends; yields its URL."""
    saved = dict(os.environ)
    with fake.running() as url:
        os.environ.update(
            MLAPPLY_AIPLATFORM_ENDPOINT=url,
            MLAPPLY_STORAGE_ENDPOINT=url,
            MLAPPLY_GCP_ANONYMOUS="1",
            MLAPPLY_GCP_RETRY_BASE_SECONDS="0.01",
            MLAPPLY_VERTEX_POLL_SECONDS=str(poll_seconds),
        )
        try:
            yield url
        finally:
            os.environ.clear()
            os.environ.update(saved)
