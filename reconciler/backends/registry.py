"""The backend table: one row per backend, naming its profile and its driver class.

Rows name modules, not objects, so reading a profile (validate, plan)
imports no driver and no cloud client, and import-linter sees no edge from
planning to a driver. What a backend can do is the facets its driver class
provides (``facets.facets_of``), read from the class when asked, never a list
kept beside it. Adding a backend is a folder under ``reconciler/backends/``
and a row here.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, NamedTuple, TypeVar, cast

from reconciler.diagnostics import MlapplyError

if TYPE_CHECKING:
    from reconciler.backends.facets import Driver, Facet
    from reconciler.backends.profile import Profile
    from reconciler.backends.settings import SettingsBlock
    from reconciler.stack.resources import StackSettings

F = TypeVar("F")


class Row(NamedTuple):
    profile: str
    """``module:NAME`` of its :class:`Profile`."""
    settings: str
    """``module:NAME`` of its :class:`SettingsBlock` (its block of Stack.spec)."""
    driver: str
    """``module:Class`` of its driver: the facets it provides are among its bases, and
    ``Class.for_stack(settings)`` makes one."""


BACKENDS: dict[str, Row] = {
    "local": Row(
        "reconciler.backends.local.profile:PROFILE",
        "reconciler.backends.local.settings:BLOCK",
        "reconciler.backends.local.driver:LocalDriver",
    ),
    "vertex": Row(
        "reconciler.backends.google.vertex.profile:PROFILE",
        "reconciler.backends.google.settings:BLOCK",
        "reconciler.backends.google.vertex.driver:VertexDriver",
    ),
    "mlengine": Row(
        "reconciler.backends.google.mlengine.profile:PROFILE",
        "reconciler.backends.google.settings:BLOCK",
        "reconciler.backends.google.mlengine.driver:MlEngineDriver",
    ),
    "ray": Row(
        "reconciler.backends.ray.profile:PROFILE",
        "reconciler.backends.ray.settings:BLOCK",
        "reconciler.backends.ray.driver:RayDriver",
    ),
}
DEFAULT = "local"


@functools.cache  # a plan asks for a backend's profile once per resource
def _load(reference: str) -> object:
    module, _, name = reference.partition(":")
    found: object = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found


def _row(name: str) -> Row:
    row = BACKENDS.get(name)
    if row is None:
        raise MlapplyError(f"unknown backend {name!r}", "use one of: " + ", ".join(BACKENDS))
    return row


def profile(name: str) -> Profile:
    return cast("Profile", _load(_row(name).profile))


def settings(name: str) -> SettingsBlock:
    """The backend's block of Stack.spec (its folder's: importing no profile)."""
    return cast("SettingsBlock", _load(_row(name).settings))


def driver_class(name: str) -> type:
    """The backend's driver class (importing its module, not its cloud client)."""
    return cast("type", _load(_row(name).driver))


@functools.cache
def facets(name: str) -> frozenset[Facet]:
    """What the backend's driver provides."""
    from reconciler.backends.facets import facets_of

    return facets_of(driver_class(name))


def provides(name: str, facet: Facet) -> bool:
    return facet in facets(name)


def refusal(name: str, facet: Facet, stack: str | None = None) -> MlapplyError:
    """The one line that says a backend lacks a facet: its profile's reason and the
    way out."""
    missing = profile(name).explains.get(facet)
    why = missing.why if missing else f"backend {name} has no {facet.title}"
    if stack is not None:
        why = f"stack {stack!r} is on backend {name}: {why}"
    return MlapplyError(why, missing.instead if missing else None)


def require(name: str, facet: Facet, stack: str | None = None) -> None:
    """Refuse, with the reason and the way out, what the backend cannot do."""
    if not provides(name, facet):
        raise refusal(name, facet, stack)


def facet(driver: Driver, wanted: type[F]) -> F:
    """The driver as one of its facets, or the refusal of the facet it lacks."""
    if isinstance(driver, wanted):
        return driver
    from reconciler.backends.facets import Facet

    missing = next(f for f in Facet if f.protocol is wanted)
    raise refusal(driver.name, missing)


def driver(settings: StackSettings) -> Driver:
    """The driver of the stack's backend (importing it, and its client, now)."""
    factory = getattr(driver_class(settings.backend), "for_stack")  # noqa: B009
    return cast("Driver", factory(settings))
