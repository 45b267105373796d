"""Modules loaded on first use, for code on both the fast and the heavy path.

The kind modules are imported by ``validate``, which must start fast, and run
by planning and apply, which need the plan, identity and backend records. A
``LazyModule`` imports its module when an attribute is first read, then keeps
that attribute on itself, so later reads are plain attribute lookups (a local
``import`` statement in a function would cost about 2 µs on every call).
For mypy, modules declare the real import under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(importlib.import_module(self._name), attribute)
        setattr(self, attribute, value)
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self._name}>"
