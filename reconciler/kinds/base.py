"""What a kind is: one handler owning its build, references, identity, plan rule
and apply step (dstack's configurators, Terraform's provider resources).

Generic code (the build, identity, the planner, removal of undeclared
resources, the executor, status) loops over the table in
``reconciler.kinds.table`` and asks each row; it never names a kind.
The contexts below are what each phase hands a handler.
"""

from __future__ import annotations

import functools
import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

from reconciler.diagnostics import MlapplyError

# Type-only: validate builds stacks with this module and must not load what
# only identity, planning and apply need (start-up time).
if TYPE_CHECKING:
    import threading

    from reconciler.backends.base import LiveJob, LiveSnapshot
    from reconciler.backends.compiled import Pool
    from reconciler.backends.facets import Driver
    from reconciler.backends.profile import Profile
    from reconciler.identity.content import RemoteLister
    from reconciler.identity.desired import DesiredResource
    from reconciler.identity.hashcache import HashCache
    from reconciler.manifests import LoadedDocument
    from reconciler.plan.costing import ForecastView
    from reconciler.plan.diff import PlanView
    from reconciler.plan.forecast import Forecast
    from reconciler.plan.model import Change
    from reconciler.stack.build import BuildContext, Reference
    from reconciler.stack.resources import Machines, Meta, Stack, Tuning


class StepFailed(MlapplyError):
    """A change could not be made; the message says why."""


class StepHeld(StepFailed):
    """A change apply chose not to make (a gate held a version back): nothing failed,
    but the stack is not converged; the message says why."""


class IdentityContext:
    """What identity needs: the stack, the backend's profile, the hash cache, and
    what the kinds before this one computed (fingerprints, desired resources)."""

    def __init__(
        self, stack: Stack, profile: Profile, cache: HashCache, remote: RemoteLister | None
    ) -> None:
        self.stack = stack
        self.profile = profile
        self.cache = cache
        self.remote = remote
        self.facts: dict[str, Any] = {}
        """By address: what a resource's identity step returned."""
        self._pools: dict[tuple[str, Machines | None], tuple[Pool, ...]] = {}

    def pools(self, tier: str, machines: Machines | None) -> tuple[Pool, ...]:
        """What a tier (and CUSTOM machines) compiles to on this backend, compiled
        once per pass: every job of a tier shares the result."""
        key = (tier, machines)
        if key not in self._pools:
            own = self.stack.settings.backend_settings
            self._pools[key] = self.profile.compile_pools(tier, machines, own)
        return self._pools[key]


class JobProgress(NamedTuple):
    """How a job apply waits for is getting on: a structured event, which the command
    line renders (``render.status.progress_text``)."""

    job: LiveJob
    usage: Mapping[str, Any]
    """Its CPU, memory and the trainer's last report, where the backend measures them."""
    elapsed: float
    """Seconds apply has waited for it."""
    tail: str
    """The last meaningful line its chief logged, where the backend has logs."""
    tuning: Tuning | None = None
    """Its tuning spec: a study's progress counts its trials against it."""


class ApplyContext(NamedTuple):
    """What an apply step may use: the backend, the plan's desired state and
    changes, and the live state the plan read (read once, never again)."""

    stack: Stack
    backend: Driver
    desired: Mapping[str, DesiredResource[Any]]
    changes: Mapping[str, Change]
    live: LiveSnapshot
    wait_for_jobs: bool
    stop: threading.Event
    progress: Callable[[str, JobProgress], None]
    """``progress(address, how it is getting on)`` for the person watching."""
    rollout_wait: float = 0.0
    """``--rollout-wait``: the longest a rollout step is waited for in this apply."""


class Handler(ABC):
    """Every kind's handler: how a document becomes its typed record and identity.
    A kind without a live counterpart (a Dataset, a Trainer) is only this."""

    record: ClassVar[type[Any]]
    """The kind's typed record (its ``kind`` and ``prefix`` are the vocabulary)."""
    updatable: ClassVar[frozenset[str]] = frozenset()
    """Top-level fields the backend can change in place; anything else replaces."""
    retrainable: ClassVar[bool] = False
    """Whether ``--retrain NAME`` applies to this kind."""

    @property
    def kind(self) -> str:
        return str(self.record.kind)

    @property
    def prefix(self) -> str:
        return str(self.record.prefix)

    # Build

    @abstractmethod
    def build(self, ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> Any:
        """The typed record, reporting (on ``ctx``) what the schema cannot check."""

    def references(self, resource: Any) -> Iterable[Reference]:
        return ()

    def check(self, ctx: BuildContext) -> None:
        """Checks across documents of this kind (and those it refers to)."""
        return None

    # Identity

    def identify(self, resource: Any, ctx: IdentityContext) -> Any:
        """What identity makes of the resource: a DesiredResource for a kind with a
        live counterpart, else a fact later kinds read (a fingerprint), or None."""
        return None


class LiveHandler(Handler):
    """A kind with a live counterpart: it is planned and applied."""

    @abstractmethod
    def identify(self, resource: Any, ctx: IdentityContext) -> DesiredResource[Any]: ...

    @abstractmethod
    def plan(self, want: DesiredResource[Any], view: PlanView) -> Change:
        """The change that brings the live resource to ``want`` (pure)."""

    def removed(self, view: PlanView) -> list[Change]:
        """Changes for live resources of this kind that no manifest declares."""
        return []

    @abstractmethod
    def apply(self, change: Change, ctx: ApplyContext) -> str:
        """Make one change real; returns what was done, for people."""

    def forecast(self, change: Change, view: ForecastView) -> Forecast | None:
        """What ``change`` will take and cost (pure), for a kind that costs something."""
        return None

    def standing(self, view: ForecastView) -> float | None:
        """What this kind's live resources cost a month now (None: nothing recurring)."""
        return None

    def next_step(self, change: Change, stack: Stack, paths: str) -> str | None:
        """What a person can do now that ``change`` was made (``paths``: the
        manifest paths as typed), or None."""
        return None


class BuildPart(Protocol):
    """A kind's ``build`` module: the document as its record, and its checks."""

    UPDATABLE: frozenset[str]

    def build(self, ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> Any: ...

    def references(self, resource: Any) -> Iterable[Reference]: ...

    def check(self, ctx: BuildContext) -> None: ...


class IdentityPart(Protocol):
    """A kind's ``identity`` module: compiled once and hashed."""

    def identify(self, resource: Any, ctx: IdentityContext) -> DesiredResource[Any]: ...


class RulesPart(Protocol):
    """A kind's ``rules`` module: its plan rules (pure)."""

    def plan(self, want: DesiredResource[Any], view: PlanView) -> Change: ...

    def removed(self, view: PlanView) -> list[Change]: ...


class ForecastPart(Protocol):
    """A kind's ``forecast`` module: what its changes cost (pure)."""

    def forecast(self, change: Change, view: ForecastView) -> Forecast | None: ...

    def standing(self, view: ForecastView) -> float | None: ...


class StepsPart(Protocol):
    """A kind's ``steps`` module: its apply step, the only part that acts."""

    def apply(self, change: Change, ctx: ApplyContext) -> str: ...

    def next_step(self, change: Change, stack: Stack, paths: str) -> str | None: ...


class PackagedHandler(LiveHandler):
    """A kind with a live counterpart written as a package that decides apart from doing:
    its ``build`` module (loaded with the table: validate needs it), and its
    ``identity``, ``rules`` and ``steps`` modules, loaded when plan or apply first
    needs them (``validate`` starts fast)."""

    build_part: ClassVar[BuildPart]
    package: ClassVar[str]
    """The kind's package (``__name__`` of its ``__init__``)."""
    costs: ClassVar[bool] = False
    """Whether the kind has a ``forecast`` module (its changes cost something)."""

    def _part(self, name: str) -> Any:
        return importlib.import_module(f"{self.package}.{name}")

    @functools.cached_property
    def identity_part(self) -> IdentityPart:
        found: IdentityPart = self._part("identity")
        return found

    @functools.cached_property
    def rules(self) -> RulesPart:
        found: RulesPart = self._part("rules")
        return found

    @functools.cached_property
    def steps(self) -> StepsPart:
        found: StepsPart = self._part("steps")
        return found

    @functools.cached_property
    def forecasting(self) -> ForecastPart:
        found: ForecastPart = self._part("forecast")
        return found

    def build(self, ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> Any:
        return self.build_part.build(ctx, loaded, meta)

    def references(self, resource: Any) -> Iterable[Reference]:
        return self.build_part.references(resource)

    def check(self, ctx: BuildContext) -> None:
        self.build_part.check(ctx)

    def identify(self, resource: Any, ctx: IdentityContext) -> DesiredResource[Any]:
        return self.identity_part.identify(resource, ctx)

    def plan(self, want: DesiredResource[Any], view: PlanView) -> Change:
        return self.rules.plan(want, view)

    def removed(self, view: PlanView) -> list[Change]:
        return self.rules.removed(view)

    def apply(self, change: Change, ctx: ApplyContext) -> str:
        return self.steps.apply(change, ctx)

    def next_step(self, change: Change, stack: Stack, paths: str) -> str | None:
        return self.steps.next_step(change, stack, paths)

    def forecast(self, change: Change, view: ForecastView) -> Forecast | None:
        return self.forecasting.forecast(change, view) if self.costs else None

    def standing(self, view: ForecastView) -> float | None:
        return self.forecasting.standing(view) if self.costs else None
