"""The Cloud ML Engine driver: ``ml`` v1 jobs, models and versions, request-exact.

Live state is read in bulk by the stack label: one paginated list of jobs, one
of models, one of each model's versions. What ML Engine does not keep (the
essence a plan recorded) is in the records object in the staging bucket, as
on Vertex AI. Google shut the API down on 2025-01-31 (see the profile): this
driver is for emulators that serve ``ml`` v1 and for migrations.
"""

from __future__ import annotations

from reconciler.backends.base import LiveSnapshot
from reconciler.backends.google.mlengine.jobs import MlEngineJobs
from reconciler.backends.google.mlengine.models import MlEngineModels


class MlEngineDriver(MlEngineJobs, MlEngineModels):
    def read_live(self, stack: str) -> LiveSnapshot:
        records = self.records.read(stack)
        jobs = tuple(self.live_job(job, records) for job in self.listed_jobs(stack))
        models, versions = self.live_serving(stack, records)
        return LiveSnapshot(stack, jobs, models, versions, self.staging.packages(stack))
