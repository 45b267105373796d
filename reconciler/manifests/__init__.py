"""The manifest layer: YAML with positions, variables, and schema validation."""

from reconciler.manifests.load import LoadedDocument, Manifests, load_manifests
from reconciler.manifests.variables import VariableInputs

__all__ = ["LoadedDocument", "Manifests", "VariableInputs", "load_manifests"]
