"""The Vertex AI backend (``backend: vertex``)."""

from reconciler.backends.vertex.backend import VertexBackend

__all__ = ["VertexBackend"]
