"""The local backend. This issue's part: reading live state for plans."""

from __future__ import annotations

from pathlib import Path

from reconciler.backends.base import LiveSnapshot
from reconciler.backends.local.store import LocalStore


class LocalBackend:
    name = "local"

    def __init__(self, home: Path) -> None:
        self.home = home

    def read_live(self, stack: str) -> LiveSnapshot:
        store = LocalStore(self.home)
        try:
            return store.read(stack)
        finally:
            store.close()
