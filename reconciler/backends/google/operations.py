"""Long-running operations: polled until done, with a timeout.

An operation's name embeds its collection (``.../models/M/operations/OP``,
``.../endpoints/E/operations/OP``, ``.../locations/L/operations/OP``), and the
client checks the name against the collection's pattern, so the right
``operations().get`` is picked from the name. An operation that finished
with an ``error`` is an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from reconciler.backends.google.client import Caller
from reconciler.backends.google.errors import GoogleApiError


def _getter(service: Any, name: str) -> Any:
    locations = service.projects().locations()
    for collection in ("models", "endpoints", "customJobs", "hyperparameterTuningJobs"):
        if f"/{collection}/" in name:
            return getattr(locations, collection)().operations().get(name=name)
    return locations.operations().get(name=name)


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
            raise GoogleApiError(
                0,
                f"{what}: operation {operation.get('name')} is still running after {timeout:.0f} s",
            )
        sleep(delay)
        delay = min(delay * 2, poll)
        operation = caller.execute(_getter(service, operation["name"]), f"{what} (operation)")
    error = operation.get("error")
    if error:
        raise GoogleApiError(
            int(error.get("code", 0)), f"{what} failed: {error.get('message', error)}"
        )
    response: dict[str, Any] = operation.get("response", {})
    return response
