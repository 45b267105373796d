"""The stack layer: typed resources, references, the dependency graph and its order."""

from reconciler.stack.build import LoadResult
from reconciler.stack.resources import Stack

__all__ = ["LoadResult", "Stack"]
