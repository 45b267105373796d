"""The backend table: one row per backend, naming its profile and its driver.

Rows name modules, not objects, so reading a profile (validate, plan)
imports no driver and no cloud client, and import-linter sees no edge from
planning to a driver. Adding a backend is a folder under
``reconciler/backends/`` and a row here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, NamedTuple, cast

from reconciler.diagnostics import MlapplyError

if TYPE_CHECKING:
    from reconciler.backends.base import ApplyBackend
    from reconciler.backends.profile import Profile
    from reconciler.stack.resources import StackSettings


class Row(NamedTuple):
    profile: str
    """``module:NAME`` of its :class:`Profile`."""
    driver: str
    """``module:NAME`` of a callable taking the StackSettings, returning the driver."""


BACKENDS: dict[str, Row] = {
    "local": Row(
        "reconciler.backends.local.profile:PROFILE",
        "reconciler.backends.local.backend:LocalBackend.for_stack",
    ),
    "vertex": Row(
        "reconciler.backends.google.vertex.profile:PROFILE",
        "reconciler.backends.google.vertex.backend:VertexBackend",
    ),
    "mlengine": Row(
        "reconciler.backends.google.mlengine.profile:PROFILE",
        "reconciler.backends.google.mlengine.backend:MlEngineBackend",
    ),
}
DEFAULT = "local"


def _load(reference: str) -> object:
    module, _, name = reference.partition(":")
    found: object = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found


def profile(name: str) -> Profile:
    row = BACKENDS.get(name)
    if row is None:
        raise MlapplyError(f"unknown backend {name!r}", "use one of: " + ", ".join(BACKENDS))
    return cast("Profile", _load(row.profile))


def driver(settings: StackSettings) -> ApplyBackend:
    """The driver of the stack's backend (importing it, and its client, now)."""
    profile(settings.backend)  # an unknown backend is one error
    factory = _load(BACKENDS[settings.backend].driver)
    return cast("ApplyBackend", factory(settings))  # type: ignore[operator]
