"""What the Google drivers share: one core under Vertex AI's and Cloud ML Engine's.

A session (credentials once, one client per API and thread: httplib2
connections are not thread-safe), calls with retries (``client.Caller``),
waits on long-running operations, one lock per model (changes to a model's
versions are read-then-write), the staging bucket (its lock, packages, data
and SavedModels: ``staging``), the records mlapply keeps beside what the API
keeps (``records``), the search for a job's export, and purge. ``vertex/`` and
``mlengine/`` hold only what differs: their API, their request bodies, how
they read their answers back, and where a tuning trial writes.
"""

from __future__ import annotations

import functools
import os
import threading
from abc import abstractmethod
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, suppress
from typing import Any, ClassVar, TypeVar, cast

from reconciler.backends import exports
from reconciler.backends.base import LiveJob, LiveVersion
from reconciler.backends.compiled import OutputLayout
from reconciler.backends.facets import Driver, StackLock
from reconciler.backends.google import operations
from reconciler.backends.google.client import Caller, build_service, credentials
from reconciler.backends.google.errors import NotFound
from reconciler.backends.google.records import Records
from reconciler.backends.google.settings import GcpSettings
from reconciler.backends.google.staging import Staging
from reconciler.backends.google.storage import Bucket, remote_lister
from reconciler.backends.profile import Profile
from reconciler.backends.recorded import JobRecord, keep_history
from reconciler.backends.settings import own
from reconciler.diagnostics import MlapplyError
from reconciler.identity.content import RemoteLister
from reconciler.stack.resources import StackSettings

OPERATION_TIMEOUT = 3600.0

Method = TypeVar("Method", bound=Callable[..., None])


def one_model_at_a_time(model_of: Callable[..., str]) -> Callable[[Method], Method]:
    """Changes to one model's versions (and endpoint), made one at a time: each reads
    them (deployments, traffic, the default) and writes from what it read, so two at
    once would undo or refuse each other's. ``model_of`` takes the method's
    arguments and names the model."""

    def wrap(method: Method) -> Method:
        @functools.wraps(method)
        def serialised(self: GoogleDriver, *args: Any) -> None:
            with self.model_lock(model_of(*args)):
                method(self, *args)

        return cast("Method", serialised)

    return wrap


class GoogleDriver(Driver, StackLock):
    """The shared core; a subclass names its product and API."""

    name: str
    profile: ClassVar[Profile]
    """Its profile: the settings it needs (``settings_problem``), among the rest."""
    variable: ClassVar[str]
    """``MLAPPLY_<VARIABLE>_POLL_SECONDS`` and ``_OPERATION_SECONDS`` set the pace."""
    default_poll_seconds: ClassVar[float]
    roles: ClassVar[str | None] = None
    """What a permission error says to grant (None: Vertex AI's roles)."""
    trial_hint: ClassVar[str]
    """What to do when the best trial of a study exported nothing where it should."""
    api: ClassVar[str]
    """The API (``aiplatform``, ``ml``), v1."""
    regional_root: ClassVar[str]
    """The root of its region's endpoint, ``{region}`` filled in; its operations live there."""
    parent_format: ClassVar[str]
    """The parent of its collections, ``{project}`` and ``{region}`` filled in."""

    def __init__(self, settings: StackSettings, caller: Caller | None = None) -> None:
        problem = self.profile.settings_problem(settings)
        gcp = own(settings, GcpSettings)
        if problem or not (gcp.project and gcp.region and gcp.staging_bucket):
            raise MlapplyError(problem or "incomplete spec.gcp")
        self.stack = settings.meta.name
        self.project: str = gcp.project
        self.region: str = gcp.region
        self.parent = self.parent_format.format(project=self.project, region=self.region)
        self.service_account = gcp.service_account
        pace = f"MLAPPLY_{self.variable}"
        self.poll_seconds = float(
            os.environ.get(f"{pace}_POLL_SECONDS") or self.default_poll_seconds
        )
        self.operation_seconds = float(
            os.environ.get(f"{pace}_OPERATION_SECONDS") or OPERATION_TIMEOUT
        )
        self.caller = caller or (Caller(roles=self.roles) if self.roles else Caller())
        self.staging = Staging(lambda: self.bucket, gcp.staging_bucket, settings.home)
        self.records = Records(lambda: self.bucket, self.staging.prefix)
        self._local = threading.local()
        self._credentials: Any = None
        self._build_lock = threading.Lock()
        self._model_locks: dict[str, threading.RLock] = {}

    @classmethod
    def for_stack(cls, settings: StackSettings) -> GoogleDriver:
        return cls(settings)

    # Session -------------------------------------------------------------------------

    def service(self, api: str, root: str | None = None, version: str = "v1") -> Any:
        """The client of ``api`` at ``root`` (None: its global endpoint), this thread's."""
        services = self._local.__dict__.setdefault("services", {})
        if (api, root, version) not in services:
            with self._build_lock:
                if self._credentials is None:
                    self._credentials = credentials()
            services[(api, root, version)] = build_service(api, version, self._credentials, root)
        return services[(api, root, version)]

    def operations_service(self) -> Any:
        """The client of the region's endpoint, whose ``operations().get`` polls this
        API's operations."""
        return self.service(self.api, self.regional_root.format(region=self.region))

    @property
    def bucket(self) -> Bucket:
        return Bucket(self.caller, self.service("storage"), self.staging.bucket_name)

    def call(self, request: Any, what: str, *, retry: bool = True) -> Any:
        return self.caller.execute(request, what, retry=retry)

    def wait(self, operation: dict[str, Any], what: str) -> dict[str, Any]:
        return operations.wait(
            self.caller, self.operations_service(), operation, what, timeout=self.operation_seconds
        )

    def delete(self, request: Any, what: str) -> None:
        """A delete and its operation; one whose target is already gone is done."""
        with suppress(NotFound):
            self.wait(self.call(request, what), what)

    def model_lock(self, model: str) -> threading.RLock:
        """Changes to one model's versions, one at a time: each reads what it writes over."""
        with self._build_lock:
            return self._model_locks.setdefault(model, threading.RLock())

    def remote_lister(self) -> RemoteLister:
        return remote_lister(self.caller, lambda: self.service("storage"))

    # Stack lock: an object in the staging bucket ---------------------------------------

    def lock(
        self, stack: str, timeout: float, note: Callable[[str], None] = lambda _: None
    ) -> AbstractContextManager[str]:
        return self.staging.lock(stack, timeout, note)

    def unlock(self, stack: str, lock_id: str) -> str:
        return self.staging.unlock(stack, lock_id)

    # Records ---------------------------------------------------------------------------

    def record_version(self, version: LiveVersion) -> None:
        """What the API does not keep of a version: the spec the plan recorded (keeping
        what it was deployed with), and its own labels."""
        stack, key = version.stack or "", f"{version.model}/{version.name}"
        before = self.records.read(stack).get("versions", {}).get(key)
        spec = keep_history(version.spec or {}, before) or {}
        self.records.put(stack, "versions", key, {**spec, "labels": dict(version.labels)})

    def stage_version(self, version: LiveVersion, export: str, folder: str | None = None) -> str:
        """Before a version is made: its SavedModel uploaded when it is a folder here, or
        put in ``folder`` for a server that reads it there (its gs:// URI returned), and
        its record kept."""
        if folder is not None or not export.startswith("gs://"):
            export = self.staging.saved_model(
                version.stack or "", version.model, version.name, export, folder
            )
        self.record_version(version)
        return export

    def forget_version(self, stack: str, model: str, name: str) -> None:
        if stack:
            self.records.put(stack, "versions", f"{model}/{name}", None)

    # Exports ---------------------------------------------------------------------------

    def export_of(self, stack: str, job: LiveJob, export_path: str | None) -> str:
        """The job's SavedModel in the bucket: under its output dir, else its job dir; a
        tuning job's under its best trial's folders (``trial_folders``)."""
        kept = self.records.read(stack).get("jobs", {}).get(job.name, {})
        # Without a record (records.json lost), the default layout is searched.
        record = JobRecord.read(kept.get("spec"))
        declared = record.essence.get("outputDir") if record is not None else None
        layout = OutputLayout(declared, self.profile.trial_output)
        job_dir = f"{self.staging.prefix(stack)}jobs/{job.name}"
        out = layout.output_dir(job_dir)
        tuning = record.tuning if record is not None else None
        if tuning:
            if job.best_trial is None:
                raise MlapplyError(
                    f"tuning job {job.name} has no succeeded trial reporting {tuning['metric']}"
                )
            out, job_dir = layout.trial_folders(job_dir, job.best_trial)
        try:
            found = exports.find_export(
                job.name, out, job_dir, export_path, self.staging.saved_models
            )
        except exports.NoExport as missing:
            if not tuning:
                raise
            raise exports.NoExport(
                f"the best trial of {missing.message}", self.trial_hint
            ) from None
        return self.bucket.uri(found)

    # Purge -------------------------------------------------------------------------------

    def purge(self, stack: str, jobs: Collection[str]) -> int:
        """What destroy leaves after its plan: the listed finished jobs (each API its
        own way) and the stack's objects in the staging bucket. How many runs were removed."""
        removed = self.forget_finished_jobs(stack, jobs)
        self.staging.purge(stack)
        return removed

    @abstractmethod
    def forget_finished_jobs(self, stack: str, jobs: Collection[str]) -> int:
        """Remove (or unlabel, where the API cannot delete) the listed finished jobs."""
