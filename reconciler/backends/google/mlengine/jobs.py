"""Cloud ML Engine jobs: ``ml`` v1 jobs, their id the live name.

ML Engine takes the job id from the client, so a create answered 409 is the
job an earlier apply submitted, and a lost answer is checked with one
``jobs.get``. A tuning job is a job whose trainingInput has hyperparameters.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextlib import suppress
from typing import Any

from reconciler.backends.base import JobState, JobSubmission, LiveJob
from reconciler.backends.facets import Jobs, Studies
from reconciler.backends.google.errors import AlreadyExists, GoogleApiError, NotFound
from reconciler.backends.google.mlengine import bodies
from reconciler.backends.google.mlengine.core import MlEngineCore
from reconciler.backends.google.once import at_most_once
from reconciler.backends.google.paging import list_all
from reconciler.backends.google.times import seconds
from reconciler.diagnostics import MlapplyError
from reconciler.stack.resources import LABEL_STACK, RESERVED_LABELS

ETAG_ATTEMPTS = 5


class MlEngineJobs(MlEngineCore, Jobs, Studies):
    # Reading -------------------------------------------------------------------------

    def _stack_filter(self, stack: str) -> str:
        return bodies.label_filter({LABEL_STACK: stack})

    def listed_jobs(self, stack: str) -> list[dict[str, Any]]:
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
            found: dict[str, Any] = self.call(
                self.jobs.get(name=f"{self.parent}/jobs/{name}"), f"get job {name}"
            )
        except NotFound:
            return None
        return found

    def live_job(self, found: Mapping[str, Any], records: Mapping[str, Any]) -> LiveJob:
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

    # Submitting and changing ---------------------------------------------------------

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
                self.call(self.jobs.create(parent=self.parent, body=body), what, retry=False)

        at_most_once(self.caller, what, create, lambda: self._job(record.name) is not None)

    def get_job(self, stack: str, name: str) -> LiveJob | None:
        found = self._job(name)
        if found is None or found.get("labels", {}).get(LABEL_STACK) != stack:
            return None
        return self.live_job(found, {})  # polled often: no records read (as on Vertex)

    def cancel_job(self, name: str) -> None:
        found = self._job(name)
        if found is None or found.get("labels", {}).get(LABEL_STACK) != self.stack:
            return  # never another stack's job of that name
        if bodies.STATES.get(str(found.get("state")), JobState.QUEUED).finished:
            return
        try:
            self.call(
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
                self.call(
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

    def forget_finished_jobs(self, stack: str, jobs: Collection[str]) -> int:
        """ml v1 has no jobs.delete: the stack's finished jobs lose mlapply's labels (they
        stay in the project's job history, no longer the stack's)."""
        removed = 0
        for found in self.listed_jobs(stack):
            state = bodies.STATES.get(str(found.get("state")), JobState.QUEUED)
            if not state.finished or found.get("jobId") not in jobs:
                continue
            labels = {k: v for k, v in found.get("labels", {}).items() if k not in RESERVED_LABELS}
            self._patch_labels(str(found["jobId"]), labels)
            removed += 1
        return removed


def _job_name(parent: str, job: str) -> str:
    return f"{parent}/jobs/{job}"
