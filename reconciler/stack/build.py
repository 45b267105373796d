"""From schema-valid documents to a typed Stack: the generic part of the build.

Each kind's own rules (its typed record, its checks, what it refers to) come
from a :class:`KindBuilder` of the kinds table, passed in; this module knows
no kind. It registers names (duplicates are errors), builds the Stack's
settings first and then each kind in the table's order, asks every resource
for its references (missing names and wrong kinds reported with a "did you
mean"), finds cycles, and orders the graph. Everything is reported together;
it reads the file system (paths exist, globs match) but never runs user code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from reconciler.diagnostics import (
    Diagnostic,
    Location,
    did_you_mean,
    error,
    has_errors,
    warning,
)
from reconciler.gcpause import paused_gc
from reconciler.manifests import LoadedDocument, Manifests, VariableInputs, load_manifests
from reconciler.stack import graph
from reconciler.stack.resources import (
    MAX_LABELS,
    RESERVED_LABELS,
    Meta,
    Stack,
    StackSettings,
    TrainingImage,
    address,
)

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd])")
_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?[smhd])+")  # the schema's duration
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Reference(NamedTuple):
    """A field of a document that names another resource."""

    path: tuple[str, ...]
    kind: str
    name: str


class KindBuilder(Protocol):
    """What the build needs of one kind (the kinds table provides one per kind)."""

    @property
    def kind(self) -> str: ...

    @property
    def prefix(self) -> str: ...

    def build(self, ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> Any:
        """The typed record, reporting what the schema cannot check."""
        ...

    def references(self, resource: Any) -> Iterable[Reference]: ...

    def check(self, ctx: BuildContext) -> None:
        """Checks across documents, once every kind is built."""
        ...


class SettingsBuilder(Protocol):
    def settings(self, ctx: BuildContext, loaded: LoadedDocument | None) -> StackSettings: ...


@dataclass
class LoadResult:
    """A stack (None when there are errors) and every diagnostic found on the way."""

    stack: Stack | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    manifests: Manifests | None = None

    @property
    def ok(self) -> bool:
        return self.stack is not None and not has_errors(self.diagnostics)


def load_stack(
    paths: Sequence[str],
    inputs: VariableInputs | None,
    cwd: Path | None,
    *,
    settings: SettingsBuilder,
    kinds: Sequence[KindBuilder],
) -> LoadResult:
    """Load, validate and build the stack declared under ``paths``. Never raises on bad input."""
    with paused_gc():
        manifests = load_manifests(paths, inputs, cwd)
        ctx = BuildContext(manifests, kinds)
        stack = ctx.build(settings)
    # What reading found first (a YAML or schema error is a cause), then the build's.
    diagnostics = _ordered(manifests.diagnostics) + _ordered(ctx.diagnostics)
    if has_errors(diagnostics):
        stack = None
    return LoadResult(stack, diagnostics, manifests)


def _ordered(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    unique = list(dict.fromkeys(diagnostics))
    return sorted(unique, key=lambda d: (d.location is not None, d.location or Location("")))


def parse_duration(text: str) -> float:
    """Seconds in a schema-valid duration such as ``1h30m``."""
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def duration_seconds(text: str) -> float | None:
    """Seconds in a duration written as manifests write one, or None if it is not one."""
    return parse_duration(text) if _DURATION.fullmatch(text) else None


def training_image(
    ctx: BuildContext, loaded: LoadedDocument, spec: Mapping[str, Any]
) -> TrainingImage | None:
    """A Trainer's or a TrainingJob's ``executorImage`` or ``container``."""
    if "executorImage" in spec and "container" in spec:
        ctx.report(
            "spec.executorImage and spec.container are two ways to run the trainer: name one",
            loaded.doc.key_at(("spec", "container")),
            "executorImage: a prebuilt image that installs the package; container: your "
            "own image with the package inside",
        )
    if "container" in spec:
        given = spec["container"]
        return TrainingImage(
            container=given["image"],
            command=tuple(given.get("command", ())),
            args=tuple(given.get("args", ())),
        )
    if "executorImage" in spec:
        return TrainingImage(executor=spec["executorImage"])
    return None


def repository_root(folder: Path, fallback: Path) -> Path:
    """The nearest folder holding ``.git`` at or above ``folder``, else ``fallback``."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return fallback


class BuildContext:
    """The build in progress, as each kind's builder sees it."""

    def __init__(self, manifests: Manifests, kinds: Sequence[KindBuilder]) -> None:
        self.manifests = manifests
        self.kinds = {k.kind: k for k in kinds}
        self.diagnostics: list[Diagnostic] = []
        self.names: dict[tuple[str, str], LoadedDocument] = {}
        self.default_labels: Mapping[str, str] = {}
        self.settings: StackSettings | None = None
        self.built: dict[str, dict[str, Any]] = {k.kind: {} for k in kinds}
        """Records by kind, then name, as far as the build has gone."""
        self.documents: dict[str, dict[str, LoadedDocument]] = {k.kind: {} for k in kinds}
        """The document of each record built, by kind, then name."""

    def report(self, message: str, where: Location, hint: str | None = None) -> None:
        self.diagnostics.append(error(message, where, hint))

    def warn(self, message: str, where: Location, hint: str | None = None) -> None:
        self.diagnostics.append(warning(message, where, hint))

    def stack_settings(self) -> StackSettings:
        assert self.settings is not None, "the settings are built first"
        return self.settings

    def build(self, settings: SettingsBuilder) -> Stack | None:
        documents = self.manifests.documents
        self._register_names(documents)
        stacks = [d for d in documents if d.kind == StackSettings.kind]
        first = stacks[0] if stacks and stacks[0].valid else None
        self.settings = settings.settings(self, first)
        by_kind: dict[str, list[LoadedDocument]] = {}
        for loaded in documents:
            if not loaded.valid or loaded.name is None or loaded.kind not in self.kinds:
                continue
            if self.names.get((loaded.kind, loaded.name)) is not loaded:
                continue  # a duplicate, already reported
            by_kind.setdefault(loaded.kind, []).append(loaded)
        for kind, builder in self.kinds.items():
            for loaded in by_kind.get(kind, []):
                record = builder.build(self, loaded, self.meta(loaded))
                if record is not None:
                    self.built[kind][record.meta.name] = record
                    self.documents[kind][record.meta.name] = loaded
        for builder in self.kinds.values():
            builder.check(self)
        dependencies = self._dependencies(self.settings)
        cycle = graph.find_cycle(dependencies)
        if cycle is not None:
            self.report(
                "references form a cycle: " + " -> ".join(cycle), self.settings.meta.location
            )
            return None
        rank = {builder.prefix: i for i, builder in enumerate(self.kinds.values())}
        rank[StackSettings.prefix] = -1
        order = graph.topological_order(dependencies, lambda a: (rank[a.split(".", 1)[0]], a))
        resources = {
            record.address: record for records in self.built.values() for record in records.values()
        }
        return Stack(self.settings, resources, dependencies, order)

    # Names and labels ---------------------------------------------------------------

    def _register_names(self, documents: Sequence[LoadedDocument]) -> None:
        for loaded in documents:
            kind, name = loaded.kind, loaded.name
            if kind is None or name is None:
                continue
            first = self.names.get((kind, name))
            if first is None:
                self.names[(kind, name)] = loaded
            elif kind != StackSettings.kind:
                self.report(
                    f'duplicate {kind} "{name}" '
                    f"(first declared at {first.doc.at(('metadata', 'name'))})",
                    loaded.doc.at(("metadata", "name")),
                    "names are unique per kind within a stack: rename or remove one",
                )

    def meta(self, loaded: LoadedDocument, *, with_defaults: bool = True) -> Meta:
        """A document's metadata: its labels over the stack's default labels, checked."""
        data = loaded.doc.data
        own = data["metadata"].get("labels", {})
        labels = {**(self.default_labels if with_defaults else {}), **own}
        for key in own:
            if key in RESERVED_LABELS:
                self.report(
                    f'label "{key}" is reserved by mlapply',
                    loaded.doc.key_at(("metadata", "labels", key)),
                    "mlapply sets " + ", ".join(RESERVED_LABELS) + " itself: use another key",
                )
        if len(labels) > MAX_LABELS:
            self.report(
                f"{len(labels)} labels with the stack's default labels; at most {MAX_LABELS}",
                loaded.doc.at(("metadata", "labels")),
                "a cloud resource carries at most 64 labels and mlapply reserves "
                f"{len(RESERVED_LABELS)}",
            )
        prevent = bool(data.get("lifecycle", {}).get("preventDestroy", False))
        return Meta(data["metadata"]["name"], labels, prevent, loaded.doc.location)

    # References -----------------------------------------------------------------------

    def _dependencies(self, settings: StackSettings) -> dict[str, tuple[str, ...]]:
        """Each resource's references as addresses; missing or wrong-kind names are
        reported and left out of the graph."""
        deps: dict[str, tuple[str, ...]] = {settings.address: ()}
        for kind, builder in self.kinds.items():
            for name, record in self.built[kind].items():
                refs = []
                for ref in builder.references(record):
                    target = self.kinds.get(ref.kind)
                    if target is None:
                        continue
                    if (ref.kind, ref.name) in self.names:
                        refs.append(address(target.prefix, ref.name))
                    else:
                        self._missing_reference(self.documents[kind][name], ref)
                deps[record.address] = tuple(refs)
        present = set(deps)
        present.update(address(self.kinds[k].prefix, n) for k, n in self.names if k in self.kinds)
        return {a: tuple(d for d in refs if d in present) for a, refs in deps.items()}

    def _missing_reference(self, loaded: LoadedDocument, ref: Reference) -> None:
        if self.manifests.unread:
            return  # it may be declared in a file that could not be read: that is the cause
        where = loaded.doc.at(ref.path)
        field_name = ".".join(ref.path)
        other_kinds = [k for k, n in self.names if n == ref.name and k != ref.kind]
        if other_kinds:
            self.report(
                f'{field_name}: "{ref.name}" is a {other_kinds[0]}, not a {ref.kind}',
                where,
                f"{field_name} names a {ref.kind}",
            )
            return
        candidates = sorted(n for k, n in self.names if k == ref.kind)
        hint = did_you_mean(ref.name, candidates) if candidates else None
        self.report(
            f'{field_name}: no {ref.kind} named "{ref.name}"',
            where,
            hint or f"declare a {ref.kind} with metadata.name: {ref.name}",
        )
