"""Vertex AI jobs: a CustomJob per job, a HyperparameterTuningJob per study.

Vertex assigns job ids, so a job is found by its labels and display name:
before a create the same list is asked, and a create whose answer was lost
is looked up, never blindly sent again. Lists omit a tuning job's trials, so
the newest finished tuning job of each manifest (the one a version deploys
from) is read whole.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from reconciler.backends.base import JobState, JobSubmission, LiveJob
from reconciler.backends.compiled import CompiledJob
from reconciler.backends.facets import Jobs, Studies
from reconciler.backends.google.errors import GoogleApiError
from reconciler.backends.google.once import at_most_once
from reconciler.backends.google.paging import list_all
from reconciler.backends.google.times import seconds
from reconciler.backends.google.vertex import bodies, images
from reconciler.backends.google.vertex.core import VertexCore
from reconciler.stack.resources import LABEL_HASH, LABEL_NAME, LABEL_STACK, TrainingImage


class VertexJobs(VertexCore, Jobs, Studies):
    # Reading -------------------------------------------------------------------------

    def listed_jobs(
        self, stack: str, display_name: str | None = None, hash_: str | None = None
    ) -> list[dict[str, Any]]:
        """The stack's custom and tuning jobs (of one display name and identity)."""
        labels = {LABEL_STACK: stack} if hash_ is None else {LABEL_STACK: stack, LABEL_HASH: hash_}
        query = bodies.filter_labels(labels, display_name)
        found: list[dict[str, Any]] = []
        for collection, key, what in (
            (self.ai.customJobs(), "customJobs", "list custom jobs"),
            (self.ai.hyperparameterTuningJobs(), "hyperparameterTuningJobs", "list tuning jobs"),
        ):
            found += list_all(
                self.caller, collection, what, key, parent=self.parent, filter=query, pageSize=100
            )
        return found

    def _collection(self, found: Mapping[str, Any]) -> Any:
        if "/hyperparameterTuningJobs/" in found["name"]:
            return self.ai.hyperparameterTuningJobs()
        return self.ai.customJobs()

    def with_trials(self, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Lists omit a tuning job's trials (ListHyperparameterTuningJobsResponse,
        aiplatform v1 reference, checked 2026-12-02): the newest finished tuning job
        of each manifest, the one a version deploys from, is read whole."""
        newest: dict[str, dict[str, Any]] = {}
        for job in found:
            if "/hyperparameterTuningJobs/" not in job["name"] or not job_state(job).finished:
                continue
            manifest = job.get("labels", {}).get(LABEL_NAME, "")
            if manifest not in newest or job.get("createTime", "") > newest[manifest].get(
                "createTime", ""
            ):
                newest[manifest] = job
        whole = {
            job["name"]: self.call(
                self.ai.hyperparameterTuningJobs().get(name=job["name"]),
                f"get tuning job {job.get('displayName')}",
            )
            for job in newest.values()
        }
        return [whole.get(job["name"], job) for job in found]

    def live_job(self, found: dict[str, Any], records: Mapping[str, Any]) -> LiveJob:
        name = str(found.get("displayName", ""))
        recorded = records.get("jobs", {}).get(name, {})
        error = found.get("error", {}).get("message") if found.get("error") else None
        study = bodies.study_of(found)
        return LiveJob(
            name,
            dict(recorded.get("labels") or found.get("labels", {})),
            job_state(found),
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

    def _find(self, stack: str, name: str, hash_: str | None = None) -> dict[str, Any] | None:
        """The job with this display name (and identity hash) in the stack, by one list."""
        found = self.listed_jobs(stack, display_name=name, hash_=hash_)
        return found[0] if found else None

    def get_job(self, stack: str, name: str) -> LiveJob | None:
        found = self._find(stack, name)
        if found is None:
            return None
        (whole,) = self.with_trials([found])
        return self.live_job(whole, {})  # polled often: no records read

    # Submitting --------------------------------------------------------------------

    def submit_job(self, submission: JobSubmission) -> None:
        self._create(submission, self.ai.customJobs(), lambda spec: {"jobSpec": spec})

    def submit_study(self, submission: JobSubmission) -> None:
        """A HyperparameterTuningJob: each trial a CustomJob of the same spec."""
        tuning = submission.job.tuning
        assert tuning is not None, "a study has a tuning spec"
        self._create(
            submission,
            self.ai.hyperparameterTuningJobs(),
            lambda spec: {
                "studySpec": bodies.study_spec(tuning),
                "maxTrialCount": tuning.max_trials,
                "parallelTrialCount": tuning.max_parallel_trials,
                "maxFailedTrialCount": tuning.max_failed_trials,
                "trialJobSpec": spec,
            },
        )

    def _create(self, submission: JobSubmission, collection: Any, shape: Any) -> None:
        """Create the job (``shape`` puts its CustomJobSpec in the collection's body),
        at most once: one found under its name and identity was submitted before."""
        record, job = submission.record, submission.job
        stack = record.stack or ""
        if self._find(stack, record.name, record.hash) is not None:
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
        body = {"displayName": record.name, "labels": labels, **shape(spec)}
        at_most_once(
            self.caller,
            f"create job {record.name}",
            lambda: self.call(
                collection.create(parent=self.parent, body=body),
                f"create job {record.name}",
                retry=False,
            ),
            lambda: self._find(stack, record.name, record.hash) is not None,
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

    # Changing ----------------------------------------------------------------------

    def cancel_job(self, name: str) -> None:
        for found in self.listed_jobs(self.stack, name):  # never another stack's of that name
            if job_state(found).finished:
                continue
            try:
                self.call(
                    self._collection(found).cancel(name=found["name"], body={}),
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

    def forget_finished_jobs(self, stack: str, jobs: Collection[str]) -> int:
        removed = 0
        for found in self.listed_jobs(stack):
            if not job_state(found).finished or found.get("displayName") not in jobs:
                continue
            self.delete(
                self._collection(found).delete(name=found["name"]), f"delete job {found['name']}"
            )
            removed += 1
        return removed


def job_state(job: Mapping[str, Any]) -> JobState:
    return bodies.STATES.get(str(job.get("state")), JobState.QUEUED)
