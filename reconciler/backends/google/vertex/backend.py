"""The Vertex AI backend: CustomJobs, Models with versions, one Endpoint per model.

Live state is read in bulk, one paginated list per collection, filtered by the
stack label: custom jobs, tuning jobs, endpoints, models, and each model's
versions. What Vertex does not keep (the essence a plan recorded) is in one
records object in the staging bucket, read once per plan.

Vertex assigns job ids, so a job is found by its labels and display name:
before a create, the same list is asked, and a create whose answer was lost
is looked up, never blindly sent again.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from typing import Any, TypeVar, cast

from reconciler.backends import exports
from reconciler.backends.base import (
    JobState,
    JobSubmission,
    LiveJob,
    LiveModel,
    LiveSnapshot,
    LiveVersion,
    VersionDeployment,
    VersionState,
)
from reconciler.backends.compiled import DEFAULT_OUTPUT, CompiledJob, OutputLayout
from reconciler.backends.facets import Driver, Jobs, Serving, StackLock, Studies
from reconciler.backends.google import operations
from reconciler.backends.google.client import Caller, build_service, credentials
from reconciler.backends.google.errors import (
    AlreadyExists,
    GoogleApiError,
    NotFound,
)
from reconciler.backends.google.once import at_most_once
from reconciler.backends.google.paging import list_all
from reconciler.backends.google.records import Records
from reconciler.backends.google.staging import Staging
from reconciler.backends.google.storage import Bucket, remote_lister
from reconciler.backends.google.times import seconds
from reconciler.backends.google.vertex import bodies, catalogue, images
from reconciler.backends.google.vertex.profile import settings_problem
from reconciler.diagnostics import MlapplyError
from reconciler.identity.content import RemoteLister
from reconciler.stack.resources import (
    LABEL_HASH,
    LABEL_NAME,
    LABEL_STACK,
    StackSettings,
    TrainingImage,
)

OPERATION_TIMEOUT = 3600.0
UPLOAD_SETTLE_POLLS = 10


Method = TypeVar("Method", bound=Callable[..., None])


def _one_model_at_a_time(model_of: Callable[..., str]) -> Callable[[Method], Method]:
    """Changes to one model's endpoint and versions, made one at a time: each reads
    the endpoint (its deployments, its traffic) and writes from what it read, so
    two at once would undo or refuse each other's. ``model_of`` takes the
    method's arguments and names the model."""

    def wrap(method: Method) -> Method:
        @functools.wraps(method)
        def serialised(self: VertexBackend, *args: Any) -> None:
            with self.model_lock(model_of(*args)):
                method(self, *args)

        return cast("Method", serialised)

    return wrap


class VertexBackend(Driver, Jobs, Studies, Serving, StackLock):
    name = "vertex"

    @classmethod
    def for_stack(cls, settings: StackSettings) -> VertexBackend:
        return cls(settings)

    def __init__(self, settings: StackSettings, caller: Caller | None = None) -> None:
        gcp = settings.gcp
        problem = settings_problem(settings)
        if problem or gcp is None or not (gcp.project and gcp.region and gcp.staging_bucket):
            raise MlapplyError(problem or "incomplete spec.gcp")
        self.stack = settings.meta.name
        self.project = gcp.project
        self.region = gcp.region
        self.service_account = gcp.service_account
        self.poll_seconds = float(os.environ.get("MLAPPLY_VERTEX_POLL_SECONDS") or 15)
        self.operation_seconds = float(
            os.environ.get("MLAPPLY_VERTEX_OPERATION_SECONDS") or OPERATION_TIMEOUT
        )
        self.caller = caller or Caller()
        self.parent = f"projects/{self.project}/locations/{self.region}"
        self.staging = Staging(lambda: self.bucket, gcp.staging_bucket, settings.local.home)
        self.records = Records(lambda: self.bucket, self.staging.prefix)
        self._local = threading.local()
        self._credentials: Any = None
        self._build_lock = threading.Lock()
        self._model_locks: dict[str, threading.RLock] = {}

    # Clients ---------------------------------------------------------------------------

    def _service(self, api: str) -> Any:
        # httplib2 connections are not thread-safe: one client per thread.
        services = self._local.__dict__.setdefault("services", {})
        if api not in services:
            with self._build_lock:
                if self._credentials is None:
                    self._credentials = credentials()
            root = (
                f"https://{self.region}-aiplatform.googleapis.com/" if api == "aiplatform" else None
            )
            services[api] = build_service(api, "v1", self._credentials, root)
        return services[api]

    @property
    def ai(self) -> Any:
        return self._service("aiplatform").projects().locations()

    @property
    def bucket(self) -> Bucket:
        return Bucket(self.caller, self._service("storage"), self.staging.bucket_name)

    def _call(self, request: Any, what: str, *, retry: bool = True) -> Any:
        return self.caller.execute(request, what, retry=retry)

    def _wait(self, operation: dict[str, Any], what: str) -> dict[str, Any]:
        return operations.wait(
            self.caller,
            self._service("aiplatform"),
            operation,
            what,
            timeout=self.operation_seconds,
        )

    # Reading ---------------------------------------------------------------------------

    def remote_lister(self) -> RemoteLister:
        return remote_lister(self.caller, lambda: self._service("storage"))

    def _stack_filter(self, stack: str, display_name: str | None = None) -> str:
        return bodies.filter_labels({LABEL_STACK: stack}, display_name)

    def _jobs(
        self, stack: str, display_name: str | None = None, hash_: str | None = None
    ) -> list[dict[str, Any]]:
        labels = {LABEL_STACK: stack} if hash_ is None else {LABEL_STACK: stack, LABEL_HASH: hash_}
        return self._list_jobs(bodies.filter_labels(labels, display_name))

    def _list_jobs(self, query: str) -> list[dict[str, Any]]:
        """Custom and tuning jobs matching a list filter."""
        found: list[dict[str, Any]] = []
        for collection, key, what in (
            (self.ai.customJobs(), "customJobs", "list custom jobs"),
            (self.ai.hyperparameterTuningJobs(), "hyperparameterTuningJobs", "list tuning jobs"),
        ):
            found += list_all(
                self.caller, collection, what, key, parent=self.parent, filter=query, pageSize=100
            )
        return found

    def _job_collection(self, found: Mapping[str, Any]) -> Any:
        if "/hyperparameterTuningJobs/" in found["name"]:
            return self.ai.hyperparameterTuningJobs()
        return self.ai.customJobs()

    def _with_trials(self, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Lists omit a tuning job's trials (ListHyperparameterTuningJobsResponse,
        aiplatform v1 reference, checked 2026-12-02): the newest finished tuning job
        of each manifest, the one a version deploys from, is read whole."""
        newest: dict[str, dict[str, Any]] = {}
        for job in found:
            if "/hyperparameterTuningJobs/" not in job["name"] or not _job_state(job).finished:
                continue
            manifest = job.get("labels", {}).get(LABEL_NAME, "")
            if manifest not in newest or job.get("createTime", "") > newest[manifest].get(
                "createTime", ""
            ):
                newest[manifest] = job
        whole = {
            job["name"]: self._call(
                self.ai.hyperparameterTuningJobs().get(name=job["name"]),
                f"get tuning job {job.get('displayName')}",
            )
            for job in newest.values()
        }
        return [whole.get(job["name"], job) for job in found]

    def _live_job(self, found: dict[str, Any], records: dict[str, Any]) -> LiveJob:
        name = str(found.get("displayName", ""))
        recorded = records.get("jobs", {}).get(name, {})
        error = found.get("error", {}).get("message") if found.get("error") else None
        study = bodies.study_of(found)
        return LiveJob(
            name,
            dict(recorded.get("labels") or found.get("labels", {})),
            _job_state(found),
            seconds(found.get("createTime")),
            seconds(found.get("startTime")),
            seconds(found.get("endTime")),
            error,
            recorded.get("spec"),
            metrics=study.metrics,
            trials=study.trials,
            best_trial=study.best,
            console_url=bodies.console_url(str(found.get("name", ""))),
        )

    def read_live(self, stack: str) -> LiveSnapshot:
        records = self.records.read(stack)
        found_jobs = self._with_trials(self._jobs(stack))
        jobs = tuple(self._live_job(j, records) for j in found_jobs)
        query = self._stack_filter(stack)
        endpoints = list_all(
            self.caller,
            self.ai.endpoints(),
            "list endpoints",
            "endpoints",
            parent=self.parent,
            filter=query,
        )
        models = list_all(
            self.caller, self.ai.models(), "list models", "models", parent=self.parent, filter=query
        )
        versions: list[LiveVersion] = []
        version_ids: dict[tuple[str, str], str] = {}
        # A version serves when a deployment of its live name is on its model's endpoint
        # (of this copy of it, or of another an upload sent twice made).
        serving = {
            (str(endpoint.get("displayName")), str(d.get("displayName")))
            for endpoint in endpoints
            for d in endpoint.get("deployedModels", [])
        }
        for model in models:
            model_id = model["name"].rsplit("/", 1)[1]
            listed = list_all(
                self.caller,
                self.ai.models(),
                f"list versions of {model_id}",
                "models",
                name=model["name"],
                method="listVersions",
            )
            for version in listed:
                name = bodies.live_name(version.get("versionAliases", []))
                if name is None or version.get("labels", {}).get(LABEL_STACK) != stack:
                    continue
                version_ids[(model_id, str(version.get("versionId")))] = name
                recorded = records.get("versions", {}).get(f"{model_id}/{name}") or {}
                versions.append(
                    LiveVersion(
                        name,
                        _version_labels(name, version, recorded),
                        model=model_id,
                        state=(
                            VersionState.READY
                            if (model_id, name) in serving
                            else VersionState.UPLOADED
                        ),
                        description=version.get("versionDescription", ""),
                        deployment_uri=version.get("artifactUri"),
                        create_time=seconds(version.get("versionCreateTime")),
                        spec=recorded or None,
                    )
                )
        live_models = []
        for endpoint in endpoints:
            model_id = str(endpoint.get("displayName"))
            split = endpoint.get("trafficSplit", {})
            default = None
            for deployed in endpoint.get("deployedModels", []):
                if split.get(deployed.get("id")) == 100:
                    default = version_ids.get((model_id, str(deployed.get("modelVersionId"))))
            recorded = records.get("models", {}).get(model_id, {})
            deployed = endpoint.get("deployedModels", [])
            logging = (
                all(d.get("enableAccessLogging", False) for d in deployed)
                if deployed
                else bool(recorded.get("onlinePredictionLogging"))
            )
            live_models.append(
                LiveModel(
                    model_id,
                    dict(endpoint.get("labels", {})),
                    description=endpoint.get("description", ""),
                    region=self.region,
                    online_prediction_logging=logging,
                    default_version=default,
                    create_time=seconds(endpoint.get("createTime")),
                    console_url=bodies.console_url(str(endpoint.get("name", ""))),
                )
            )
        packages = self.staging.packages(stack)
        return LiveSnapshot(stack, jobs, tuple(live_models), tuple(versions), packages)

    # Lock ------------------------------------------------------------------------------

    def lock(
        self, stack: str, timeout: float, note: Callable[[str], None] = lambda _: None
    ) -> AbstractContextManager[str]:
        return self.staging.lock(stack, timeout, note)

    def unlock(self, stack: str, lock_id: str) -> str:
        return self.staging.unlock(stack, lock_id)

    # Jobs ------------------------------------------------------------------------------

    def submit_study(self, submission: JobSubmission) -> None:
        """A HyperparameterTuningJob: its trials are CustomJobs of the same spec."""
        self.submit_job(submission)

    def submit_job(self, submission: JobSubmission) -> None:
        record, job = submission.record, submission.job
        stack = record.stack or ""
        if self._find_job(stack, record.name, record.hash) is not None:
            return  # submitted before (an earlier apply's answer was lost)
        job_dir = self.staging.job_dir(stack, record.name)
        args = job.argv(job_dir, lambda inputs, pattern: self.staging.data(stack, inputs, pattern))
        spec: dict[str, Any] = {
            "workerPoolSpecs": bodies.worker_pools(job.pools, self._program(stack, job, args)),
            "baseOutputDirectory": {"outputUriPrefix": job_dir + "/"},
        }
        if job.timeout_seconds:
            spec["scheduling"] = {"timeout": f"{int(job.timeout_seconds)}s"}
        if self.service_account:
            spec["serviceAccount"] = self.service_account
        labels = dict(record.labels)
        self.records.put(stack, "jobs", record.name, {"spec": record.spec, "labels": labels})
        if job.tuning is None:
            collection = self.ai.customJobs()
            body: dict[str, Any] = {"displayName": record.name, "labels": labels, "jobSpec": spec}
        else:
            tuning = job.tuning
            collection = self.ai.hyperparameterTuningJobs()
            body = {
                "displayName": record.name,
                "labels": labels,
                "studySpec": bodies.study_spec(tuning),
                "maxTrialCount": tuning.max_trials,
                "parallelTrialCount": tuning.max_parallel_trials,
                "maxFailedTrialCount": tuning.max_failed_trials,
                "trialJobSpec": spec,
            }
        at_most_once(
            self.caller,
            f"create job {record.name}",
            lambda: self._call(
                collection.create(parent=self.parent, body=body),
                f"create job {record.name}",
                retry=False,
            ),
            lambda: self._find_job(stack, record.name, record.hash) is not None,
        )

    def _program(self, stack: str, job: CompiledJob, args: list[str]) -> dict[str, Any]:
        """What every pool runs: the user's container (the trainer inside it), or the
        package on an executor image (the one named, else the prebuilt image of the
        runtime and the machines' kind)."""
        image = job.image or TrainingImage()
        env = {"env": bodies.env_vars(job.env)} if job.env else {}
        if image.container:
            return {
                "containerSpec": {
                    "imageUri": image.container,
                    "command": list(image.command) or ["python3", "-m", job.module],
                    "args": [*args, *image.args],
                    **env,
                }
            }
        executor = image.executor or images.training_image(
            job.runtime_version, images.kind_of(job.pools), self.region
        )
        return {
            "pythonPackageSpec": {
                "executorImageUri": executor,
                "packageUris": self.staging.package_uris(stack, job),
                "pythonModule": job.module,
                "args": args,
                **env,
            }
        }

    def _find_job(self, stack: str, name: str, hash_: str | None = None) -> dict[str, Any] | None:
        """The job with this display name (and identity hash) in the stack, by one list."""
        found = self._jobs(stack, display_name=name, hash_=hash_)
        return found[0] if found else None

    def get_job(self, stack: str, name: str) -> LiveJob | None:
        found = self._find_job(stack, name)
        if found is None:
            return None
        (whole,) = self._with_trials([found])
        return self._live_job(whole, {})

    def cancel_job(self, name: str) -> None:
        for found in self._jobs(self.stack, name):  # never another stack's job of that name
            if _job_state(found).finished:
                continue
            try:
                self._call(
                    self._job_collection(found).cancel(name=found["name"], body={}),
                    f"cancel job {name}",
                )
            except GoogleApiError as exc:
                if exc.status not in (400, 404):  # finished meanwhile
                    raise

    def relabel_job(self, job: LiveJob) -> None:
        # Vertex jobs' labels cannot change after create; mlapply records the new ones.
        self.records.put(
            job.stack or "", "jobs", job.name, {"spec": job.spec, "labels": dict(job.labels)}
        )

    def export_of(self, stack: str, job: LiveJob, export_path: str | None) -> str:
        records = self.records.read(stack)
        recorded = records.get("jobs", {}).get(job.name, {}).get("spec") or {}
        essence = recorded.get("essence") or {}
        layout = OutputLayout(essence.get("outputDir") or DEFAULT_OUTPUT)
        job_dir = f"{self.staging.prefix(stack)}jobs/{job.name}"
        tuning = essence.get("hyperparameterTuning")
        out = layout.output_dir(job_dir)
        if tuning:
            if job.best_trial is None:
                raise MlapplyError(
                    f"tuning job {job.name} has no succeeded trial reporting {tuning['metric']}"
                )
            # The best trial's own job dir: its AIP_MODEL_DIR is <trial dir>/model/.
            job_dir = layout.trial_dir(job_dir, job.best_trial)
            out = job_dir

        try:
            found = exports.find_export(
                job.name, out, job_dir, export_path, self.staging.saved_models
            )
        except exports.NoExport as exc:
            if not tuning:
                raise
            raise exports.NoExport(
                f"the best trial of {exc.message}",
                "on Vertex AI each trial writes its model to its own AIP_MODEL_DIR "
                "(<job dir>/<trial id>/model/): Vertex passes no per-trial flag, and no "
                "TF_CONFIG to a single replica, so a trainer that only writes under "
                "--output_dir writes every trial to one folder",
            ) from exc
        return self.bucket.uri(found)

    # Models: one Endpoint each -------------------------------------------------------

    def model_lock(self, model: str) -> threading.RLock:
        with self._build_lock:
            return self._model_locks.setdefault(model, threading.RLock())

    def _endpoint_name(self, model: str) -> str:
        return f"{self.parent}/endpoints/{bodies.endpoint_id(model)}"

    def _endpoint(self, model: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self._call(
                self.ai.endpoints().get(name=self._endpoint_name(model)), f"get endpoint {model}"
            )
        except NotFound:
            return None
        return found

    def put_model(self, model: LiveModel) -> None:
        body = {
            "displayName": model.name,
            "description": model.description,
            "labels": dict(model.labels),
        }
        stack = model.stack or ""
        self.records.put(
            stack,
            "models",
            model.name,
            {"onlinePredictionLogging": model.online_prediction_logging},
        )
        if self._endpoint(model.name) is None:
            try:
                operation = self._call(
                    self.ai.endpoints().create(
                        parent=self.parent, endpointId=bodies.endpoint_id(model.name), body=body
                    ),
                    f"create endpoint {model.name}",
                )
                self._wait(operation, f"create endpoint {model.name}")
                return
            except AlreadyExists:
                pass  # an earlier attempt made it
        self._call(
            self.ai.endpoints().patch(
                name=self._endpoint_name(model.name),
                updateMask="displayName,description,labels",
                body=body,
            ),
            f"update endpoint {model.name}",
        )

    @_one_model_at_a_time(lambda name: name)
    def delete_model(self, name: str) -> None:
        endpoint = self._endpoint(name)
        if endpoint is not None:
            split = endpoint.get("trafficSplit", {})
            # Zero-traffic deployments first, as Google's SDK does (Endpoint.undeploy_all):
            # each undeploy then leaves the traffic on a model still deployed.
            order = sorted(endpoint.get("deployedModels", []), key=lambda d: split.get(d["id"], 0))
            for deployed in order:
                self._undeploy(name, str(deployed["id"]))
            self._delete(
                self.ai.endpoints().delete(name=endpoint["name"]), f"delete endpoint {name}"
            )
        self._delete(
            self.ai.models().delete(name=f"{self.parent}/models/{name}"), f"delete model {name}"
        )

    def _delete(self, request: Any, what: str) -> None:
        """A delete and its operation; one whose target is already gone is done."""
        with suppress(NotFound):
            self._wait(self._call(request, what), what)

    # Versions: Model versions deployed to the model's Endpoint ------------------------

    def _versions(self, model: str) -> list[dict[str, Any]]:
        try:
            return list_all(
                self.caller,
                self.ai.models(),
                f"list versions of {model}",
                "models",
                name=f"{self.parent}/models/{model}",
                method="listVersions",
            )
        except NotFound:
            return []

    def _version(self, model: str, name: str) -> dict[str, Any] | None:
        wanted = bodies.alias(name)
        return next(
            (v for v in self._versions(model) if wanted in v.get("versionAliases", [])), None
        )

    def _logging(self, stack: str, model: str) -> bool:
        recorded = self.records.read(stack).get("models", {}).get(model, {})
        return bool(recorded.get("onlinePredictionLogging"))

    @_one_model_at_a_time(lambda deployment: deployment.record.model)
    def deploy_version(self, deployment: VersionDeployment) -> None:
        version, export = deployment
        stack = version.stack or ""
        essence = (version.spec or {}).get("essence", {})
        if not export.startswith("gs://"):
            export = self.staging.saved_model(stack, version.model, version.name, Path(export))
        self._record_version(version)
        found = self._version(version.model, version.name)
        if found is None:
            found = self._upload_version(version, export, essence)
        if self._endpoint(version.model) is None:
            raise MlapplyError(f"model {version.model} has no endpoint; apply its Model first")
        self._ensure_deployed(
            version.model,
            version.name,
            _version_resource(found),
            bodies.prediction_resources(essence),
            self._logging(stack, version.model),
        )
        self._sweep_orphans(version.model)

    def _record_version(self, version: LiveVersion) -> None:
        """What Vertex does not keep apart: the version's spec and its own labels."""
        stack, key = version.stack or "", f"{version.model}/{version.name}"
        before = self.records.read(stack).get("versions", {}).get(key)
        spec = exports.keep_deployed(version.spec or {}, before) or {}
        self.records.put(stack, "versions", key, {**spec, "labels": dict(version.labels)})

    def _ensure_deployed(
        self,
        model: str,
        display: str,
        resource: str,
        resources: Mapping[str, Any],
        logging: bool,
    ) -> None:
        """``display`` deployed as the DeployedModel mlapply's id names, and no other
        deployment of it left: an older one (of another setting) hands its traffic
        over, then goes."""
        wanted = bodies.deployed_model_id(display, logging)
        endpoint = self._endpoint(model) or {}
        mine = [d for d in endpoint.get("deployedModels", []) if d.get("displayName") == display]
        if not any(str(d["id"]) == wanted for d in mine):
            self._deploy(model, endpoint, display, resource, resources, logging, wanted)
        for old in mine:
            if str(old["id"]) != wanted:
                self._move_traffic(model, str(old["id"]), wanted)
                self._undeploy(model, str(old["id"]))

    def _deploy(
        self,
        model: str,
        endpoint: Mapping[str, Any],
        display: str,
        resource: str,
        resources: Mapping[str, Any],
        logging: bool,
        wanted: str,
    ) -> None:
        body = {
            "deployedModel": {
                "model": resource,
                "id": wanted,
                "displayName": display,
                "dedicatedResources": dict(resources),
                "enableAccessLogging": logging,
            },
            # The first deployment takes the traffic; a later one none until it is made
            # the default (an empty split leaves the endpoint's as it is).
            "trafficSplit": {} if endpoint.get("deployedModels") else {"0": 100},
        }
        what = f"deploy {display} to endpoint {model}"

        def deployed() -> bool:
            return self._deployed(model, wanted)

        def send() -> None:
            try:
                self._wait(
                    self._call(
                        self.ai.endpoints().deployModel(endpoint=endpoint["name"], body=body),
                        what,
                        retry=False,
                    ),
                    what,
                )
            except AlreadyExists:
                # Our id is taken: an earlier attempt's deployment, done or under way.
                self._await(what, deployed)

        at_most_once(self.caller, what, send, deployed)

    def _deployed(self, model: str, deployed_id: str) -> bool:
        endpoint = self._endpoint(model) or {}
        return deployed_id in {str(d["id"]) for d in endpoint.get("deployedModels", [])}

    def _await(self, what: str, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.operation_seconds
        while not done():
            if time.monotonic() > deadline:
                raise MlapplyError(
                    f"{what}: still under way after {self.operation_seconds:.0f} s",
                    "it goes on at Google; apply again later",
                )
            time.sleep(self.poll_seconds)

    def _upload_version(
        self, version: LiveVersion, export: str, essence: dict[str, Any]
    ) -> dict[str, Any]:
        runtime = str(essence.get("runtimeVersion") or catalogue.DEFAULT_RUNTIME)
        container = essence.get("servingContainer")
        model_body = {
            "displayName": version.model,
            "versionDescription": version.description,
            "versionAliases": [bodies.alias(version.name)],
            "artifactUri": export,
            "containerSpec": (
                bodies.serving_container(container)
                if container
                else {"imageUri": images.prediction_image(runtime, False, self.region)}
            ),
            "labels": dict(version.labels),
        }
        model_name = f"{self.parent}/models/{version.model}"
        exists = bool(self._versions(version.model))
        request: dict[str, Any] = {"model": model_body}
        if exists:
            request["parentModel"] = model_name
        else:
            request["modelId"] = version.model
        what = f"upload {version.name} to model {version.model}"

        def uploaded() -> bool:
            return self._version(version.model, version.name) is not None

        def settled() -> bool:
            # After a lost answer, the upload may be running: an upload sent again would
            # make a second copy, and the first, finishing later, would take the alias
            # back. So give it a while to show before sending again.
            deadline = time.monotonic() + UPLOAD_SETTLE_POLLS * self.poll_seconds
            while not uploaded():
                if time.monotonic() > deadline:
                    return False
                time.sleep(self.poll_seconds)
            return True

        def send() -> None:
            try:
                self._wait(
                    self._call(
                        self.ai.models().upload(parent=self.parent, body=request),
                        what,
                        retry=False,
                    ),
                    what,
                )
            except AlreadyExists:
                # The model id is taken: an earlier attempt's upload, done or under way.
                self._await(what, uploaded)

        at_most_once(self.caller, what, send, settled)
        found = self._version(version.model, version.name)
        if found is None:
            raise MlapplyError(f"uploading {version.name} to model {version.model} did not last")
        return found

    def _sweep_orphans(self, model: str) -> None:
        """Versions no alias of mlapply's names, and not deployed: an upload sent again
        after an answer lost while it was still running made a second copy, and the
        alias moved to the newer one (reusing an alias moves it, per the corrections in
        gcp-api.md). They serve nothing; delete them."""
        endpoint = self._endpoint(model) or {}
        serving = {str(d["model"]).rsplit("@", 1)[-1] for d in endpoint.get("deployedModels", [])}
        versions = self._versions(model)
        for found in versions:
            if bodies.live_name(found.get("versionAliases", [])) is not None:
                continue
            if str(found.get("versionId")) in serving or len(versions) < 2:
                continue
            self._delete(
                self.ai.models().deleteVersion(name=_version_resource(found)),
                f"delete the stray copy {found.get('versionId')} of {model}",
            )

    @_one_model_at_a_time(lambda version: version.model)
    def update_version(self, version: LiveVersion) -> None:
        found = self._version(version.model, version.name)
        if found is None:
            raise MlapplyError(f"model {version.model} has no version {version.name}")
        self._record_version(version)
        name = _version_resource(found)
        self._call(
            self.ai.models().patch(
                name=name,
                updateMask="labels,versionDescription",
                body={
                    "displayName": version.model,
                    "labels": dict(version.labels),
                    "versionDescription": version.description,
                },
            ),
            f"update version {version.name}",
        )

    @_one_model_at_a_time(lambda model, version: model)
    def set_default(self, model: str, version: str) -> None:
        endpoint = self._endpoint(model)
        deployed = next(
            (
                d
                for d in (endpoint or {}).get("deployedModels", [])
                if d.get("displayName") == version
            ),
            None,
        )
        if endpoint is None or deployed is None:
            raise MlapplyError(f"version {version} is not deployed on the endpoint of {model}")
        self._route(model, endpoint, {deployed["id"]: 100}, f"route {model}'s traffic to {version}")

    def _route(
        self, model: str, endpoint: Mapping[str, Any], split: dict[str, int], what: str
    ) -> None:
        if endpoint.get("trafficSplit") == split:
            return
        self._call(
            self.ai.endpoints().patch(
                name=endpoint["name"],
                updateMask="trafficSplit",
                body={"displayName": endpoint["displayName"], "trafficSplit": split},
            ),
            what,
        )

    def _move_traffic(self, model: str, old: str, new: str) -> None:
        endpoint = self._endpoint(model) or {}
        split = dict(endpoint.get("trafficSplit", {}))
        share = split.pop(old, 0)
        if not share:
            return
        split[new] = split.get(new, 0) + share
        self._route(model, endpoint, split, f"move {model}'s traffic from {old} to {new}")

    def _undeploy(self, model: str, deployed_id: str) -> None:
        """Undeploy one deployment. Vertex undeploys a model only if it has no traffic
        or the request's split moves it elsewhere, and an empty split is an absent one
        (UndeployModelRequest.trafficSplit, aiplatform v1 discovery document, checked
        2026-12-02): its share goes to the others first; the last one needs none."""
        endpoint = self._endpoint(model) or {}
        others = [
            str(d["id"]) for d in endpoint.get("deployedModels", []) if str(d["id"]) != deployed_id
        ]
        split = bodies.without(endpoint.get("trafficSplit", {}), deployed_id, others)
        body: dict[str, Any] = {"deployedModelId": deployed_id}
        if split:
            body["trafficSplit"] = split
        what = f"undeploy {deployed_id} from endpoint {model}"
        at_most_once(
            self.caller,
            what,
            lambda: self._wait(
                self._call(
                    self.ai.endpoints().undeployModel(
                        endpoint=endpoint.get("name", self._endpoint_name(model)), body=body
                    ),
                    what,
                    retry=False,
                ),
                what,
            ),
            lambda: not self._deployed(model, deployed_id),
        )

    @_one_model_at_a_time(lambda model, name: model)
    def delete_version(self, model: str, name: str) -> None:
        endpoint = self._endpoint(model)
        for deployed in (endpoint or {}).get("deployedModels", []):
            if deployed.get("displayName") == name:
                self._undeploy(model, str(deployed["id"]))
        versions = self._versions(model)
        wanted = bodies.alias(name)
        found = next((v for v in versions if wanted in v.get("versionAliases", [])), None)
        if found is None:
            return
        stack = found.get("labels", {}).get(LABEL_STACK, "")
        if len(versions) == 1:
            self._delete(
                self.ai.models().delete(name=f"{self.parent}/models/{model}"),
                f"delete model {model} (its last version {name})",
            )
        else:
            self._delete(
                self.ai.models().deleteVersion(name=_version_resource(found)),
                f"delete version {name} of {model}",
            )
        if stack:
            self.records.put(stack, "versions", f"{model}/{name}", None)

    def purge(self, stack: str) -> int:
        """Remove what destroy leaves after its plan, as the local backend does: the
        stack's finished jobs, and its objects in the staging bucket (packages, data,
        job outputs, records). Returns how many were removed."""
        removed = 0
        for found in self._jobs(stack):
            if not _job_state(found).finished:
                continue
            self._delete(
                self._job_collection(found).delete(name=found["name"]),
                f"delete job {found['name']}",
            )
            removed += 1
        return removed + self.staging.purge(stack)


def _version_labels(
    name: str, version: Mapping[str, Any], recorded: Mapping[str, Any]
) -> dict[str, str]:
    """A version's own labels. Vertex returns a version's labels merged with its
    model's (UpdateModel documentation, checked 2026-12-01), so they are the ones
    mlapply recorded when it wrote the version, and the identity hash is always the
    one its alias carries (the live name ends in it)."""
    labels = dict(recorded.get("labels") or version.get("labels", {}))
    labels[LABEL_HASH] = name.rsplit("_", 1)[-1]
    return labels


def _version_resource(version: Mapping[str, Any]) -> str:
    """``projects/.../models/M@VERSION_ID``: one version of a Vertex Model."""
    return f"{version['name'].split('@')[0]}@{version['versionId']}"


def _job_state(job: Mapping[str, Any]) -> JobState:
    return bodies.STATES.get(str(job.get("state")), JobState.QUEUED)
