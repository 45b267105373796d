"""diff(desired, live, options, rules) -> Plan: pure, no I/O, no clock.

The engine is generic: each kind's rule (from the kinds table, passed in)
plans its declared resources in dependency order and then the live ones no
manifest declares. Removals are asked in reverse table order, so a kind sees
the removals of the kinds that depend on it (a model's deletion waits for its
versions'), and are listed in that order: dependents first, as Terraform
destroys. ``--target`` keeps the targets
and what they depend on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from reconciler.backends.base import Labelled, LiveSnapshot
from reconciler.identity.desired import DesiredResource, DesiredState
from reconciler.plan.model import (
    Action,
    Change,
    FieldChange,
    LiveTarget,
    Plan,
    PlanError,
    PlanOptions,
    Reason,
    ReplaceOrder,
    RolloutStatus,
)

T = TypeVar("T")
L = TypeVar("L", bound=Labelled)


class PlanRule(Protocol):
    @property
    def kind(self) -> str: ...

    def plan(self, want: DesiredResource[Any], view: PlanView) -> Change: ...

    def removed(self, view: PlanView) -> list[Change]: ...


def diff(
    desired: DesiredState,
    live: LiveSnapshot,
    options: PlanOptions | None,
    rules: Sequence[PlanRule],
) -> Plan:
    view = PlanView(desired, live, options or PlanOptions())
    by_kind = {rule.kind: rule for rule in rules}
    changes: list[Change] = []
    for where in desired.stack.order:
        want = desired.resources.get(where)
        if want is None:
            continue
        change = by_kind[want.kind].plan(want, view)
        view.planned[where] = change
        changes.append(change)
    for rule in reversed(rules):
        view.removals[rule.kind] = rule.removed(view)
        changes.extend(view.removals[rule.kind])
    changes, errors = _select_targets(changes, desired, view.options, view.errors)
    return Plan(
        stack=desired.stack.name,
        backend=desired.stack.settings.backend,
        changes=tuple(changes),
        errors=tuple(errors),
        manifests_digest=desired.digest,
        snapshot_digest=live.digest,
        options=view.options,
    )


class PlanView:
    """What a kind's rule sees while planning: the desired state, the live
    snapshot, what was planned so far, and where to report plan errors."""

    def __init__(self, desired: DesiredState, live: LiveSnapshot, options: PlanOptions) -> None:
        self.desired = desired
        self.stack = desired.stack
        self.live = live
        self.options = options
        self.errors: list[PlanError] = []
        self.planned: dict[str, Change] = {}
        """Declared resources' changes so far, by address."""
        self.removals: dict[str, list[Change]] = {}
        """Changes of undeclared live resources, by kind, as far as asked."""
        self._memo: dict[str, Any] = {}

    def memo(self, key: str, make: Callable[[], T]) -> T:
        """A value computed once per plan (a kind's index of the live state)."""
        if key not in self._memo:
            self._memo[key] = make()
        found: T = self._memo[key]
        return found

    def owned(self, items: Iterable[L]) -> list[L]:
        """The live resources that carry this stack's label."""
        return [item for item in items if item.stack == self.stack.name]

    def by_manifest(self, key: str, items: Iterable[L]) -> dict[str, list[L]]:
        """The stack's live resources by the manifest name they carry, oldest first
        (computed once per plan under ``key``)."""

        def index() -> dict[str, list[L]]:
            found: dict[str, list[L]] = {}
            for item in self.owned(items):
                if item.manifest_name:
                    found.setdefault(item.manifest_name, []).append(item)
            for runs in found.values():
                runs.sort(key=lambda item: (getattr(item, "create_time", None) or 0.0, item.name))
            return found

        return self.memo(key, index)

    def protect(
        self, want: DesiredResource[Any], action: Action, targets: Iterable[LiveTarget]
    ) -> None:
        """A plan error when a destructive change touches a preventDestroy resource."""
        if want.prevent_destroy and action.destructive:
            verb = "cancel" if action is Action.CANCEL else "delete"
            names = ", ".join(t.live_name for t in targets) or want.live_name
            self.errors.append(
                PlanError(
                    f"{want.address} has lifecycle.preventDestroy, but this plan would "
                    f"{verb} {names}; remove preventDestroy first if that is intended",
                    want.address,
                )
            )

    def protect_live(self, where: str, live: Iterable[Labelled], verb: str = "deleted") -> None:
        """A plan error when an undeclared resource to remove carries the protected label."""
        protected = [r.name for r in live if r.protected]
        if protected:
            self.errors.append(
                PlanError(
                    f"{where} is protected by lifecycle.preventDestroy and would be {verb} "
                    f"({', '.join(protected)}); restore its manifest, or remove "
                    "preventDestroy first",
                    where,
                )
            )

    def change(
        self,
        want: DesiredResource[Any],
        action: Action,
        *,
        live_name: str | None = None,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        fields: Sequence[FieldChange] = (),
        reasons: Sequence[Reason] = (),
        depends: Sequence[str] = (),
        targets: Sequence[LiveTarget] = (),
        replace_order: ReplaceOrder | None = None,
        drift: bool = False,
        rollout: RolloutStatus | None = None,
    ) -> Change:
        return Change(
            address=want.address,
            kind=want.kind,
            action=action,
            name=want.name,
            live_name=live_name or want.live_name,
            before=before,
            after=after,
            field_changes=tuple(fields),
            depends_on=tuple(depends),
            reasons=tuple(reasons),
            live_targets=tuple(targets),
            replace_order=replace_order if action is Action.REPLACE else None,
            drift=drift,
            rollout=rollout,
        )


def _select_targets(
    changes: list[Change], desired: DesiredState, options: PlanOptions, errors: list[PlanError]
) -> tuple[list[Change], list[PlanError]]:
    if not options.targets:
        return changes, errors
    deps = desired.stack.dependencies
    keep: set[str] = set()
    pending = list(options.targets)
    while pending:
        where = pending.pop()
        if where in keep:
            continue
        keep.add(where)
        pending.extend(deps.get(where, ()))
    selected = [
        c for c in changes if c.address in keep or c.address.split("[", 1)[0] in options.targets
    ]
    chosen = {c.address for c in selected}
    return selected, [e for e in errors if e.address is None or e.address in chosen]
