"""A compiled yes/no check of a document against our JSON Schemas.

jsonschema explains failures well but walks schemas slowly (about 0.3 ms a
document here), which dominates plans of thousands of resources. Valid
documents — nearly all of them — are confirmed by this compiled check;
only a document it rejects is validated again by jsonschema, whose errors
are the ones reported. It supports exactly the keywords our schemas use
and refuses to compile any other, so a schema change cannot make it
silently lenient (tests hold it to jsonschema's verdicts).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = {"$schema", "title", "description", "default", "examples", "$comment"}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers, 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def _every(checks: list[Check]) -> Check:
    # A loop rather than all() over a generator: this runs for every value of every
    # document, and a generator's frame per call was a third of the check's time.
    def check(v: Any) -> bool:
        for each in checks:  # noqa: SIM110 (no generator: see the comment)
            if not each(v):
                return False
        return True

    return check


class UnsupportedSchema(Exception):
    """The schema uses a keyword this checker does not implement."""


class Compiler:
    """Compiles schema files (by name) into checks; ``$ref`` may cross files."""

    def __init__(self, load: Callable[[str], Mapping[str, Any]]) -> None:
        self._load = load
        self._compiled: dict[tuple[str, str], Check] = {}

    def file(self, name: str) -> Check:
        return self.at(name, "")

    def at(self, file: str, pointer: str) -> Check:
        """The check for the schema at a JSON pointer (``/properties/spec``) in a file."""
        return self._ref(file, pointer)

    def _ref(self, file: str, pointer: str) -> Check:
        key = (file, pointer)
        if key not in self._compiled:
            # Placeholder first, so a recursive $ref finds itself.
            cell: list[Check] = []
            self._compiled[key] = lambda v: cell[0](v)  # noqa: PLW0108 (cell is filled below)
            node: Any = self._load(file)
            for part in filter(None, pointer.split("/")):
                node = node[part]
            cell.append(self._compile(node, file))
            self._compiled[key] = cell[0]
        return self._compiled[key]

    def _compile(self, schema: Mapping[str, Any], file: str) -> Check:
        checks: list[Check] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS or keyword.startswith("x-") or keyword == "$defs":
                continue
            if keyword in ("then", "else"):
                continue  # compiled with "if"
            build = getattr(self, "_kw_" + keyword.replace("$", "dollar_"), None)
            if build is None:
                raise UnsupportedSchema(keyword)
            checks.append(build(value, schema, file))
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        return _every(checks)

    def _sub(self, schema: Any, file: str) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        return self._compile(schema, file)

    # Keywords ---------------------------------------------------------------------

    def _kw_dollar_ref(self, ref: str, _: Any, file: str) -> Check:
        target, _, pointer = ref.partition("#")
        return self._ref(target or file, pointer)

    def _kw_type(self, names: str | list[str], *_: Any) -> Check:
        tests = [_TYPES[n] for n in ([names] if isinstance(names, str) else names)]
        if len(tests) == 1:
            return tests[0]
        return lambda v: any(t(v) for t in tests)

    def _kw_enum(self, options: list[Any], *_: Any) -> Check:
        return lambda v: any(_equal(v, o) for o in options)

    def _kw_const(self, expected: Any, *_: Any) -> Check:
        return lambda v: _equal(v, expected)

    def _kw_pattern(self, pattern: str, *_: Any) -> Check:
        search = re.compile(pattern).search
        return lambda v: not isinstance(v, str) or search(v) is not None

    def _kw_required(self, names: list[str], *_: Any) -> Check:
        wanted = frozenset(names)
        return lambda v: not isinstance(v, dict) or v.keys() >= wanted

    def _kw_properties(self, props: Mapping[str, Any], _: Any, file: str) -> Check:
        compiled = {name: self._sub(s, file) for name, s in props.items()}

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, item in v.items():
                sub = compiled.get(key)
                if sub is not None and not sub(item):
                    return False
            return True

        return check

    def _kw_additionalProperties(self, extra: Any, schema: Mapping[str, Any], file: str) -> Check:
        known = set(schema.get("properties", {}))
        if schema.get("patternProperties"):
            raise UnsupportedSchema("patternProperties")
        sub = self._sub(extra, file)

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, item in v.items():  # noqa: SIM110 (a loop, as in _every)
                if key not in known and not sub(item):
                    return False
            return True

        return check

    def _kw_propertyNames(self, names: Any, _: Any, file: str) -> Check:
        sub = self._sub(names, file)
        return lambda v: not isinstance(v, dict) or all(sub(k) for k in v)

    def _kw_items(self, items: Any, _: Any, file: str) -> Check:
        sub = self._sub(items, file)

        def check(v: Any) -> bool:
            if not isinstance(v, list):
                return True
            for item in v:  # noqa: SIM110 (a loop, as in _every)
                if not sub(item):
                    return False
            return True

        return check

    def _kw_uniqueItems(self, unique: bool, *_: Any) -> Check:
        def check(v: Any) -> bool:
            if not unique or not isinstance(v, list):
                return True
            return not any(_equal(a, b) for i, a in enumerate(v) for b in v[i + 1 :])

        return check

    def _kw_minItems(self, n: int, *_: Any) -> Check:
        return lambda v: not isinstance(v, list) or len(v) >= n

    def _kw_maxItems(self, n: int, *_: Any) -> Check:
        return lambda v: not isinstance(v, list) or len(v) <= n

    def _kw_minLength(self, n: int, *_: Any) -> Check:
        return lambda v: not isinstance(v, str) or len(v) >= n

    def _kw_maxLength(self, n: int, *_: Any) -> Check:
        return lambda v: not isinstance(v, str) or len(v) <= n

    def _kw_minProperties(self, n: int, *_: Any) -> Check:
        return lambda v: not isinstance(v, dict) or len(v) >= n

    def _kw_maxProperties(self, n: int, *_: Any) -> Check:
        return lambda v: not isinstance(v, dict) or len(v) <= n

    def _kw_minimum(self, n: float, *_: Any) -> Check:
        return lambda v: not _is_number(v) or v >= n

    def _kw_maximum(self, n: float, *_: Any) -> Check:
        return lambda v: not _is_number(v) or v <= n

    def _kw_exclusiveMinimum(self, n: float, *_: Any) -> Check:
        return lambda v: not _is_number(v) or v > n

    def _kw_allOf(self, subs: list[Any], _: Any, file: str) -> Check:
        return _every([self._sub(s, file) for s in subs])

    def _kw_anyOf(self, subs: list[Any], _: Any, file: str) -> Check:
        compiled = [self._sub(s, file) for s in subs]
        return lambda v: any(c(v) for c in compiled)

    def _kw_oneOf(self, subs: list[Any], _: Any, file: str) -> Check:
        compiled = [self._sub(s, file) for s in subs]
        return lambda v: sum(1 for c in compiled if c(v)) == 1

    def _kw_not(self, sub: Any, _: Any, file: str) -> Check:
        compiled = self._sub(sub, file)
        return lambda v: not compiled(v)

    def _kw_if(self, condition: Any, schema: Mapping[str, Any], file: str) -> Check:
        test = self._sub(condition, file)
        then = self._sub(schema.get("then", True), file)
        otherwise = self._sub(schema.get("else", True), file)
        return lambda v: then(v) if test(v) else otherwise(v)
