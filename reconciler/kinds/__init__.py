"""The kinds layer: the table of kinds and the generic steps that loop over it.

``load_stack`` builds a typed stack, ``compute_desired`` fingerprints and
hashes it, ``diff_stack`` plans it: each asks the table's rows, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.backends import registry
from reconciler.kinds.table import BY_KIND, KINDS, LIVE, STACK, VOCABULARY
from reconciler.stack import build
from reconciler.stack.build import LoadResult
from reconciler.stack.resources import Stack

# Type-only, or imported where used: validate must not load identity and planning.
if TYPE_CHECKING:
    from reconciler.backends.base import LiveSnapshot
    from reconciler.identity.content import RemoteLister
    from reconciler.identity.desired import DesiredState
    from reconciler.identity.hashcache import HashCache
    from reconciler.manifests import VariableInputs
    from reconciler.plan.model import Plan, PlanOptions

__all__ = ["VOCABULARY", "LoadResult", "compute_desired", "diff_stack", "load_stack"]


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
    from reconciler.identity.desired import DesiredResource, DesiredState, declared_digest
    from reconciler.kinds.base import IdentityContext

    ctx = IdentityContext(stack, registry.profile(stack.settings.backend), cache, remote)
    resources: dict[str, DesiredResource] = {}
    for where in stack.order:
        resource = stack.resources.get(where)
        if resource is None:
            continue  # the Stack's own settings
        fact = BY_KIND[resource.kind].identify(resource, ctx)
        ctx.facts[where] = fact
        if isinstance(fact, DesiredResource):
            resources[where] = fact
    return DesiredState(stack, resources, declared_digest(stack, resources))


def diff_stack(desired: DesiredState, live: LiveSnapshot, options: PlanOptions | None) -> Plan:
    """The plan: each live kind's rule over the desired state and the snapshot (pure)."""
    from reconciler.plan.diff import diff

    return diff(desired, live, options, LIVE)
