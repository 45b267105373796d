"""The live state as the kinds look it up: indexes built once per plan.

A version deploys a job into a model, so its rules read the jobs' and the
models' indexes; they live here, apart from either kind, so that kind packages
stay independent of each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.backends.base import LiveJob, LiveModel, LiveVersion
    from reconciler.plan.diff import PlanView


def live_jobs(view: PlanView) -> dict[str, list[LiveJob]]:
    """The stack's live jobs by manifest name, oldest first."""
    return view.by_manifest("jobs", view.live.jobs)


def live_models(view: PlanView) -> dict[str, LiveModel]:
    """The stack's live models by live name."""
    return view.memo("models", lambda: {m.name: m for m in view.owned(view.live.models)})


def live_versions(view: PlanView) -> dict[str, list[LiveVersion]]:
    """The stack's live versions by manifest name, oldest first."""
    return view.by_manifest("versions", view.live.versions)


def run_of(view: PlanView, manifest: str, live_name: str | None) -> LiveJob | None:
    """One live job of a TrainingJob, by its live name."""
    return next((j for j in live_jobs(view).get(manifest, []) if j.name == live_name), None)
