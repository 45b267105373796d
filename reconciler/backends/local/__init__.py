"""The embedded local backend: state in SQLite under the stack home.

``LocalBackend`` and ``LocalStore`` load on first use, so reading the
profile (validate, plan) does not import the driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.backends.local.backend import LocalBackend
    from reconciler.backends.local.store import LocalStore

__all__ = ["LocalBackend", "LocalStore"]


def __getattr__(name: str) -> Any:
    if name == "LocalBackend":
        from reconciler.backends.local.backend import LocalBackend

        return LocalBackend
    if name == "LocalStore":
        from reconciler.backends.local.store import LocalStore

        return LocalStore
    raise AttributeError(name)
