"""Long-running operations: polled until done, with a timeout.

An operation's name embeds its collection, and the client checks the name
against the collection's pattern, so the right ``operations().get`` is
picked by parsing the name:

- ``aiplatform`` v1: ``projects/P/locations/L/operations/OP`` or
  ``projects/P/locations/L/<collection>/ID/operations/OP`` (models, endpoints,
  customJobs, hyperparameterTuningJobs: the collections of the discovery
  document that have an ``operations.get``);
- ``ml`` v1: ``projects/P/operations/OP``.

An operation that finished with an ``error`` is an error. One still running
at the deadline is :class:`StillRunning`: not a lost answer (the request was
received and is being carried out), so it is never sent again; the next
apply finds what it made.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from reconciler.backends.google.client import Caller
from reconciler.backends.google.errors import GoogleApiError
from reconciler.diagnostics import MlapplyError

_LOCATION = re.compile(
    r"^projects/[^/]+/locations/[^/]+/(?:(?P<collection>[A-Za-z]+)/[^/]+/)?operations/[^/]+$"
)
_PROJECT = re.compile(r"^projects/[^/]+/operations/[^/]+$")
LOCATION_COLLECTIONS = frozenset({"models", "endpoints", "customJobs", "hyperparameterTuningJobs"})


class StillRunning(MlapplyError):
    """An operation outlived the wait for it."""

    def __init__(self, what: str, operation: str, timeout: float) -> None:
        super().__init__(
            f"{what}: operation {operation} is still running after {timeout:.0f} s",
            "it goes on at Google; apply again later, and mlapply takes up what it made",
        )
        self.operation = operation


def getter(service: Any, name: str) -> Any:
    """The ``operations().get`` request for an operation's name."""
    found = _LOCATION.match(name)
    if found is not None:
        locations = service.projects().locations()
        collection = found.group("collection")
        if collection is None:
            return locations.operations().get(name=name)
        if collection not in LOCATION_COLLECTIONS:
            raise GoogleApiError(0, f"operation {name}: no operations of {collection}")
        return getattr(locations, collection)().operations().get(name=name)
    if _PROJECT.match(name):
        return service.projects().operations().get(name=name)
    raise GoogleApiError(0, f"not an operation name: {name}")


def wait(
    caller: Caller,
    service: Any,
    operation: dict[str, Any],
    what: str,
    *,
    timeout: float = 3600.0,
    poll: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The ``response`` of a finished operation; raises on its error or on timeout."""
    deadline = time.monotonic() + timeout
    delay = min(poll, 0.05)
    while not operation.get("done"):
        if time.monotonic() > deadline:
            raise StillRunning(what, str(operation.get("name")), timeout)
        sleep(delay)
        delay = min(delay * 2, poll)
        operation = caller.execute(getter(service, operation["name"]), f"{what} (operation)")
    error = operation.get("error")
    if error:
        raise GoogleApiError(
            int(error.get("code", 0)), f"{what} failed: {error.get('message', error)}"
        )
    response: dict[str, Any] = operation.get("response", {})
    return response
