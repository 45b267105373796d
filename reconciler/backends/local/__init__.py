"""The embedded local backend: state in SQLite under the stack home.

``LocalDriver`` and ``LocalStore`` load on first use, so reading the
profile (validate, plan) does not import the driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.backends.local.driver import LocalDriver
    from reconciler.backends.local.store import LocalStore

__all__ = ["LocalDriver", "LocalStore"]


def __getattr__(name: str) -> Any:
    if name == "LocalDriver":
        from reconciler.backends.local.driver import LocalDriver

        return LocalDriver
    if name == "LocalStore":
        from reconciler.backends.local.store import LocalStore

        return LocalStore
    raise AttributeError(name)
