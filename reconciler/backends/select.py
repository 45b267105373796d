"""Choosing a stack's backend (the Stack document's, or --backend)."""

from __future__ import annotations

from reconciler.backends.base import ApplyBackend
from reconciler.diagnostics import MlapplyError
from reconciler.stack.resources import StackSettings

BACKENDS = ("local", "vertex", "mlengine")


def backend_for(settings: StackSettings, override: str | None = None) -> ApplyBackend:
    name = override or settings.backend
    if name == "local":
        from reconciler.backends.local import LocalBackend

        return LocalBackend(settings.local.home)
    if name == "vertex":
        from reconciler.backends.google.vertex import VertexBackend

        return VertexBackend(settings)
    if name in BACKENDS:
        raise MlapplyError(
            f"the {name} backend is not available in this version of mlapply",
            "use backend: vertex (Vertex AI, the live successor of ML Engine) or local",
        )
    raise MlapplyError(f"unknown backend {name!r}", "use one of: " + ", ".join(BACKENDS))
