"""Fixture: a live world recorded in the real local store, for plan and rendering tests.

``record_converged`` writes what the backend reports once the desired state
is live: each job of the current identity in the given state (with exact
times, so renderings are stable), each model, and each version whose job
succeeded, the declared default set; the stack's versions no longer desired
are gone, older jobs stay as history. It is derived from the desired state,
never from a plan's changes: whether the executor gets there from a plan is
what tests/test_convergence.py checks, with the real executor.
"""

from __future__ import annotations

from reconciler.backends.base import JobState, LiveJob, LiveModel, LiveVersion, VersionState
from reconciler.backends.local import LocalStore
from reconciler.identity import DesiredState
from reconciler.stack.resources import Model, ModelVersion, TrainingJob


def record_converged(
    store: LocalStore,
    desired: DesiredState,
    *,
    now: float,
    job_state: JobState = JobState.SUCCEEDED,
    error: str | None = None,
) -> None:
    stack = desired.stack.name
    succeeded: set[str] = set()
    wanted_versions = set()
    for want in desired.resources.values():
        labels = want.live_labels(stack)
        if want.kind == TrainingJob.kind:
            store.put_job(
                LiveJob(
                    want.live_name,
                    labels,
                    job_state,
                    create_time=now,
                    start_time=now,
                    end_time=None if job_state.active else now + 60,
                    error=error if job_state is JobState.FAILED else None,
                    spec=want.record(),
                )
            )
            if job_state is JobState.SUCCEEDED:
                succeeded.add(want.live_name)
        elif want.kind == Model.kind:
            current = [m for m in store.read(stack).models if m.name == want.live_name]
            store.put_model(
                LiveModel(
                    want.live_name,
                    labels,
                    description=want.mutable["description"],
                    region=want.essence["region"],
                    online_prediction_logging=want.essence["onlinePredictionLogging"],
                    default_version=current[0].default_version if current else None,
                    create_time=now,
                )
            )
    for want in desired.resources.values():
        if want.kind != ModelVersion.kind:
            continue
        source = want.essence["source"]
        if "job" in source and source["job"] not in succeeded:
            continue  # nothing to deploy until its job has trained
        model = str(want.essence["model"])
        wanted_versions.add((model, want.live_name))
        store.put_version(
            LiveVersion(
                want.live_name,
                want.live_labels(stack),
                model=model,
                state=VersionState.READY,
                description=want.mutable["description"],
                create_time=now,
                spec=want.record(),
            )
        )
        if want.mutable["default"]:
            store.set_default(model, want.live_name)
    for version in store.read(stack).versions:
        if (version.model, version.name) not in wanted_versions:
            store.delete_version(version.model, version.name)
