"""The stack layer: typed resources, references, the dependency graph and its order."""

from reconciler.stack.build import LoadResult, load_stack
from reconciler.stack.resources import Kind, Stack

__all__ = ["Kind", "LoadResult", "Stack", "load_stack"]
