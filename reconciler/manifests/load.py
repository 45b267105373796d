"""Loading a set of manifests: find files, read YAML, apply variables, check schemas.

The result keeps every document (with positions) and whether it passed its
schema, so the stack layer can build typed resources from the valid ones and
still know the names of the invalid ones (no cascade of "missing reference"
errors from a single typo).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.diagnostics import Diagnostic, has_errors, note
from reconciler.manifests import schema, variables
from reconciler.manifests.discover import ManifestFile, discover
from reconciler.manifests.variables import VariableInputs
from reconciler.manifests.yaml_reader import Document, read_yaml_file

_VARIABLES_PATH = ("spec", "variables")
API_GROUP = "mlapply/"


@dataclass
class LoadedDocument:
    doc: Document
    file: ManifestFile
    valid: bool
    """Whether the document passed its kind's schema."""

    @functools.cached_property  # asked for by every kind's builder, of every document
    def kind(self) -> str | None:
        kind = self.doc.data.get("kind") if isinstance(self.doc.data, dict) else None
        return kind if isinstance(kind, str) else None

    @functools.cached_property
    def name(self) -> str | None:
        data = self.doc.data
        metadata = data.get("metadata") if isinstance(data, dict) else None
        name = metadata.get("name") if isinstance(metadata, dict) else None
        return name if isinstance(name, str) else None


@dataclass
class Manifests:
    files: list[ManifestFile] = field(default_factory=list)
    documents: list[LoadedDocument] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    unread: set[str] = field(default_factory=set)
    """Files (as displayed) that could not be read whole: not text, not YAML. A name
    they declare is unknown, so a reference to it is not a cause of its own."""


def load_manifests(
    paths: Sequence[str], inputs: VariableInputs | None = None, cwd: Path | None = None
) -> Manifests:
    """Read and schema-check every manifest under ``paths``; never raises for bad input."""
    inputs = inputs or VariableInputs()
    result = Manifests()
    files, problems = discover(paths, cwd)
    result.files = files
    result.diagnostics.extend(problems)

    raw: list[tuple[Document, ManifestFile]] = []
    for manifest in files:
        docs, problems = read_yaml_file(str(manifest.path), manifest.display)
        result.diagnostics.extend(problems)
        if has_errors(problems):
            result.unread.add(manifest.display)
        raw.extend((doc, manifest) for doc in docs if doc.data is not None)
    raw = _ours(raw, result.diagnostics)

    decls = _declarations(raw, result.diagnostics)
    values: dict[str, object] = {}
    if decls is not None:
        values, problems = variables.resolve(decls, inputs)
        result.diagnostics.extend(problems)

    for written, manifest in raw:
        doc, unresolved = written, list[Diagnostic]()
        if decls is not None:
            skip = _VARIABLES_PATH if _is_stack(written) else None
            doc, unresolved = variables.substitute(written, values, decls, skip=skip)
            result.diagnostics.extend(unresolved)
        problems = schema.validate_document(doc)
        # A reference left as written fails its field's schema too: say it once.
        places = {d.location for d in unresolved}
        result.diagnostics.extend(p for p in problems if p.location not in places)
        valid = not problems and not unresolved
        result.documents.append(LoadedDocument(doc, manifest, valid))
    return result


def _ours(
    raw: list[tuple[Document, ManifestFile]], diagnostics: list[Diagnostic]
) -> list[tuple[Document, ManifestFile]]:
    """The documents that are mlapply manifests.

    A document with another ``apiVersion`` (a Kubernetes object, a CI file) is
    not one: they are noted once, together. YAML that is not ours inside a
    Trainer's source (gcloud's ``hptuning_config.yaml``, a package's own
    config) is the package's, and passed over in silence.
    """
    sources = _trainer_sources(raw)
    kept: list[tuple[Document, ManifestFile]] = []
    foreign: list[str] = []
    for doc, manifest in raw:
        data = doc.data if isinstance(doc.data, dict) else {}
        api, kind = data.get("apiVersion"), data.get("kind")
        ours = (isinstance(kind, str) and kind in schema.kind_schemas()) or (
            isinstance(api, str) and api.startswith(API_GROUP)
        )
        if ours or (api is None and not _inside(manifest.path, sources)):
            kept.append((doc, manifest))
        elif api is not None:
            foreign.append(f"{manifest.display}:{doc.at(()).line}")
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        diagnostics.append(
            note(
                f"skipped {len(foreign)} YAML document(s) that are not mlapply manifests "
                f"(their apiVersion is not {API_GROUP}*): {shown}"
            )
        )
    return kept


def _trainer_sources(raw: list[tuple[Document, ManifestFile]]) -> list[Path]:
    found = []
    for doc, manifest in raw:
        data = doc.data if isinstance(doc.data, dict) else {}
        spec = data.get("spec")
        if data.get("kind") == "Trainer" and isinstance(spec, dict):
            source = spec.get("source")
            if isinstance(source, str):
                found.append(Path(os.path.normpath(manifest.path.parent / source)))
    return found


def _inside(path: Path, folders: list[Path]) -> bool:
    return any(path.is_relative_to(folder) for folder in folders)


def _is_stack(doc: Document) -> bool:
    return isinstance(doc.data, dict) and doc.data.get("kind") == "Stack"


def _declarations(
    raw: Sequence[tuple[Document, ManifestFile]], diagnostics: list[Diagnostic]
) -> dict[str, variables.Declaration] | None:
    """The variables of the first Stack document; None when its block is malformed.

    A malformed block is reported by the Stack's own schema check; meanwhile
    references are left as written rather than reported as undeclared.
    """
    stack = next((doc for doc, _ in raw if _is_stack(doc)), None)
    spec = stack.data.get("spec") if stack is not None else None
    block = spec.get("variables") if isinstance(spec, dict) else None
    if stack is None or block is None:
        return {}
    if not schema.is_valid_at(block, "stack.schema.json", "/properties/spec/properties/variables"):
        return None
    decls = variables.declarations(stack, block)
    diagnostics.extend(variables.check_defaults(decls, stack))
    return decls
