"""A small in-test simulator of apply: it turns a plan's changes into live
records written through the real local store, as a finished apply would
leave them. Plan tests use it to build live states; it runs no jobs."""

from __future__ import annotations

from typing import Any

from reconciler.backends.base import JobState, LiveJob, LiveModel, LiveVersion, VersionState
from reconciler.backends.local import LocalStore
from reconciler.identity import DesiredState
from reconciler.plan import Action, Plan


def apply_plan(
    store: LocalStore,
    plan: Plan,
    desired: DesiredState,
    *,
    now: float,
    job_state: JobState = JobState.SUCCEEDED,
    error: str | None = None,
) -> None:
    stack = desired.stack.name
    for change in plan.changes:
        want = desired.resources.get(change.address)
        for target in change.live_targets:
            if target.operation == "cancel":
                _cancel(store, stack, target.live_name, now)
            elif change.kind == "ModelVersion":
                store.delete_version(target.model or "", target.live_name)
            else:
                store.delete_model(target.live_name)
        if want is None or change.action in (Action.NOOP, Action.DELETE, Action.CANCEL):
            continue
        labels = want.live_labels(stack)
        spec: dict[str, Any] = {
            "essence": dict(want.essence),
            "details": dict(want.details),
            "mutable": dict(want.mutable),
        }
        assert change.live_name is not None
        if change.kind == "TrainingJob":
            state = job_state if change.action is not Action.WAIT else JobState.SUCCEEDED
            store.put_job(
                LiveJob(
                    change.live_name,
                    labels,
                    state,
                    create_time=now,
                    start_time=now,
                    end_time=None if state.active else now + 60,
                    error=error if state is JobState.FAILED else None,
                    spec=spec,
                )
            )
        elif change.kind == "Model":
            store.put_model(
                LiveModel(
                    change.live_name,
                    labels,
                    description=want.mutable["description"],
                    region=want.essence["region"],
                    online_prediction_logging=want.essence["onlinePredictionLogging"],
                    default_version=_default_of(store, stack, change.live_name),
                    create_time=now,
                )
            )
        else:
            model = want.essence["model"]
            store.put_version(
                LiveVersion(
                    change.live_name,
                    labels,
                    model=model,
                    state=VersionState.READY,
                    description=want.mutable["description"],
                    create_time=now,
                    spec=spec,
                )
            )
            if want.mutable["default"]:
                store.set_default(model, change.live_name)


def _cancel(store: LocalStore, stack: str, name: str, now: float) -> None:
    job = next(j for j in store.read(stack).jobs if j.name == name)
    store.put_job(
        LiveJob(
            job.name,
            job.labels,
            JobState.CANCELLED,
            job.create_time,
            job.start_time,
            now,
            None,
            job.spec,
        )
    )


def _default_of(store: LocalStore, stack: str, model: str) -> str | None:
    found = [m for m in store.read(stack).models if m.name == model]
    return found[0].default_version if found else None
