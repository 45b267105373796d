"""What a version's plan rules and apply step both read: the job it deploys and the
figures its gate compares (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from reconciler.lazy import LazyModule
from reconciler.stack.resources import Gate, Stack, TrainingJob

if TYPE_CHECKING:
    from reconciler.backends import recorded
    from reconciler.backends.base import LiveJob, LiveModel, LiveVersion
    from reconciler.identity.desired import DesiredResource
    from reconciler.plan.model import Change
    from reconciler.tuning import gates
else:
    gates = LazyModule("reconciler.tuning.gates")
    recorded = LazyModule("reconciler.backends.recorded")


def source_job(want: DesiredResource[Any], stack: Stack) -> str | None:
    """The address of the TrainingJob a version deploys, if it deploys one."""
    return next(
        (d for d in want.depends_on if isinstance(stack.resources.get(d), TrainingJob)), None
    )


def source_live_name(
    want: DesiredResource[Any], stack: Stack, changes: Mapping[str, Change]
) -> str | None:
    """The live name of the job a version deploys: the run its job's change names (a
    retry's attempt, this apply's), else the one its identity names."""
    found = source_job(want, stack)
    if found is None:
        return None
    change = changes.get(found)
    return change.live_name if change is not None and change.live_name else want.compiled.job


def reporter(job: LiveJob) -> str:
    """``job tune_7d0e1788`` or ``trial 4 of tune_7d0e1788``: who reported the figures."""
    return f"trial {job.best_trial} of {job.name}" if job.best_trial else f"job {job.name}"


def default_figure(
    gate: Gate, model: LiveModel | None, versions: Iterable[LiveVersion]
) -> gates.Default | None:
    """The model's default version, and its figure of the gate's metric when it was
    deployed (its record's ``deployed``)."""
    if model is None or model.default_version is None:
        return None
    found = next(
        (v for v in versions if v.model == model.name and v.name == model.default_version), None
    )
    deployed = recorded.deployed_with(found.spec) if found is not None else None
    value = deployed.metrics.get(gate.metric) if deployed is not None else None
    return gates.Default(model.default_version, value)
