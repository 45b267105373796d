"""The Vertex AI driver: jobs and studies, endpoints and versions, on the Google core.

Live state is read in bulk, one paginated list per collection, filtered by the
stack label: custom jobs, tuning jobs, endpoints, models, and each model's
versions. What Vertex does not keep (the essence a plan recorded) is in one
records object in the staging bucket, read once per plan.
"""

from __future__ import annotations

from reconciler.backends.base import LiveSnapshot
from reconciler.backends.facets import Traffic
from reconciler.backends.google.vertex.jobs import VertexJobs
from reconciler.backends.google.vertex.monitoring import VertexMonitoring


class VertexDriver(VertexJobs, VertexMonitoring, Traffic):
    def read_live(self, stack: str) -> LiveSnapshot:
        records = self.records.read(stack)
        found = self.with_trials(self.listed_jobs(stack))
        jobs = tuple(self.live_job(job, records) for job in found)
        models, versions = self.live_serving(stack, records)
        return LiveSnapshot(stack, jobs, models, versions, self.staging.packages(stack))
