"""Safe YAML reading that keeps where every value came from.

Manifests are untrusted. This reader builds plain JSON-like values (dict,
list, str, int, float, bool, None) from libyaml's event stream itself rather
than using a YAML loader, which lets it

* record the file, line and column of every value and every mapping key
  (for a file that reads cleanly, only once they are first asked for:
  :class:`Positions`);
* reject duplicate mapping keys (YAML libraries silently keep the last one);
* refuse every tag that would construct an object (only the core scalar,
  sequence and mapping tags are accepted);
* bound the file size, the nesting depth and how far aliases may expand (an
  "alias bomb" such as billion laughs is refused before it is expanded).

Building from events also keeps deep nesting from recursing in C or Python.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events, nodes
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.resolver import Resolver

from reconciler.diagnostics import Diagnostic, Location, error

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 100_000

PathKey = tuple[str | int, ...]

_CORE = "tag:yaml.org,2002:"
_CONSTRUCTED_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
# Dates stay the text the user wrote: manifests have no date fields, and a
# string is what JSON Schema and hashing expect.
_TEXT_TAGS = {_CORE + "timestamp"}
_COLLECTION_TAGS = {_CORE + "seq", _CORE + "map"}
_MERGE_TAG = _CORE + "merge"

_RESOLVER = Resolver()
_IMPLICIT_FIRST = frozenset(c for c in Resolver.yaml_implicit_resolvers if c is not None)
_STR = _CORE + "str"
_CONSTRUCTOR = SafeConstructor()

try:
    _Parser: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Parser = yaml.SafeLoader


class Positions:
    """Where each value and mapping key of one document is.

    A file that reads without a problem is read without positions (most
    documents never need one, and keeping a position per value costs time and
    memory); the first question about a position reads the file again, with
    positions, for all of its documents at once.
    """

    __slots__ = ("_index", "_keys", "_source", "_values")

    def __init__(self, source: _Source | None = None, index: int = 0) -> None:
        self._values: dict[PathKey, Location] = {}
        self._keys: dict[PathKey, Location] = {}
        self._source = source
        self._index = index

    def _read(self) -> None:
        if self._source is not None:
            self._values, self._keys = self._source.positions_of(self._index)
            self._source = None

    @property
    def values(self) -> dict[PathKey, Location]:
        self._read()
        return self._values

    @property
    def keys(self) -> dict[PathKey, Location]:
        self._read()
        return self._keys


class _Source:
    """A file read without positions, kept to read them when first asked. It holds
    no document (a document holds it): no reference cycle keeps either alive."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.read: list[tuple[dict[PathKey, Location], dict[PathKey, Location]]] | None = None

    def positions_of(self, index: int) -> tuple[dict[PathKey, Location], dict[PathKey, Location]]:
        if self.read is None:
            documents, _ = _read(self.text, self.file, positions=True)
            self.read = [(d.positions.values, d.positions.keys) for d in documents]
            self.text = ""
        return self.read[index]


@dataclass
class Document:
    """One YAML document: its data and the position of each value in it."""

    file: str
    index: int
    data: Any
    location: Location
    positions: Positions = field(default_factory=Positions)
    references: bool = True
    """Whether the document may hold a ``${...}`` reference (False: its file has none)."""

    @property
    def values(self) -> dict[PathKey, Location]:
        return self.positions.values

    @property
    def keys(self) -> dict[PathKey, Location]:
        return self.positions.keys

    def at(self, path: PathKey) -> Location:
        """Where the value at ``path`` is, or the nearest enclosing value."""
        if not path:
            return self.location  # the document's value: known without positions
        values = self.values
        for end in range(len(path), -1, -1):
            found = values.get(path[:end])
            if found is not None:
                return found
        return self.location

    def key_at(self, path: PathKey) -> Location:
        """Where the key of the mapping entry at ``path`` is (else its value)."""
        return self.keys.get(path) or self.at(path)


class _Refused(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass
class _Frame:
    """A collection being built while its events stream in."""

    path: PathKey
    value: dict[str, Any] | list[Any]
    anchor: str | None
    start: Location
    size: int = 1
    pending_key: str | None = None
    pending_key_location: Location | None = None
    pending_merge: bool = False
    merges: list[tuple[dict[str, Any], Location]] = field(default_factory=list)


class _DocumentBuilder:
    """Builds one document's values from its events; with ``positions`` off it
    records no position, and a problem's position is only a placeholder (the
    file is read again with positions to report it)."""

    def __init__(self, file: str, index: int, start: Location, positions: bool) -> None:
        self.file = file
        self.positions = positions
        self.nowhere = Location(file)
        self.doc = Document(file=file, index=index, data=None, location=start)
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.expanded = 0
        self.diagnostics: list[Diagnostic] = []
        self.done = False

    def loc(self, mark: Any) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    def child_path(self) -> PathKey:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return (*top.path, len(top.value))
        if top.pending_merge:
            return top.path
        assert top.pending_key is not None
        return (*top.path, top.pending_key)

    def count(self, size: int, where: Location) -> None:
        self.expanded += size
        if self.expanded > MAX_EXPANDED_NODES:
            raise _Refused(
                error(
                    f"document expands to more than {MAX_EXPANDED_NODES:,} values "
                    "(aliases referring to aliases, an alias bomb?)",
                    where,
                    "write the values out, or use fewer nested aliases",
                )
            )

    # Scalars ---------------------------------------------------------------

    def scalar(self, event: events.ScalarEvent) -> None:
        if self.positions or not self.stack:
            mark: Any = event.start_mark  # libyaml always marks its events
            where = Location(self.file, mark.line + 1, mark.column + 1)
        else:
            where = self.nowhere
        if self.stack:
            top = self.stack[-1]
            if top.pending_key is None and not top.pending_merge and type(top.value) is dict:
                self.key(event, where)
                return
        value = self.scalar_value(event, where)
        self.count(1, where)
        self.attach(value, where, event.anchor, 1)

    def scalar_value(self, event: events.ScalarEvent, where: Location) -> Any:
        tag = event.tag
        if tag is None and not event.implicit[0]:
            return event.value  # quoted and untagged: a string, whatever it looks like
        if tag is None and event.value and event.value[0] not in _IMPLICIT_FIRST:
            return event.value  # plain, and no implicit type starts with this character
        if tag is None or tag == "!":
            implicit = (event.implicit[0], event.implicit[1]) if tag is None else (False, False)
            tag = _RESOLVER.resolve(nodes.ScalarNode, event.value, implicit)  # type: ignore[no-untyped-call]
        if tag in _TEXT_TAGS or tag == _STR:
            return event.value
        if tag not in _CONSTRUCTED_TAGS:
            raise _Refused(self.tag_error(tag, where))
        node = nodes.ScalarNode(tag, event.value)
        try:
            value = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
        except (ConstructorError, ValueError) as exc:
            raise _Refused(error(f"invalid {tag.removeprefix(_CORE)}: {exc}", where)) from exc
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refused(
                error(
                    f"{event.value} is not a finite number",
                    where,
                    "JSON and the cloud APIs cannot carry NaN or infinity: use a number, or "
                    "quote it to make it text",
                )
            )
        return value

    def tag_error(self, tag: str, where: Location) -> Diagnostic:
        shown = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
        return error(
            f"YAML tag {shown} is not allowed in manifests",
            where,
            "manifests hold plain values only: remove the tag (quote the value if it "
            "must stay text)",
        )

    def key(self, event: events.ScalarEvent, where: Location) -> None:
        top = self.stack[-1]
        assert isinstance(top.value, dict)
        if event.tag == _MERGE_TAG or (
            event.tag is None and event.value == "<<" and event.implicit[0]
        ):
            top.pending_merge = True
            return
        if event.tag is not None and event.tag not in (_CORE + "str", "!"):
            raise _Refused(self.tag_error(event.tag, where))
        if event.anchor is not None:
            raise _Refused(error("anchors on mapping keys are not supported", where))
        # Keys are names: keep the text as written, so `on:` or `1:` stay strings.
        name = event.value
        if name in top.value and not self.positions:
            raise _Refused(error(f'duplicate key "{name}"', where))  # said again with positions
        if name in top.value and (*top.path, name) in self.doc.keys:
            first = self.doc.keys[(*top.path, name)]
            self.diagnostics.append(
                error(
                    f'duplicate key "{name}" (first defined at line {first.line})',
                    where,
                    "YAML keeps only one of them silently: remove or rename one",
                )
            )
        top.pending_key = name
        top.pending_key_location = where

    # Collections -----------------------------------------------------------

    def start(self, event: events.CollectionStartEvent, value: dict[str, Any] | list[Any]) -> None:
        where = self.loc(event.start_mark) if self.positions or not self.stack else self.nowhere
        if event.tag is not None and event.tag != "!" and event.tag not in _COLLECTION_TAGS:
            raise _Refused(self.tag_error(event.tag, where))
        if self.stack and isinstance(self.stack[-1].value, dict):
            top = self.stack[-1]
            if top.pending_key is None and not top.pending_merge:
                raise _Refused(
                    error("mapping keys must be plain names, not lists or mappings", where)
                )
        if len(self.stack) >= MAX_DEPTH:
            raise _Refused(
                error(f"values nest deeper than {MAX_DEPTH} levels", where, "flatten the document")
            )
        self.count(1, where)
        path = self.child_path() if self.positions else ()
        self.stack.append(_Frame(path, value, event.anchor, where))

    def end(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, dict) and frame.merges:
            merged: dict[str, Any] = {}
            for source, _ in frame.merges:
                for key, item in source.items():
                    merged.setdefault(key, item)
            merged.update(frame.value)
            frame.value = merged
        self.attach(frame.value, frame.start, frame.anchor, frame.size)

    def alias(self, event: events.AliasEvent) -> None:
        where = self.loc(event.start_mark)
        anchor = event.anchor
        if anchor not in self.anchors:
            raise _Refused(
                error(
                    f'alias "*{anchor}" refers to no complete anchor "&{anchor}" before it',
                    where,
                    "define the anchor first; an alias may not refer to a value containing it",
                )
            )
        value, size = self.anchors[anchor]
        self.count(size, where)
        self.attach(value, where, None, size)

    def attach(self, value: Any, where: Location, anchor: str | None, size: int) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, size)
        if not self.stack:
            self.doc.data = value
            if self.positions:
                self.doc.values[()] = where
            self.doc.location = where
            return
        top = self.stack[-1]
        top.size += size
        if isinstance(top.value, list):
            if self.positions:
                self.doc.values.setdefault((*top.path, len(top.value)), where)
            top.value.append(value)
            return
        if top.pending_merge:
            top.pending_merge = False
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(s, dict) for s in sources):
                raise _Refused(error("a merge key (<<) takes a mapping or a list of them", where))
            top.merges.extend((s, where) for s in sources)
            return
        assert top.pending_key is not None and top.pending_key_location is not None
        if self.positions and top.pending_key not in top.value:
            path = (*top.path, top.pending_key)
            self.doc.keys[path] = top.pending_key_location
            self.doc.values[path] = where
        top.value[top.pending_key] = value
        top.pending_key = None
        top.pending_key_location = None


def _events(text: str) -> Iterator[events.Event]:
    """libyaml's events, taken from its parser directly (``yaml.parse`` asks the
    parser twice per event: ``check_event``, then ``get_event``)."""
    parser = _Parser(text)
    try:
        get = parser.get_event
        while True:
            event = get()
            if event is None or isinstance(event, events.StreamEndEvent):
                return
            yield event
    finally:
        parser.dispose()


_STEPS: dict[type[events.Event], Callable[[_DocumentBuilder, Any], None]] = {
    events.ScalarEvent: _DocumentBuilder.scalar,
    events.MappingStartEvent: lambda builder, event: builder.start(event, {}),
    events.SequenceStartEvent: lambda builder, event: builder.start(event, []),
    events.MappingEndEvent: lambda builder, _: builder.end(),
    events.SequenceEndEvent: lambda builder, _: builder.end(),
    events.AliasEvent: _DocumentBuilder.alias,
}


def read_yaml(text: str, file: str) -> tuple[list[Document], list[Diagnostic]]:
    """Every document in ``text``, with positions; problems as diagnostics.

    Read first without positions; a file with a problem is read again with them,
    so that each problem is said where it is.
    """
    documents, diagnostics = _read(text, file, positions=False)
    if diagnostics:
        documents, diagnostics = _read(text, file, positions=True)
    else:
        source = _Source(text, file)
        for document in documents:
            document.positions = Positions(source, document.index)
    if "${" not in text:
        for document in documents:
            document.references = False
    return documents, diagnostics


def _read(text: str, file: str, *, positions: bool) -> tuple[list[Document], list[Diagnostic]]:
    documents: list[Document] = []
    diagnostics: list[Diagnostic] = []
    builder: _DocumentBuilder | None = None
    index = 0
    steps = _STEPS
    try:
        for event in _events(text):
            step = steps.get(type(event))
            if step is not None:
                if builder is not None:
                    step(builder, event)
            elif isinstance(event, events.DocumentStartEvent):
                mark = event.start_mark
                start = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
                builder = _DocumentBuilder(file, index, start, positions)
                index += 1
            elif isinstance(event, events.DocumentEndEvent):
                assert builder is not None
                diagnostics.extend(builder.diagnostics)
                documents.append(builder.doc)
                builder = None
    except _Refused as refused:
        diagnostics.extend(builder.diagnostics if builder else [])
        diagnostics.append(refused.diagnostic)
    except yaml.MarkedYAMLError as exc:
        diagnostics.append(_syntax_error(exc, file, text))
    except yaml.YAMLError as exc:  # reader errors: bad encoding, control characters
        diagnostics.append(error(f"not valid YAML: {exc}", Location(file)))
    return documents, diagnostics


def _syntax_error(exc: yaml.MarkedYAMLError, file: str, text: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
    problem = exc.problem or "syntax error"
    if exc.context:
        problem = f"{problem} ({exc.context})"
    hint = None
    lines = text.splitlines()
    if mark and mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
        hint = "indent with spaces: YAML does not allow tabs for indentation"
    return error(f"not valid YAML: {problem}", where, hint)


def read_yaml_file(path: str, display: str) -> tuple[list[Document], list[Diagnostic]]:
    """Read a manifest file, refusing oversized or non-UTF-8 files with a clear error."""
    try:
        # Non-blocking: a FIFO named here must not hang the command; only files are read.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return [], [error("not a regular file", Location(display))]
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return [], [error(f"cannot read file: {exc.strerror}", Location(display))]
    if len(raw) > MAX_FILE_BYTES:
        return [], [
            error(
                f"file is larger than {MAX_FILE_BYTES // 1024} KiB, the limit for a manifest",
                Location(display),
                "keep data out of manifests: point a Dataset at the files instead",
            )
        ]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [
            error(
                f"file is not UTF-8 text (byte {exc.start})",
                Location(display),
                "save the file as UTF-8",
            )
        ]
    return read_yaml(text, display)
