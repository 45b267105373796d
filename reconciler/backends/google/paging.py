"""Paginated list calls: every page of a collection, one call per page."""

from __future__ import annotations

from typing import Any

from reconciler.backends.google.client import Caller
from reconciler.backends.google.errors import NotFound


def list_all(
    caller: Caller, collection: Any, what: str, key: str, method: str = "list", **params: Any
) -> list[dict[str, Any]]:
    """Every item of ``collection.<method>(**params)`` under ``key``, following
    ``nextPageToken``."""
    found: list[dict[str, Any]] = []
    token = None
    while True:
        page = caller.execute(getattr(collection, method)(pageToken=token, **params), what)
        found.extend(page.get(key, []))
        token = page.get("nextPageToken")
        if not token:
            return found


def list_if_found(
    caller: Caller, collection: Any, what: str, key: str, method: str = "list", **params: Any
) -> list[dict[str, Any]]:
    """``list_all``, or nothing when what is listed under (a model) does not exist."""
    try:
        return list_all(caller, collection, what, key, method, **params)
    except NotFound:
        return []
