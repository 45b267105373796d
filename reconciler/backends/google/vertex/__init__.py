"""The Vertex AI backend (``backend: vertex``)."""

from reconciler.backends.google.vertex.backend import VertexBackend

__all__ = ["VertexBackend"]
