"""The Ray driver: jobs on a Ray cluster through its Jobs API, and the stack lock there.

State is the cluster: a job is a Ray job whose submission id is its live name
(the Jobs API refuses a second job of an id, so a submission whose answer was
lost is found again, never run twice) and whose metadata carries mlapply's
labels and the plan's record; ``read_live`` is one list call. Nothing without
this stack's label is read back or touched. Ray's SDK (``ray.job_submission``)
speaks the API and uploads each job's working directory; it is imported when a
driver is made, never by validate or plan's profile reads.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from reconciler.backends import exports, logtext
from reconciler.backends.base import (
    JobState,
    JobSubmission,
    LiveJob,
    LiveModel,
    LiveSnapshot,
    LiveTrial,
    LiveVersion,
    VersionDeployment,
)
from reconciler.backends.facets import (
    Driver,
    Jobs,
    LogChunk,
    Logs,
    Predictions,
    Serving,
    StackLock,
    Studies,
    Traffic,
    Usage,
)
from reconciler.backends.ray import lock, removal, serving, staging, usage
from reconciler.backends.ray.settings import ADDRESS_VARIABLE, RaySettings
from reconciler.backends.served import Served, total
from reconciler.backends.settings import own
from reconciler.diagnostics import MlapplyError
from reconciler.identity.content import RemoteLister
from reconciler.stack.resources import LABEL_STACK, StackSettings

RECORD = "mlapply-record"
"""The metadata key of the plan's record (JSON); the rest of the metadata is labels."""
JOB_DIR = "mlapply-job-dir"
OUTPUT_DIR = "mlapply-output-dir"
STATES = {
    "PENDING": JobState.QUEUED,
    "RUNNING": JobState.RUNNING,
    "STOPPED": JobState.CANCELLED,
    "SUCCEEDED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
}
# Every line of every task in the job's log, uncoloured (Ray's defaults fold repeated
# lines and colour the task prefixes: docs.ray.io, "Configuring Logging", checked
# 2026-12-06).
LOG_SETTINGS = {"RAY_DEDUP_LOGS": "0", "RAY_COLOR_PREFIX": "0"}
LOST_EXIT = 75
"""``launcher.LOST_EXIT``: said again because the launcher runs alone on the cluster and
this module must not import Ray with it (the registry reads this class at validate;
tests/test_ray_settings.py checks the two agree)."""
NOT_FOUND = ("does not exist", "not found", "404")
SUPERVISOR_DIED = "JOB_SUPERVISOR_ACTOR_DIED"
"""JobErrorType of a job whose entrypoint's node died under it (ray.job_submission, 2.60)."""
POLL_SECONDS = 0.25
"""A job's status is one read of the head's job table (6 to 15 ms each, timed call by call
through one apply on the test cluster): polled often enough that a short job's end is
seen within a quarter second."""


def _not_found(error: RuntimeError) -> bool:
    return any(text in str(error) for text in NOT_FOUND)


class RayDriver(Driver, Jobs, Studies, StackLock, Logs, Usage, Serving, Traffic, Predictions):
    name = "ray"

    def __init__(self, settings: StackSettings, address: str) -> None:
        ray = own(settings, RaySettings)
        self.address = address.rstrip("/")
        self.serve_url = (ray.serve_address or _serve_default(self.address)).rstrip("/")
        self.storage = Path(ray.storage)
        self.cpus = ray.cpus_per_replica
        self.home = settings.home
        self.stack = settings.meta.name
        self.poll_seconds = float(os.environ.get("MLAPPLY_RAY_POLL_SECONDS") or POLL_SECONDS)
        self.locks = lock.JobLock(lambda: self.client)
        self.apps = serving.ServeApps(
            lambda: self.serve_client,
            self.storage,
            self.stack,
            self.serve_url,
            self.address,
            self.cpus,
        )

    @classmethod
    def for_stack(cls, settings: StackSettings) -> RayDriver:
        ray = own(settings, RaySettings)
        address = ray.address or os.environ.get(ADDRESS_VARIABLE)
        if not address:
            raise MlapplyError(
                f"stack {settings.meta.name!r} is on backend ray and names no cluster",
                "set spec.ray.address in the Stack (http://HOST:8265, the dashboard) or "
                f"the {ADDRESS_VARIABLE} environment variable",
            )
        return cls(settings, address)

    @functools.cached_property
    def client(self) -> Any:
        from ray.job_submission import JobSubmissionClient

        # The SDK logs each upload at INFO on the command line's stderr: keep it quiet.
        for chatty in ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging"):
            logging.getLogger(chatty).setLevel(logging.WARNING)

        try:
            return _Answering(JobSubmissionClient(self.address), self.address)
        except (ConnectionError, RuntimeError) as unreachable:
            raise _unreachable(self.address, unreachable) from None

    @functools.cached_property
    def serve_client(self) -> Any:
        """Serve's REST API on the same dashboard, its calls said as the Jobs client's."""
        from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

        return _Answering(ServeSubmissionClient(self.address), self.address)

    # Live state ----------------------------------------------------------------------

    def read_live(self, stack: str) -> LiveSnapshot:
        jobs = tuple(
            self._live(details, stack)
            for details in self.client.list_jobs()
            if (details.metadata or {}).get(LABEL_STACK) == stack and details.submission_id
        )
        models, versions = self.apps.read() if stack == self.apps.stack else ((), ())
        return LiveSnapshot(stack, jobs, models, versions)

    def remote_lister(self) -> RemoteLister | None:
        return None  # data is staged from this machine: fingerprinted by its files

    def _live(self, details: Any, stack: str) -> LiveJob:
        metadata: Mapping[str, str] = details.metadata or {}
        labels = {k: v for k, v in metadata.items() if k not in (RECORD, JOB_DIR, OUTPUT_DIR)}
        spec = json.loads(metadata[RECORD]) if RECORD in metadata else None
        relabelled = staging.relabelled(self.storage, stack, details.submission_id)
        if relabelled is not None:
            labels, spec = relabelled
        state = STATES.get(str(getattr(details.status, "value", details.status)), JobState.QUEUED)
        study = _study(metadata.get(JOB_DIR))
        # The launcher says a replica's node was lost; Ray says so of the entrypoint's.
        lost = state is JobState.FAILED and (
            details.driver_exit_code == LOST_EXIT
            or getattr(details.error_type, "value", details.error_type) == SUPERVISOR_DIED
        )
        return LiveJob(
            details.submission_id,
            labels,
            state,
            create_time=None,
            start_time=details.start_time / 1000 if details.start_time else None,
            end_time=details.end_time / 1000 if details.end_time else None,
            error=_failure(details.message) if state is JobState.FAILED else None,
            spec=spec,
            lost=lost,
            console_url=f"{self.address}/#/jobs/{details.submission_id}",
            metrics=study.get("metrics") or {},
            trials=tuple(
                LiveTrial(
                    t["id"],
                    t["params"],
                    t["state"],
                    t.get("metric"),
                    t.get("start_time"),
                    t.get("end_time"),
                    t.get("error"),
                    bool(t.get("lost")),
                )
                for t in study.get("trials", ())
            ),
            best_trial=study.get("best_trial"),
        )

    def _details(self, name: str) -> Any | None:
        try:
            return self.client.get_job_info(name)
        except RuntimeError as error:
            if _not_found(error):
                return None
            raise

    # Jobs ----------------------------------------------------------------------------

    def submit_job(self, submission: JobSubmission) -> None:
        record, job = submission.record, submission.job
        stack = record.stack or ""
        if self._details(record.name) is not None:
            return  # submitted before (an earlier apply's answer was lost)
        job_dir = staging.job_dir(self.storage, stack, record.name)
        study = None
        if job.tuning is not None:  # each trial's job dir replaces the mark
            study = staging.study_request(job, str(job_dir), int((record.hash or "0")[:8], 16))
        argv = job.argv(
            staging.JOB_DIR_MARK if study else str(job_dir),
            lambda inputs, pattern: staging.data(self.storage, stack, inputs, pattern),
        )
        work = staging.working_dir(
            self.home, record.name, job, argv, self.cpus, str(job_dir), study
        )
        metadata = {
            **record.labels,
            RECORD: json.dumps(record.spec),
            JOB_DIR: str(job_dir),
            OUTPUT_DIR: job.layout.output_dir(str(job_dir)),
        }
        try:
            self.client.submit_job(
                entrypoint=f"python {staging.LAUNCHER}",
                submission_id=record.name,
                runtime_env={"working_dir": str(work), "env_vars": LOG_SETTINGS},
                metadata=metadata,
                # One replica runs in the entrypoint itself (launcher._alone).
                entrypoint_num_cpus=self.cpus
                if study is None and sum(p.replicas for p in job.pools) == 1
                else 0,
            )
        except RuntimeError as refused:
            if "already exists" not in str(refused):
                refusal = f"the Ray cluster refused job {record.name}: {refused}"
                raise MlapplyError(refusal) from None
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def submit_study(self, submission: JobSubmission) -> None:
        """A study is one Ray job too: its entrypoint runs the study (study.py)."""
        self.submit_job(submission)

    def get_job(self, stack: str, name: str) -> LiveJob | None:
        details = self._details(name)
        if details is None or (details.metadata or {}).get(LABEL_STACK) != stack:
            return None
        return self._live(details, stack)

    def cancel_job(self, name: str) -> None:
        details = self._details(name)
        if details is None or LABEL_STACK not in (details.metadata or {}):
            return  # never a job mlapply did not label
        if not STATES.get(str(details.status.value), JobState.QUEUED).finished:
            self.client.stop_job(name)

    def relabel_job(self, job: LiveJob) -> None:
        """Ray keeps a job's metadata as submitted: new labels and record are kept in
        the stack's storage, beside the job's folder, and read back over the metadata."""
        staging.relabel(self.storage, job.stack or "", job.name, dict(job.labels), job.spec)

    def export_of(self, stack: str, job: LiveJob, export_path: str | None) -> str:
        """A job's export; a tuning job's is its best trial's."""
        details = self._details(job.name)
        metadata = (details.metadata or {}) if details else {}
        job_dir = metadata.get(JOB_DIR) or str(staging.job_dir(self.storage, stack, job.name))
        output = metadata.get(OUTPUT_DIR) or f"{job_dir}/output"
        if job.best_trial is not None:
            trials = _study(job_dir).get("trials", ())
            top = next((t for t in trials if t["id"] == job.best_trial), None)
            if top is not None:
                job_dir, output = top["job_dir"], top["output_dir"]
        return exports.find_export(job.name, output, job_dir, export_path, exports.saved_models)

    # Watching ------------------------------------------------------------------------

    def read_log(self, name: str, task: str, trial: str | None = None, offset: int = 0) -> LogChunk:
        """A task's lines of the job's log (the launcher prefixes each ``[task]``)."""
        try:
            text = self.client.get_job_logs(name)
        except RuntimeError:
            return LogChunk(b"", max(offset, 0), False)
        tag = f"trial-{trial} {task}" if trial else task  # study.py labels a trial's lines
        data = "".join(_task_lines(text, tag)).encode()
        start = max(0, len(data) + offset) if offset < 0 else min(offset, len(data))
        return LogChunk(data[start:], len(data), True)

    def log_tail(self, name: str) -> str:
        """The last meaningful line the chief printed, else the launcher's."""
        try:
            text = self.client.get_job_logs(name)
        except RuntimeError:
            return ""
        for source in ("".join(_task_lines(text, "chief-0")), text):
            lines = logtext.meaningful(source)
            if lines:
                return lines[-1][:160]
        return ""

    def job_usage(self, names: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        """What the launcher sampled (usage.py): no call to the cluster, files only."""
        found = {name: usage.figures(*self._runs(name)) for name in names}
        return {name: figures for name, figures in found.items() if figures}

    def usage_series(
        self, name: str, trial: str | None = None, since: float | None = None
    ) -> Mapping[str, Sequence[tuple[float, float, int]]]:
        job_dir = self._job_dir(name)
        if trial is None:
            return usage.series(job_dir, since)
        trials = _study(job_dir).get("trials", ())
        found = next((t for t in trials if t["id"] == trial), None)
        return usage.series(found["job_dir"], since) if found else {}

    def _job_dir(self, name: str) -> str:
        return str(staging.job_dir(self.storage, self.stack, name))

    def _runs(self, name: str) -> tuple[list[str], list[str]]:
        """The folders of a job's runs (its own, or its trials'), and those running."""
        job_dir = self._job_dir(name)
        study = _study(job_dir)
        if not study:
            ended = any(s.get("ended") is not None for s in usage.tasks(job_dir).values())
            return [job_dir], [] if ended else [job_dir]
        trials = study.get("trials", ())
        running = [t["job_dir"] for t in trials if t["state"] == "RUNNING" and not study["state"]]
        return [t["job_dir"] for t in trials], running

    # Lock and purge ------------------------------------------------------------------

    def lock(
        self, stack: str, timeout: float, note: Callable[[str], None] = lambda _: None
    ) -> AbstractContextManager[str]:
        return self.locks.held(stack, timeout, note)

    def unlock(self, stack: str, lock_id: str) -> str:
        return self.locks.unlock(stack, lock_id)

    # Serving: one Ray Serve application per model (serving.py) -------------------------

    def put_model(self, model: LiveModel) -> None:
        self.apps.put_model(model)

    def delete_model(self, name: str) -> None:
        self.apps.delete_model(name)

    def deploy_version(self, deployment: VersionDeployment) -> None:
        self.apps.deploy_version(deployment)

    def update_version(self, version: LiveVersion) -> None:
        self.apps.update_version(version)

    def set_default(self, model: str, version: str) -> None:
        self.apps.set_default(model, version)

    def delete_version(self, model: str, name: str) -> None:
        self.apps.delete_version(model, name)

    def set_traffic(self, model: str, split: Mapping[str, int]) -> None:
        self.apps.set_traffic(model, split)

    def served(
        self, stack: str, model: str, versions: Sequence[str], since: float
    ) -> Mapping[str, Served]:
        """Whole buckets that began at or after ``since`` (a step's own requests)."""
        rows = self.apps.served_rows(model)
        found = {v: total([f for at, f in rows.get(v, []) if at >= since]) for v in versions}
        return {v: f for v, f in found.items() if f.requests}

    def served_series(
        self, stack: str, model: str, versions: Sequence[str], since: float, step: float
    ) -> Mapping[str, Sequence[tuple[float, Served]]]:
        rows = self.apps.served_rows(model)
        found: dict[str, list[tuple[float, Served]]] = {}
        for version in versions:
            slots: dict[int, Served] = {}
            for at, figures in rows.get(version, []):
                if at >= since:
                    slot = int((at - since) // step)
                    slots[slot] = slots.get(slot, Served()) + figures
            if slots:
                found[version] = [(since + s * step, f) for s, f in sorted(slots.items())]
        return found

    def predict(
        self, stack: str, model: str, version: str | None, instances: Sequence[Any]
    ) -> list[Any]:
        return self.apps.predict(model, version, instances)

    def prediction_url(self, model: str, version: str | None) -> str:
        return self.apps.prediction_url(model, version)

    def purge(self, stack: str, jobs: Collection[str]) -> int:
        """Delete the listed ended jobs from the cluster, and the stack's storage folder;
        then what Ray writes back of them and of the lock just released (removal.py)."""
        live = self.read_live(stack).jobs
        ended = [job.name for job in live if job.state.finished and job.name in jobs]
        for name in ended:
            removal.delete(self.client, name)
        staging.purge(self.storage, stack)
        time.sleep(removal.SETTLE_SECONDS)
        for name in [*ended, lock.lock_id(stack)]:
            removal.clear_ghost(self.client, name)
        return len(ended)


class _Answering:
    """A JobSubmissionClient whose calls say a cluster gone mid-command as an
    MlapplyError (the SDK raises the requests library's ConnectionError)."""

    def __init__(self, client: Any, address: str) -> None:
        from requests.exceptions import ConnectionError as Unreachable
        from requests.exceptions import Timeout

        self._client, self._address = client, address
        self._unreachable = (Unreachable, Timeout)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except self._unreachable as gone:
                raise _unreachable(self._address, gone) from None

        return call


def _unreachable(address: str, error: Exception) -> MlapplyError:
    return MlapplyError(
        f"no Ray cluster answers at {address}: {str(error).splitlines()[0][:300]}",
        "start it (ray start --head) or point spec.ray.address or "
        f"{ADDRESS_VARIABLE} at its dashboard",
    )


def _study(job_dir: str | None) -> dict[str, Any]:
    """A tuning job's study.json (study.py writes it in the job dir), or {}."""
    if not job_dir:
        return {}
    try:
        found: dict[str, Any] = json.loads((Path(job_dir) / "study.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return found


def _serve_default(address: str) -> str:
    """Serve's default HTTP address on the dashboard's host: port 8000."""
    scheme, _, rest = address.partition("://")
    host = rest.split("/")[0].rsplit(":", 1)[0]
    return f"{scheme}://{host}:8000"


def _failure(message: str | None) -> str:
    """What Ray says of a failed job, in one line: its first (without the log Ray appends
    to it) and the log's last meaningful line."""
    text = message or "the job failed"
    first = text.splitlines()[0].split(", last available logs")[0]
    lines = logtext.meaningful(text)
    return f"{first}: {lines[-1]}" if len(lines) > 1 else first


def _task_lines(text: str, task: str) -> Iterator[str]:
    marker = f"[{task}] "
    for line in text.splitlines(keepends=True):
        at = line.find(marker)
        if at >= 0:
            yield line[at + len(marker) :]
