"""The kinds layer: the table of kinds and the generic steps that loop over it.

``load_stack`` builds a typed stack, ``compute_desired`` fingerprints and
hashes it, ``diff_stack`` plans it: each asks the table's rows, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.backends import registry
from reconciler.kinds.table import BY_KIND, KINDS, LIVE, STACK, VOCABULARY
from reconciler.lazy import LazyModule
from reconciler.stack import build
from reconciler.stack.build import LoadResult
from reconciler.stack.resources import Stack

# Type-only, or imported where used: validate must not load identity and planning.
if TYPE_CHECKING:
    import reconciler.identity.desired as desired_state
    import reconciler.kinds.base as kinds_base
    import reconciler.plan.diff as planner
    from reconciler.backends.base import LiveSnapshot
    from reconciler.backends.prices import Prices
    from reconciler.identity.content import RemoteLister
    from reconciler.identity.desired import DesiredResource, DesiredState
    from reconciler.identity.hashcache import HashCache
    from reconciler.manifests import VariableInputs
    from reconciler.plan import costing
    from reconciler.plan.model import Plan, PlanOptions
else:
    desired_state = LazyModule("reconciler.identity.desired")
    kinds_base = LazyModule("reconciler.kinds.base")
    costing = LazyModule("reconciler.plan.costing")
    planner = LazyModule("reconciler.plan.diff")

__all__ = [
    "VOCABULARY",
    "LoadResult",
    "compute_desired",
    "cost_plan",
    "diff_stack",
    "load_stack",
]


def load_stack(
    paths: Sequence[str], inputs: VariableInputs | None = None, cwd: Path | None = None
) -> LoadResult:
    """Load, validate and build the stack declared under ``paths``. Never raises on bad input."""
    return build.load_stack(paths, inputs, cwd, settings=STACK, kinds=KINDS)


def compute_desired(
    stack: Stack, cache: HashCache, remote: RemoteLister | None = None
) -> DesiredState:
    """Fingerprint sources and data (reading files, running nothing) and hash every
    resource, each kind in the stack's order. ``remote`` lists gs:// objects for
    the data fingerprints (a cloud backend's)."""

    ctx = kinds_base.IdentityContext(stack, registry.profile(stack.settings.backend), cache, remote)
    resources: dict[str, DesiredResource[Any]] = {}
    for where in stack.order:
        resource = stack.resources.get(where)
        if resource is None:
            continue  # the Stack's own settings
        fact = BY_KIND[resource.kind].identify(resource, ctx)
        ctx.facts[where] = fact
        if isinstance(fact, desired_state.DesiredResource):
            resources[where] = fact
    return desired_state.DesiredState(
        stack, resources, desired_state.declared_digest(stack, resources)
    )


def diff_stack(desired: DesiredState, live: LiveSnapshot, options: PlanOptions | None) -> Plan:
    """The plan: each live kind's rule over the desired state and the snapshot (pure)."""

    return planner.diff(desired, live, options, LIVE)


def cost_plan(plan: Plan, desired: DesiredState, live: LiveSnapshot, prices: Prices | None) -> Plan:
    """The plan with each change's forecast and the budget check: each live kind
    forecasts its own changes (pure)."""
    profile = registry.profile(desired.stack.settings.backend)
    return costing.cost(plan, desired, live, prices, profile, LIVE)
