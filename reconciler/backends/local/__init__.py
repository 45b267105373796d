"""The embedded local backend: state in SQLite under the stack home."""

from reconciler.backends.local.backend import LocalBackend
from reconciler.backends.local.store import LocalStore

__all__ = ["LocalBackend", "LocalStore"]
