"""The Cloud ML Engine backend: ``ml`` v1 jobs, models and versions, request-exact.

ML Engine takes the job id from the client, so a job's id is its live name
(``taxifare_dnn_<hash>``): a create answered 409 is the job an earlier apply
submitted, and a lost answer is checked with one ``jobs.get``. Live state is
read in bulk by the stack label: one paginated list of jobs, one of models,
one of each model's versions. Jobs run on the global endpoint; models and
versions on the region's (``https://REGION-ml.googleapis.com``, gcp-api.md
section 1). What ML Engine does not keep (the essence a plan recorded) is in
the records object in the staging bucket, as on Vertex AI.

Google shut the API down on 2025-01-31 (see the profile): this driver is for
emulators that serve ``ml`` v1 and for migrations.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from typing import Any

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
from reconciler.backends.compiled import DEFAULT_OUTPUT, OutputLayout
from reconciler.backends.facets import Driver, Jobs, Serving, StackLock, Studies
from reconciler.backends.google import operations
from reconciler.backends.google.client import Caller, build_service, credentials
from reconciler.backends.google.errors import AlreadyExists, GoogleApiError, NotFound
from reconciler.backends.google.mlengine import bodies
from reconciler.backends.google.mlengine.profile import settings_problem
from reconciler.backends.google.once import at_most_once
from reconciler.backends.google.paging import list_all
from reconciler.backends.google.records import Records
from reconciler.backends.google.staging import Staging
from reconciler.backends.google.storage import Bucket, remote_lister
from reconciler.backends.google.times import seconds
from reconciler.diagnostics import MlapplyError
from reconciler.identity.content import RemoteLister
from reconciler.stack.resources import LABEL_STACK, RESERVED_LABELS, StackSettings

OPERATION_TIMEOUT = 3600.0
ETAG_ATTEMPTS = 5
ML_ROLES = (
    "check that the credentials' account has the ML Engine Developer and Storage Object "
    "Admin roles on the project and the staging bucket"
)


class MlEngineBackend(Driver, Jobs, Studies, Serving, StackLock):
    name = "mlengine"

    @classmethod
    def for_stack(cls, settings: StackSettings) -> MlEngineBackend:
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
        # Airflow's ML Engine hook polled jobs every 30 s (gcp-api.md section 1.2).
        self.poll_seconds = float(os.environ.get("MLAPPLY_MLENGINE_POLL_SECONDS") or 30)
        self.operation_seconds = float(
            os.environ.get("MLAPPLY_MLENGINE_OPERATION_SECONDS") or OPERATION_TIMEOUT
        )
        self.caller = caller or Caller(roles=ML_ROLES)
        self.parent = f"projects/{self.project}"
        self.staging = Staging(lambda: self.bucket, gcp.staging_bucket, settings.local.home)
        self.records = Records(lambda: self.bucket, self.staging.prefix)
        self._local = threading.local()
        self._credentials: Any = None
        self._build_lock = threading.Lock()
        self._model_locks: dict[str, threading.RLock] = {}

    # Clients ---------------------------------------------------------------------------

    def _service(self, api: str, regional: bool = False) -> Any:
        # httplib2 connections are not thread-safe: one client per thread.
        services = self._local.__dict__.setdefault("services", {})
        if (api, regional) not in services:
            with self._build_lock:
                if self._credentials is None:
                    self._credentials = credentials()
            root = f"https://{self.region}-ml.googleapis.com/" if regional else None
            services[(api, regional)] = build_service(api, "v1", self._credentials, root)
        return services[(api, regional)]

    @property
    def jobs(self) -> Any:
        """Jobs, on the global endpoint."""
        return self._service("ml").projects().jobs()

    @property
    def models(self) -> Any:
        """Models and their versions, on the region's endpoint."""
        return self._service("ml", regional=True).projects().models()

    @property
    def bucket(self) -> Bucket:
        return Bucket(self.caller, self._service("storage"), self.staging.bucket_name)

    def _call(self, request: Any, what: str, *, retry: bool = True) -> Any:
        return self.caller.execute(request, what, retry=retry)

    def _wait(self, operation: dict[str, Any], what: str) -> dict[str, Any]:
        return operations.wait(
            self.caller,
            self._service("ml", regional=True),
            operation,
            what,
            timeout=self.operation_seconds,
        )

    def remote_lister(self) -> RemoteLister:
        return remote_lister(self.caller, lambda: self._service("storage"))

    # Reading ---------------------------------------------------------------------------

    def _stack_filter(self, stack: str) -> str:
        return bodies.label_filter({LABEL_STACK: stack})

    def _jobs(self, stack: str) -> list[dict[str, Any]]:
        return list_all(
            self.caller,
            self.jobs,
            "list jobs",
            "jobs",
            parent=self.parent,
            filter=self._stack_filter(stack),
            pageSize=100,
        )

    def _job(self, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self._call(
                self.jobs.get(name=f"{self.parent}/jobs/{name}"), f"get job {name}"
            )
        except NotFound:
            return None
        return found

    def _live_job(self, found: Mapping[str, Any], records: Mapping[str, Any]) -> LiveJob:
        name = str(found.get("jobId", ""))
        recorded = records.get("jobs", {}).get(name, {})
        study = bodies.study_of(found)
        return LiveJob(
            name,
            dict(found.get("labels", {})),
            bodies.STATES.get(str(found.get("state")), JobState.QUEUED),
            seconds(found.get("createTime")),
            seconds(found.get("startTime")),
            seconds(found.get("endTime")),
            found.get("errorMessage") or None,
            recorded.get("spec"),
            metrics=study.metrics,
            trials=study.trials,
            best_trial=study.best,
            console_url=bodies.console_url(self.project, name),
        )

    def read_live(self, stack: str) -> LiveSnapshot:
        records = self.records.read(stack)
        jobs = tuple(self._live_job(j, records) for j in self._jobs(stack))
        query = self._stack_filter(stack)
        models = list_all(
            self.caller, self.models, "list models", "models", parent=self.parent, filter=query
        )
        live_models: list[LiveModel] = []
        versions: list[LiveVersion] = []
        for model in models:
            model_id = model["name"].rsplit("/", 1)[1]
            default = (model.get("defaultVersion") or {}).get("name")
            live_models.append(
                LiveModel(
                    model_id,
                    dict(model.get("labels", {})),
                    description=model.get("description", ""),
                    region=(model.get("regions") or [self.region])[0],
                    online_prediction_logging=bool(model.get("onlinePredictionLogging")),
                    default_version=default.rsplit("/", 1)[1] if default else None,
                    console_url=(
                        "https://console.cloud.google.com/ai-platform/models/"
                        f"{model_id}?project={self.project}"
                    ),
                )
            )
            for version in self._versions(model_id):
                name = version["name"].rsplit("/", 1)[1]
                if version.get("labels", {}).get(LABEL_STACK) != stack:
                    continue
                versions.append(
                    LiveVersion(
                        name,
                        dict(version.get("labels", {})),
                        model=model_id,
                        # A version still being made, or whose making failed, is
                        # not serving: the next apply takes it up (deploy_version).
                        state=(
                            VersionState.READY
                            if version.get("state") == "READY"
                            else VersionState.UPLOADED
                        ),
                        description=version.get("description", ""),
                        deployment_uri=version.get("deploymentUri"),
                        create_time=seconds(version.get("createTime")),
                        error=version.get("errorMessage") or None,
                        spec=records.get("versions", {}).get(f"{model_id}/{name}") or None,
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
        """A job whose trainingInput has hyperparameters: ML Engine runs the trials."""
        self.submit_job(submission)

    def submit_job(self, submission: JobSubmission) -> None:
        record, job = submission.record, submission.job
        stack = record.stack or ""
        if self._job(record.name) is not None:
            return  # submitted before (an earlier apply's answer was lost)
        job_dir = self.staging.job_dir(stack, record.name)
        argv = job.argv(job_dir, lambda inputs, pattern: self.staging.data(stack, inputs, pattern))
        body = {
            "jobId": record.name,
            "labels": dict(record.labels),
            "trainingInput": bodies.training_input(
                job,
                bodies.job_args(job, argv, job_dir),
                job_dir,
                self.staging.package_uris(stack, job),
                self.service_account,
            ),
        }
        self.records.put(stack, "jobs", record.name, {"spec": record.spec})
        what = f"create job {record.name}"

        def create() -> None:
            # 409: the job id is ours, so an earlier attempt made it (gcp-api.md 1.7).
            with suppress(AlreadyExists):
                self._call(self.jobs.create(parent=self.parent, body=body), what, retry=False)

        at_most_once(self.caller, what, create, lambda: self._job(record.name) is not None)

    def get_job(self, stack: str, name: str) -> LiveJob | None:
        found = self._job(name)
        if found is None or found.get("labels", {}).get(LABEL_STACK) != stack:
            return None
        return self._live_job(found, {})  # polled often: no records read (as on Vertex)

    def cancel_job(self, name: str) -> None:
        found = self._job(name)
        if found is None or found.get("labels", {}).get(LABEL_STACK) != self.stack:
            return  # never another stack's job of that name
        if bodies.STATES.get(str(found.get("state")), JobState.QUEUED).finished:
            return
        try:
            self._call(
                self.jobs.cancel(name=_job_name(self.parent, name), body={}), f"cancel job {name}"
            )
        except GoogleApiError as exc:
            if exc.status != 400:  # 400: it finished meanwhile (gcp-api.md 1.7)
                raise

    def relabel_job(self, job: LiveJob) -> None:
        """jobs.patch takes labels (and the etag read with them: gcp-api.md 1.3, 1.4)."""
        self.records.put(job.stack or "", "jobs", job.name, {"spec": job.spec})
        self._patch_labels(job.name, dict(job.labels))

    def _patch_labels(self, name: str, labels: dict[str, str]) -> None:
        for _ in range(ETAG_ATTEMPTS):
            found = self._job(name)
            if found is None:
                raise MlapplyError(f"job {name} is gone")
            try:
                self._call(
                    self.jobs.patch(
                        name=_job_name(self.parent, name),
                        updateMask="labels,etag",
                        body={"labels": labels, "etag": found.get("etag")},
                    ),
                    f"relabel job {name}",
                )
                return
            except GoogleApiError as exc:
                if exc.status not in (400, 409) or "etag" not in exc.message.lower():
                    raise  # not a lost race with another writer
        raise MlapplyError(f"job {name}'s labels kept changing under {ETAG_ATTEMPTS} writes")

    def export_of(self, stack: str, job: LiveJob, export_path: str | None) -> str:
        essence = (
            self.records.read(stack).get("jobs", {}).get(job.name, {}).get("spec") or {}
        ).get("essence") or {}
        layout = OutputLayout(essence.get("outputDir") or DEFAULT_OUTPUT)
        job_dir = f"{self.staging.prefix(stack)}jobs/{job.name}"
        out = layout.output_dir(job_dir)
        tuning = essence.get("hyperparameterTuning")
        if tuning:
            # ML Engine gives every trial the same --job-dir and arguments; a trainer
            # keeps its trials apart by joining TF_CONFIG's task.trial to its output
            # dir (gcp-api.md section 3.2), as the ML Engine samples did.
            if job.best_trial is None:
                raise MlapplyError(f"tuning job {job.name} has no succeeded trial with a metric")
            out = f"{out}/{job.best_trial}"

        try:
            found_export = exports.find_export(
                job.name, out, job_dir, export_path, self.staging.saved_models
            )
        except exports.NoExport as exc:
            if not tuning:
                raise
            raise exports.NoExport(
                f"the best trial of {exc.message}",
                "on Cloud ML Engine every trial gets the same --job-dir and --output_dir: "
                "join TF_CONFIG's task.trial to the output dir, so that each trial "
                "exports to <output dir>/<trial>/",
            ) from exc
        return self.bucket.uri(found_export)

    # Models and versions ---------------------------------------------------------------

    def model_lock(self, model: str) -> threading.RLock:
        with self._build_lock:
            return self._model_locks.setdefault(model, threading.RLock())

    def _model(self, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self._call(
                self.models.get(name=f"{self.parent}/models/{name}"), f"get model {name}"
            )
        except NotFound:
            return None
        return found

    def put_model(self, model: LiveModel) -> None:
        found = self._model(model.name)
        if found is None:
            body = {
                "name": model.name,
                "description": model.description,
                "regions": [model.region or self.region],
                "onlinePredictionLogging": model.online_prediction_logging,
                "labels": dict(model.labels),
            }
            with suppress(AlreadyExists):  # an earlier attempt made it (gcp-api.md 1.7)
                self._call(
                    self.models.create(parent=self.parent, body=body),
                    f"create model {model.name}",
                )
            return
        if bool(found.get("onlinePredictionLogging")) != model.online_prediction_logging:
            raise MlapplyError(
                f"Cloud ML Engine cannot change onlinePredictionLogging of model {model.name}: "
                "models.patch takes only its description and labels (ml v1 discovery "
                "document; gcloud's models update)",
                "delete the model (remove it from the manifests and apply), then declare it "
                "again with the setting",
            )
        operation = self._call(
            self.models.patch(
                name=f"{self.parent}/models/{model.name}",
                updateMask="description,labels",
                body={"description": model.description, "labels": dict(model.labels)},
            ),
            f"update model {model.name}",
        )
        self._wait(operation, f"update model {model.name}")

    def delete_model(self, name: str) -> None:
        """Its versions first, the default one last (ML Engine refuses to delete the
        default while others remain), then the model (refused while it has versions:
        gcp-api.md 1.7, Airflow's ``_delete_all_versions``)."""
        with self.model_lock(name):
            for version in self._versions_in_deletion_order(name):
                self._delete_version(name, version["name"].rsplit("/", 1)[1])
            self._delete(
                self.models.delete(name=f"{self.parent}/models/{name}"), f"delete model {name}"
            )

    def _versions(self, model: str) -> list[dict[str, Any]]:
        try:
            return list_all(
                self.caller,
                self.models.versions(),
                f"list versions of {model}",
                "versions",
                parent=f"{self.parent}/models/{model}",
            )
        except NotFound:
            return []

    def _versions_in_deletion_order(self, model: str) -> list[dict[str, Any]]:
        return sorted(self._versions(model), key=lambda v: bool(v.get("isDefault")))

    def _version(self, model: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self._call(
                self.models.versions().get(name=_version_name(self.parent, model, name)),
                f"get version {name} of {model}",
            )
        except NotFound:
            return None
        return found

    def _delete(self, request: Any, what: str) -> None:
        """A delete and its operation; one whose target is already gone is done."""
        with suppress(NotFound):
            self._wait(self._call(request, what), what)

    def deploy_version(self, deployment: VersionDeployment) -> None:
        with self.model_lock(deployment.record.model):
            self._deploy_version(*deployment)

    def _deploy_version(self, version: LiveVersion, export: str) -> None:
        stack = version.stack or ""
        essence = (version.spec or {}).get("essence", {})
        if not export.startswith("gs://"):
            export = self.staging.saved_model(stack, version.model, version.name, Path(export))
        self._record_version(version)
        what = f"create version {version.name} of {version.model}"
        found = self._version(version.model, version.name)
        if found is not None and found.get("state") == "FAILED":
            self._delete_version(version.model, version.name)  # made again below
            found = None
        if found is None:
            body = bodies.version_body(
                version.name, version.description, export, essence, version.labels
            )

            def create() -> None:
                try:
                    operation = self._call(
                        self.models.versions().create(
                            parent=f"{self.parent}/models/{version.model}", body=body
                        ),
                        what,
                        retry=False,
                    )
                except AlreadyExists:
                    return  # an earlier attempt's, awaited below
                self._wait(operation, what)

            at_most_once(
                self.caller,
                what,
                create,
                lambda: self._version(version.model, version.name) is not None,
            )
        self._await_ready(version.model, version.name, what)

    def _await_ready(self, model: str, name: str, what: str) -> None:
        deadline = time.monotonic() + self.operation_seconds
        while True:
            found = self._version(model, name)
            state = (found or {}).get("state")
            if state == "READY":
                return
            if found is None or state == "FAILED":
                error = (found or {}).get("errorMessage") or "it is gone"
                raise MlapplyError(f"{what} failed: {error}")
            if time.monotonic() > deadline:
                raise MlapplyError(
                    f"{what}: still {state} after {self.operation_seconds:.0f} s",
                    "it goes on at Google; apply again later",
                )
            time.sleep(min(self.poll_seconds, 2.0))

    def _record_version(self, version: LiveVersion) -> None:
        """What ML Engine does not keep: the spec the plan recorded."""
        stack, key = version.stack or "", f"{version.model}/{version.name}"
        before = self.records.read(stack).get("versions", {}).get(key)
        self.records.put(stack, "versions", key, exports.keep_deployed(version.spec or {}, before))

    def update_version(self, version: LiveVersion) -> None:
        """versions.patch: its description and labels (gcp-api.md 1.4)."""
        with self.model_lock(version.model):
            self._record_version(version)
            what = f"update version {version.name} of {version.model}"
            operation = self._call(
                self.models.versions().patch(
                    name=_version_name(self.parent, version.model, version.name),
                    updateMask="description,labels",
                    body={"description": version.description, "labels": dict(version.labels)},
                ),
                what,
            )
            self._wait(operation, what)

    def set_default(self, model: str, version: str) -> None:
        with self.model_lock(model):
            self._call(
                self.models.versions().setDefault(
                    name=_version_name(self.parent, model, version), body={}
                ),
                f"make {version} the default version of {model}",
            )

    def delete_version(self, model: str, name: str) -> None:
        with self.model_lock(model):
            self._delete_version(model, name)

    def _delete_version(self, model: str, name: str) -> None:
        """ML Engine deletes the default version only when it is the last one
        (versions.delete, ml v1 discovery document): a default going while others
        stay hands the default to the newest of them first."""
        versions = self._versions(model)
        target = next((v for v in versions if v["name"].endswith(f"/versions/{name}")), None)
        if target is None:
            return
        others = [v for v in versions if v is not target]
        if target.get("isDefault") and others:
            newest = max(others, key=lambda v: str(v.get("createTime", "")))
            self.set_default(model, newest["name"].rsplit("/", 1)[1])
        self._delete(
            self.models.versions().delete(name=_version_name(self.parent, model, name)),
            f"delete version {name} of {model}",
        )
        stack = target.get("labels", {}).get(LABEL_STACK, "")
        if stack:
            self.records.put(stack, "versions", f"{model}/{name}", None)

    def purge(self, stack: str) -> int:
        """What destroy leaves: ml v1 has no jobs.delete, so the stack's finished jobs
        lose mlapply's labels (they stay in the project's job history, no longer the
        stack's), and the stack's objects in the staging bucket go. How many."""
        removed = 0
        for found in self._jobs(stack):
            if not bodies.STATES.get(str(found.get("state")), JobState.QUEUED).finished:
                continue
            labels = {k: v for k, v in found.get("labels", {}).items() if k not in RESERVED_LABELS}
            self._patch_labels(str(found["jobId"]), labels)
            removed += 1
        return removed + self.staging.purge(stack)


def _job_name(parent: str, job: str) -> str:
    return f"{parent}/jobs/{job}"


def _version_name(parent: str, model: str, version: str) -> str:
    return f"{parent}/models/{model}/versions/{version}"
