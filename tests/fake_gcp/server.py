"""A fake Vertex AI + Cloud ML Engine + Cloud Storage on 127.0.0.1, strict about requests.

Every request is matched to a method of the aiplatform v1, ml v1 or storage v1
discovery document (unknown paths and query parameters are refused), its
body is validated against the method's schema (:mod:`tests.fake_gcp.discovery`),
and then against the API's own rules that discovery cannot say
(:mod:`tests.fake_gcp.rules` and the handlers, each with its source): label
syntax, id patterns, the chief pool's single replica, machine types, prebuilt
images and their end of availability, TF_CONFIG only for several replicas,
traffic splits that sum to 100, no undeploy that leaves traffic on the model,
what may be deleted. A refused request gets the 400 the real API would give and
is kept in :attr:`FakeGcp.violations`; tests fail when that list is not empty.

It simulates jobs (queued, running, then succeeded), and their trainers: a
simulated trainer (:attr:`FakeGcp.trainer`) is given the arguments and the
environment Vertex gives each chief (AIP_MODEL_DIR, CLUSTER_SPEC, TF_CONFIG,
each trial its own base directory) and writes where they say; the fake writes
nothing for it. Long-running operations run for a few polls and take effect
when they finish; model versions carry aliases (reused ones move, one is the
default), labels merged with their model's. Pagination (small pages), label
filters, and injected 408/429/500/503 answers, slow answers, and answers lost
after the request took effect.
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

from tests.fake_gcp import rules
from tests.fake_gcp.common import ApiError, crc32c, now
from tests.fake_gcp.discovery import STANDARD_QUERY, Api, Method, load
from tests.fake_gcp.mlengine import MlEngine
from tests.fake_gcp.monitoring import Monitoring

LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
MODEL_ID = re.compile(r"^[a-z_][a-z0-9_-]{0,62}$")
ENDPOINT_ID = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
ALIAS = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$")
DEPLOYED_ID = re.compile(r"^[0-9]{1,10}$")  # DeployedModel.id (aiplatform v1 discovery)
FILTER_TERM = re.compile(r'^(labels\.([a-z0-9_-]+)|display_name)="([^"]*)"$')
PAGE = 10  # the fake's largest page, small so that pagination is exercised


@dataclass
class Faults:
    rate: float = 0.0  # share of requests answered 429 or 500 before they take effect
    lose_create_answers: int = 0  # creates that take effect but answer 503
    lose: dict[str, int] = field(default_factory=dict)  # method id -> answers to lose so
    lost_rate: float = 0.0  # share of changes (not GETs) that take effect but answer 503
    delay: float = 0.0  # seconds added to every answer
    deny: set[str] = field(default_factory=set)  # method ids answered 403
    # method id -> calls answered 409 ABORTED before they take effect: a concurrent
    # change ("ABORTED 409: concurrency conflict, such as read-modify-write conflict",
    # cloud.google.com/apis/design/errors, checked 2026-12-07), as ALREADY_EXISTS is 409
    abort: dict[str, int] = field(default_factory=dict)
    failed_operations: set[str] = field(default_factory=set)  # method ids whose LRO fails
    rewrite_in_steps: bool = False  # objects.rewrite answers "not done" once per object
    seed: int = 7
    injected: int = 0  # how many were injected


@dataclass
class Pending:
    response: dict[str, Any]
    effect: Callable[[], None]
    failed: bool
    polls: int
    started: float = field(default_factory=time.monotonic)


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
        self.ml = load("ml")
        self.monitoring_api = load("monitoring", "v3")
        self.monitoring = Monitoring()
        self.mlengine = MlEngine(self)
        self._server: ThreadingHTTPServer | None = None
        self._pending: dict[str, Pending] = {}
        self.op_polls = 3  # polls an operation runs for
        self.op_seconds = 1.0  # or seconds, when nobody polls it
        self.trainer: Callable[[Task], None] = template_trainer
        self.model_labels: dict[str, dict[str, str]] = {}  # model name -> its own labels
        self.deploying: dict[str, set[str]] = {}  # endpoint -> ids being deployed

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
            if self.faults.abort.get(method.id, 0) > 0:
                self.faults.abort[method.id] -= 1
                return _error(409, "The operation was aborted.", "ABORTED")
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
            if api is self.ml and method.id.endswith(".patch"):
                # An ml v1 patch sends the fields its updateMask names (gcloud's jobs,
                # models and versions update send labels and etag alone), so "Required."
                # fields are required of creates only.
                errors = [e for e in errors if "is a required property" not in e]
            if errors:
                return self._refuse(400, f"{method.id}: " + "; ".join(errors[:5]))
        try:
            with self._lock:
                self._settle()
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
            if self.faults.lose.get(method.id, 0) > 0:
                self.faults.lose[method.id] -= 1
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
        if "/storage/v1/" in path:
            return self.storage, self.storage.find(verb, path)
        if path.startswith("/v3/"):
            return self.monitoring_api, self.monitoring_api.find(verb, path)
        # Vertex AI's paths all have locations/; ml v1's none (their discovery documents).
        api = self.ai if "/locations/" in path else self.ml
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
        owner = self.mlengine if method.id.startswith("ml.") else self
        handler: Callable[..., Any] | None = getattr(owner, "_" + name.replace(".", "_"), None)
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

    def _operation(
        self,
        parent: str,
        response: dict[str, Any],
        effect: Callable[[], None] = lambda: None,
    ) -> dict[str, Any]:
        """A long-running operation. It runs for a few polls (or ``op_seconds``, for a
        caller that stopped polling), and ``effect`` happens only when it finishes: a
        deployment or an upload is not visible while its operation runs."""
        name = f"{parent}/operations/{next(self._ids)}"
        failed = self._current in self.faults.failed_operations
        self.operations[name] = {"name": name, "done": False}
        self._pending[name] = Pending(response, effect, failed, self.op_polls)
        return {"name": name, "done": False}

    def _settle(self, polled: str | None = None) -> None:
        """Operations that finish now: the one polled after its last poll, and any
        older than ``op_seconds``."""
        now = time.monotonic()
        for name, pending in list(self._pending.items()):
            if name == polled:
                pending.polls -= 1
            if pending.polls > 0 and now - pending.started < self.op_seconds:
                continue
            del self._pending[name]
            if pending.failed:
                error = {"code": 9, "message": "Model server never became ready."}
                self.operations[name] = {"name": name, "done": True, "error": error}
                continue
            pending.effect()
            self.operations[name] = {"name": name, "done": True, "response": pending.response}

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
            problem = rules.machine_problem(pool, index)
            if problem:
                raise ApiError(400, f"{where}: {problem}")
            package = pool.get("pythonPackageSpec", {})
            program = package or pool["containerSpec"]
            image = package.get("executorImageUri") or program.get("imageUri", "")
            # executorImageUri: "You must use an image from this list" (the prebuilt
            # training images; aiplatform v1 discovery document); a container is the user's.
            problem = rules.image_problem(
                image, rules.TRAINING_IMAGES, "training", own_allowed=not package
            )
            if problem:
                raise ApiError(400, f"{where}: {problem}")
            for uri in package.get("packageUris", []):
                if not uri.startswith("gs://") or self._object(uri) is None:
                    raise ApiError(400, f"{where}: package {uri} does not exist")
            names = {e.get("name") for e in program.get("env", [])}
            if "TF_CONFIG" in names and sum(int(p.get("replicaCount", 1)) for p in pools if p) == 1:
                # Vertex sets TF_CONFIG only for more than one replica (gcp-api.md,
                # corrections of 2026-12-01): a single-replica trainer never sees one.
                raise ApiError(400, f"{where}: TF_CONFIG given to a single-replica job")

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
            "createTime": now(),
            "updateTime": now(),
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
                endTime=now(),
                error={"code": 1, "message": "CANCELED"},
            )
        elif state == "JOB_STATE_QUEUED" and age > min(job.seconds / 3, 1.0):
            resource.update(state="JOB_STATE_RUNNING", startTime=now())
        elif state == "JOB_STATE_RUNNING" and age > job.seconds:
            if job.fail:
                message = "The replica workerpool0-0 exited with a non-zero status of 1."
                resource.update(
                    state="JOB_STATE_FAILED", endTime=now(), error={"code": 3, "message": message}
                )
            else:
                self._train(job)
                resource.update(state="JOB_STATE_SUCCEEDED", endTime=now())
        return resource

    def _train(self, job: Job) -> None:
        """Run the simulated trainer of each task Vertex would start for the chief
        (each trial's, for a tuning job): it is given the arguments and the
        environment Vertex gives, and writes where they say. The fake writes nothing
        for it."""
        resource = job.resource
        spec = resource.get("jobSpec") or resource["trialJobSpec"]
        chief = spec["workerPoolSpecs"][0]
        program = chief.get("pythonPackageSpec") or chief["containerSpec"]
        base = spec.get("baseOutputDirectory", {}).get("outputUriPrefix", "")
        args = list(program.get("args", []))
        if job.kind != "hyperparameterTuningJobs":
            env = rules.environment(spec["workerPoolSpecs"], base, None)
            self.trainer(Task(self, args, env))
            return
        metric = resource["studySpec"]["metrics"][0]["metricId"]
        trials = []
        for number in range(1, int(resource["maxTrialCount"]) + 1):
            trial = str(number)
            value = 10.0 / number if number != 2 else 0.5  # trial 2 is the best when minimising
            parameters = [
                {"parameterId": p["parameterId"], "value": _trial_value(p, number)}
                for p in resource["studySpec"]["parameters"]
            ]
            # Trial parameters are passed as flags after the job's own arguments.
            flags = [f"--{p['parameterId']}={p['value']}" for p in parameters]
            env = rules.environment(spec["workerPoolSpecs"], base, trial)
            self.trainer(Task(self, [*args, *flags], env))
            trials.append(
                {
                    "id": trial,
                    "state": "SUCCEEDED",
                    "parameters": parameters,
                    "finalMeasurement": {"metrics": [{"metricId": metric, "value": value}]},
                }
            )
        resource["trials"] = trials

    def add_finished_job(self, parent: str, display_name: str, labels: dict[str, str]) -> None:
        """A job that ran before this test (for plans over many jobs)."""
        name = f"{parent}/customJobs/{next(self._ids)}"
        resource = {
            "name": name,
            "displayName": display_name,
            "labels": labels,
            "state": "JOB_STATE_SUCCEEDED",
            "createTime": now(),
            "endTime": now(),
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
        image = model.get("containerSpec", {}).get("imageUri", "")
        # A prebuilt TensorFlow image loads saved_model.pb from the artifact folder
        # itself; a custom container reads AIP_STORAGE_URI its own way, and Vertex does
        # not inspect it ("Export model artifacts for prediction" and "Custom container
        # requirements", cloud.google.com/vertex-ai/docs/predictions, checked 2026-12-07).
        prebuilt = rules.PREBUILT.match(image) is not None
        if image and not prebuilt and not rules.SERVING_REGISTRY.match(image):
            raise ApiError(400, f"models.upload: {image} is not in Artifact or Container Registry")
        if prebuilt and self._object(model["artifactUri"].rstrip("/") + "/saved_model.pb") is None:
            raise ApiError(400, f"models.upload: no saved_model.pb in {model['artifactUri']}")
        problem = rules.image_problem(image, rules.PREDICTION_IMAGES, "prediction", True)
        if problem or not image:
            # A missing or ended image fails the upload (gcp-api.md, corrections of
            # 2026-12-01: "fails inside its operation"; refused here at once, so that
            # the test that sent it fails).
            raise ApiError(400, f"models.upload: {problem or 'containerSpec.imageUri is required'}")
        for alias in model.get("versionAliases", []):
            if not ALIAS.match(alias) or alias == "default":
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
            self.models[name] = []  # the id is taken at once; the version comes with the op
            # The model's own labels: those of its first upload (merged into every
            # version's on read, as the UpdateModel documentation says).
            self.model_labels[name] = dict(model.get("labels", {}))
        # "an auto-incrementing decimal number" (Model.versionId, aiplatform v1 discovery
        # document, revision 20261106, checked 2026-12-01): never reused after a delete.
        version_id = str(next(self._version_ids.setdefault(name, itertools.count(1))))

        def add() -> None:
            versions = self.models.setdefault(name, [])
            wanted = set(model.get("versionAliases", []))
            for other in versions:  # reusing an alias moves it to the new version
                other["versionAliases"] = [a for a in other["versionAliases"] if a not in wanted]
            # The first version gets the "default" alias; exactly one version has it
            # (Model.versionAliases, aiplatform v1 discovery document).
            aliases = [*sorted(wanted), *(["default"] if not versions else [])]
            versions.append(
                {
                    **model,
                    "versionAliases": aliases,
                    "name": name,
                    "versionId": version_id,
                    "versionCreateTime": now(),
                    "createTime": now(),
                }
            )

        return self._operation(name, {"model": name, "modelVersionId": version_id}, add)

    def _shown(self, name: str, version: dict[str, Any]) -> dict[str, Any]:
        """A version as Vertex returns it: its labels merged with its model's (the
        model's win here, the worse case for a client reading identity from them; the
        order is not documented)."""
        return {
            **version,
            "labels": {**version.get("labels", {}), **self.model_labels.get(name, {})},
        }

    def _models_list(self, params: dict[str, str], query: dict[str, str], _: Any) -> Any:
        parent = self._parent(params)
        # A model is listed as its default version (Model, aiplatform v1: "the default
        # version is used" when none is named).
        items = [
            self._shown(n, next(x for x in v if "default" in x["versionAliases"]))
            for n, v in self.models.items()
            if n.startswith(parent + "/") and v
        ]
        return self._page(self._filter(items, query.get("filter", "")), query, "models")

    def _model(self, params: dict[str, str]) -> tuple[str, str | None]:
        model_id, _, version = params["modelsId"].partition("@")
        name = f"{self._parent(params)}/models/{model_id}"
        if name not in self.models:
            raise ApiError(404, f"{name} not found", "NOT_FOUND")
        return name, version or None

    def _models_listVersions(self, params: dict[str, str], query: dict[str, str], _: Any) -> Any:
        name, _ = self._model(params)
        shown = [self._shown(name, v) for v in self.models[name]]
        return self._page(self._filter(shown, query.get("filter", "")), query, "models")

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
        return self._shown(name, target)

    def _models_deleteVersion(self, params: dict[str, str], query: Any, _: Any) -> Any:
        name, version = self._model(params)
        versions = self.models[name]
        gone = next((v for v in versions if v["versionId"] == version), None)
        if gone is None:
            raise ApiError(404, f"{name}@{version} not found", "NOT_FOUND")
        if len(versions) == 1:
            raise ApiError(400, f"{name}: cannot delete the only version", "FAILED_PRECONDITION")
        if self._deployed(name, str(version)):
            raise ApiError(400, f"{name}@{version} is deployed", "FAILED_PRECONDITION")
        if "default" in gone["versionAliases"]:
            # What deleting the default version of several does is not documented for
            # Vertex (ml v1's versions.delete refuses it, [DISC] in gcp-api.md; our own
            # notes once said the alias moves); the fake takes the strict reading, so a
            # client must move "default" first (models.mergeVersionAliases).
            raise ApiError(400, f"{name}@{version} is the default version", "FAILED_PRECONDITION")
        self.models[name] = [v for v in versions if v["versionId"] != version]
        return self._operation(name, {})

    def _models_mergeVersionAliases(
        self, params: dict[str, str], query: Any, body: dict[str, Any]
    ) -> Any:
        # MergeVersionAliasesRequest (aiplatform v1 discovery document, checked
        # 2026-12-07): "-alias" removes one; an alias names one version of a model, so
        # adding it moves it; a model keeps its "default".
        name, version = self._model(params)
        target = next((v for v in self.models[name] if v["versionId"] == version), None)
        if target is None:
            raise ApiError(404, f"{name}@{version} not found", "NOT_FOUND")
        wanted = body.get("versionAliases") or []
        if not wanted:
            raise ApiError(400, "mergeVersionAliases: versionAliases is required")
        for alias in wanted:
            bare = alias.removeprefix("-")
            if not ALIAS.match(bare) or bare.isdigit():
                raise ApiError(400, f"mergeVersionAliases: invalid version alias {alias}")
            if alias == "-default":
                raise ApiError(400, "mergeVersionAliases: a model keeps its default version")
        for alias in wanted:
            if alias.startswith("-"):
                target["versionAliases"] = [a for a in target["versionAliases"] if a != alias[1:]]
                continue
            for other in self.models[name]:
                other["versionAliases"] = [a for a in other["versionAliases"] if a != alias]
            target["versionAliases"] = [*target["versionAliases"], alias]
        return self._shown(name, target)

    def _models_delete(self, params: dict[str, str], query: Any, _: Any) -> Any:
        name, _ = self._model(params)
        if any(self._deployed(name, v["versionId"]) for v in self.models[name]):
            raise ApiError(400, f"{name} has deployed versions", "FAILED_PRECONDITION")
        del self.models[name]
        self.model_labels.pop(name, None)
        self._version_ids.pop(name, None)  # a model made again under this id is a new one
        return self._operation(name, {})

    def _models_operations_get(self, params: dict[str, str], query: Any, _: Any) -> Any:
        model = f"{self._parent(params)}/models/{params['modelsId']}"
        return self._get_operation(f"{model}/operations/{params['operationsId']}")

    def _endpoints_operations_get(self, params: dict[str, str], query: Any, _: Any) -> Any:
        endpoint = f"{self._parent(params)}/endpoints/{params['endpointsId']}"
        return self._get_operation(f"{endpoint}/operations/{params['operationsId']}")

    def _get_operation(self, name: str) -> Any:
        self._settle(polled=name)
        if name not in self.operations:
            raise ApiError(404, f"{name} not found", "NOT_FOUND")
        return self.operations[name]

    # Endpoints -------------------------------------------------------------------------

    def _projects_timeSeries_list(self, params: dict[str, str], query: Any, _: Any) -> Any:
        if params.get("projectsId") != self.project:
            raise ApiError(404, f"project {params.get('projectsId')} not found", "NOT_FOUND")
        return self.monitoring.list(self.project, query)

    def served(
        self, model: str, version: str, requests: int, errors: int, latency_ms: list[float]
    ) -> None:
        """Say that ``version`` (a deployment's display name) on ``model``'s endpoint
        served these, now (Cloud Monitoring's view of it)."""
        for name, endpoint in self.endpoints.items():
            if endpoint.get("displayName") != model:
                continue
            for deployed in endpoint["deployedModels"]:
                if deployed.get("displayName") == version:
                    self.monitoring.record(
                        name.rsplit("/", 1)[1], str(deployed["id"]), requests, errors, latency_ms
                    )
                    return
        raise KeyError(f"{version} is not deployed on an endpoint of {model}")

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
            "createTime": now(),
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

    def _check_split(self, split: dict[str, int], ids: set[str], where: str) -> None:
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
            ids = {d["id"] for d in endpoint["deployedModels"]}
            self._check_split(body.get("trafficSplit", {}), ids, "endpoints.patch")
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
        chosen = deployed.get("id")
        if chosen is not None and not DEPLOYED_ID.match(str(chosen)):
            raise ApiError(400, f"deployModel: DeployedModel.id {chosen} is not 1-10 digits")
        if chosen is not None and (
            chosen in {d["id"] for d in endpoint["deployedModels"]}
            or chosen in self.deploying.get(endpoint["name"], set())
        ):
            # The id is the deployment's: taken while it deploys, and after.
            raise ApiError(409, f"DeployedModel {chosen} already exists", "ALREADY_EXISTS")
        deployed["id"] = str(chosen or next(self._ids))
        deployed["modelVersionId"] = version
        split = dict(body.get("trafficSplit") or {})
        if "0" in split:
            split[deployed["id"]] = split.pop("0")
        if split:
            ids = {d["id"] for d in endpoint["deployedModels"]} | {deployed["id"]}
            self._check_split(split, ids, "deployModel")
        deploying = self.deploying.setdefault(endpoint["name"], set())
        deploying.add(deployed["id"])

        def add() -> None:
            deploying.discard(deployed["id"])
            endpoint["deployedModels"].append(deployed)
            # A non-empty split replaces the endpoint's; an empty one leaves it
            # (DeployModelRequest.trafficSplit, aiplatform v1 discovery document).
            if split:
                endpoint["trafficSplit"] = split

        return self._operation(endpoint["name"], {"deployedModel": deployed}, add)

    def _endpoints_undeployModel(self, params: dict[str, str], query: Any, body: Any) -> Any:
        endpoint = self._endpoint(params)
        gone = body["deployedModelId"]
        if gone not in {d["id"] for d in endpoint["deployedModels"]}:
            raise ApiError(400, f"undeployModel: {gone} is not deployed")
        remaining = [d for d in endpoint["deployedModels"] if d["id"] != gone]
        # "A DeployedModel will be successfully undeployed only if it doesn't have any
        # traffic assigned to it when this method executes, or if this field unassigns
        # any traffic to it"; "If last DeployedModel is being undeployed from the
        # Endpoint, the traffic_split will always end up empty" (UndeployModelRequest.
        # trafficSplit, aiplatform v1 discovery document, checked 2026-12-02). An empty
        # map is an absent one (proto3 maps have no presence).
        split = body.get("trafficSplit") or endpoint["trafficSplit"]
        if remaining and split.get(gone):
            raise ApiError(400, f"undeployModel: {gone} still has traffic")
        if remaining:
            self._check_split(split, {d["id"] for d in remaining}, "undeployModel")
        endpoint["deployedModels"] = remaining
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
            "crc32c": crc32c(data),
            "generation": str(next(self._generations)),
            "timeCreated": now(),
            "updated": now(),
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

    def _objects_rewrite(self, params: dict[str, str], query: dict[str, str], _: Any) -> Any:
        """A server-side copy. Google may answer ``done: false`` with a
        ``rewriteToken`` to send again (storage v1 discovery document, revision 20261009,
        ``objects.rewrite``; cloud.google.com/storage/docs/json_api/v1/objects/rewrite,
        checked 2026-12-07): the fake does so for the first call of every object when
        ``faults.rewrite_in_steps`` is set, so a client that stops at the first answer
        leaves no object."""
        source = self.objects.get((params["sourceBucket"], params["sourceObject"]))
        if source is None:
            raise ApiError(404, "No such object", "notFound")
        data = source["data"]
        if self.faults.rewrite_in_steps and query.get("rewriteToken") is None:
            return {
                "kind": "storage#rewriteResponse",
                "totalBytesRewritten": str(len(data) // 2),
                "objectSize": str(len(data)),
                "done": False,
                "rewriteToken": f"token-{params['sourceObject']}",
            }
        meta = self._store(params["destinationBucket"], params["destinationObject"], data)
        return {
            "kind": "storage#rewriteResponse",
            "totalBytesRewritten": str(len(data)),
            "objectSize": str(len(data)),
            "done": True,
            "resource": meta,
        }

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


@dataclass
class Task:
    """What a simulated trainer is given: its arguments and environment, and the
    bucket to write to."""

    fake: FakeGcp
    args: list[str]
    env: dict[str, str]

    def flag(self, name: str) -> str | None:
        return next((a.split("=", 1)[1] for a in self.args if a.startswith(f"--{name}=")), None)

    def export(self, folder: str) -> None:
        """Write a SavedModel into ``folder`` (a gs:// URI)."""
        export = folder.rstrip("/")
        self.fake._put_object(f"{export}/saved_model.pb", b"a SavedModel")
        self.fake._put_object(f"{export}/variables/variables.index", b"variables")


def template_trainer(task: Task) -> None:
    """As mlapply's templates: the model into AIP_MODEL_DIR when Vertex sets it, else
    a timestamped folder under --output_dir."""
    if "AIP_MODEL_DIR" in task.env:
        task.export(task.env["AIP_MODEL_DIR"])
        return
    output = task.flag("output_dir")
    if output:
        task.export(f"{output.rstrip('/')}/export/{int(time.time() * 1000)}")


def output_dir_trainer(task: Task) -> None:
    """A trainer written for ML Engine: it exports under --output_dir, joined with the
    trial from TF_CONFIG when there is one (the ML Engine samples' way), and never reads
    AIP_MODEL_DIR."""
    output = task.flag("output_dir")
    if not output:
        return
    trial = json.loads(task.env.get("TF_CONFIG", "{}")).get("task", {}).get("trial", "")
    folder = f"{output.rstrip('/')}/{trial}".rstrip("/")
    task.export(f"{folder}/export/{int(time.time() * 1000)}")


def _trial_value(parameter: dict[str, Any], number: int) -> Any:
    if "doubleValueSpec" in parameter:
        low = parameter["doubleValueSpec"]["minValue"]
        return low * number
    if "integerValueSpec" in parameter:
        return int(parameter["integerValueSpec"]["minValue"]) + number
    values = (parameter.get("categoricalValueSpec") or parameter["discreteValueSpec"])["values"]
    return values[number % len(values)]


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
            MLAPPLY_ML_ENDPOINT=url,
            MLAPPLY_STORAGE_ENDPOINT=url,
            MLAPPLY_GCP_ANONYMOUS="1",
            MLAPPLY_GCP_RETRY_BASE_SECONDS="0.01",
            MLAPPLY_VERTEX_POLL_SECONDS=str(poll_seconds),
            MLAPPLY_MLENGINE_POLL_SECONDS=str(poll_seconds),
        )
        try:
            yield url
        finally:
            os.environ.clear()
            os.environ.update(saved)
