"""Validation of documents against the JSON Schemas in ``schemas/``.

The schemas are the single source of truth for the shape of every kind. This
module loads them, validates each document against its kind's schema, and
turns JSON Schema's failures into diagnostics people can act on: the field
path, the file position (of the key for an unknown field), and a hint — a
"did you mean" for typos, or the schema's own ``x-hint``/``x-error`` text.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.assets import schemas_dir
from reconciler.diagnostics import Diagnostic, closest, did_you_mean, error, sort_key
from reconciler.manifests.fastcheck import Check, Compiler, UnsupportedSchema
from reconciler.manifests.yaml_reader import Document, PathKey

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

API_VERSION = "mlapply/v1"
MANIFEST_SCHEMA = "manifest.schema.json"
# A base URI for resolving the schemas' relative $refs in memory; the files
# carry no $id, so editors resolve the same refs against the files' location.
_BASE_URI = "https://schemas.mlapply.invalid/"


@functools.cache
def load_schema(file_name: str) -> dict[str, Any]:
    """A schema file's content (shared: do not modify it)."""
    with open(schemas_dir() / file_name, encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


@functools.cache
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = [
        (_BASE_URI + path.name, Resource.from_contents(load_schema(path.name), DRAFT202012))
        for path in sorted(schemas_dir().glob("*.schema.json"))
    ]
    return Registry().with_resources(resources)


@functools.cache
def kind_schemas() -> dict[str, str]:
    """Each kind's schema file, as ``manifest.schema.json`` dispatches on ``kind``
    (the schemas are the manifest layer's vocabulary; tests check the kinds table
    against them)."""
    found: dict[str, str] = {}
    for branch in load_schema(MANIFEST_SCHEMA)["allOf"]:
        kind = branch["if"]["properties"]["kind"]["const"]
        found[kind] = branch["then"]["$ref"]
    return found


@functools.cache
def validator_for(file_name: str) -> Validator:
    """A validator for one schema file, resolving references to the others."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": _BASE_URI + file_name}, registry=_registry())


@functools.cache
def fast_check(file_name: str, pointer: str = "") -> Check | None:
    """The compiled yes/no check for a schema file (or a JSON pointer into it),
    or None if it cannot be compiled."""
    try:
        return _compiler().at(file_name, pointer)
    except UnsupportedSchema:
        return None


@functools.cache
def _compiler() -> Compiler:
    return Compiler(load_schema)


def is_valid_at(value: Any, file_name: str, pointer: str = "") -> bool:
    """Whether ``value`` satisfies the schema at ``pointer`` in a schema file."""
    check = fast_check(file_name, pointer)
    if check is not None:
        return check(value)
    from jsonschema import Draft202012Validator

    ref = {"$ref": f"{_BASE_URI}{file_name}#{pointer}"}
    return bool(Draft202012Validator(ref, registry=_registry()).is_valid(value))


def validate_value(
    value: Any, file_name: str, doc: Document, base: PathKey = ()
) -> list[Diagnostic]:
    """Validate ``value`` (found at ``base`` in ``doc``) against one schema file."""
    check = fast_check(file_name)
    if check is not None and check(value):
        return []
    found = list(validator_for(file_name).iter_errors(value))
    # An unknown field is the likely cause of a missing one in the same mapping (a typo:
    # "sourc" for "source"): what the mapping then lacks is not said as a second cause.
    typos = {tuple(e.absolute_path) for e in found if e.validator == "additionalProperties"}
    found = [
        e for e in found if not (e.validator in _CONSEQUENCES and tuple(e.absolute_path) in typos)
    ]
    return _unique(d for err in found for d in _translate(err, doc, base))


_CONSEQUENCES = frozenset({"required", "oneOf", "anyOf", "dependentRequired"})


def validate_document(doc: Document) -> list[Diagnostic]:
    """All schema problems of one document, in file order."""
    data = doc.data
    if not isinstance(data, dict):
        return [
            error(
                f"a manifest document must be a mapping, not {_type_name(data)}",
                doc.at(()),
                "each document has apiVersion, kind, metadata and spec",
            )
        ]
    kind = data.get("kind")
    if kind is None:
        return [
            error(
                "document has no kind",
                doc.at(()),
                "add `kind:` with one of: " + ", ".join(kind_schemas()),
            )
        ]
    schemas = kind_schemas()
    if not isinstance(kind, str) or kind not in schemas:
        return [
            error(
                f"unknown kind {_show(kind)}",
                doc.at(("kind",)),
                did_you_mean(str(kind), list(schemas)),
            )
        ]
    return validate_value(data, schemas[kind], doc)


# Translation of JSON Schema errors ------------------------------------------------


def _unique(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: dict[tuple[object, str], Diagnostic] = {}
    for diagnostic in diagnostics:
        seen.setdefault((diagnostic.location, diagnostic.message), diagnostic)
    return sorted(seen.values(), key=lambda d: (sort_key(d), d.message))


def _translate(err: ValidationError, doc: Document, base: PathKey) -> list[Diagnostic]:
    path: PathKey = (*base, *err.absolute_path)
    schema = err.schema if isinstance(err.schema, dict) else {}
    hint = schema.get("x-hint")
    keyword = err.validator
    instance: Any = err.instance
    expected: Any = err.validator_value
    # A mapping or list is shown by its key (`spec:`); a scalar by its value.
    where = doc.key_at(path) if isinstance(instance, dict | list) else doc.at(path)

    if "propertyNames" in err.relative_schema_path:
        return [
            error(
                f"{_field(path)}: key {_show(instance)} is not valid",
                doc.key_at((*path, str(instance))),
                hint,
            )
        ]
    if keyword == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        extras = [k for k in instance if k not in known]
        return [
            error(
                f"unknown field {_show(extra)}" + (f" in {_field(path)}" if path else ""),
                doc.key_at((*path, extra)),
                did_you_mean(extra, known) if known else "no fields are allowed here",
            )
            for extra in extras
        ]
    if keyword == "required":
        missing = [f for f in expected if f not in instance]
        return [
            error(f"missing required field {_show(_field((*path, name)))}", where, hint)
            for name in missing
        ]
    if keyword == "type":
        names = [expected] if isinstance(expected, str) else list(expected)
        message = f"{_field(path)}: expected {_or(_article(n) for n in names)}, got " + (
            f"{_type_name(instance)} ({_show(instance)})"
            if _is_scalar(instance)
            else _type_name(instance)
        )
        if hint is None and "string" in names and isinstance(instance, int | float | bool):
            hint = f'quote the value to make it a string: "{_yaml_text(instance)}"'
        return [error(message, where, hint)]
    if keyword == "enum":
        options = [str(o) for o in expected]
        match = closest(str(instance), options) if isinstance(instance, str) else None
        return [
            error(
                f"{_field(path)}: {_show(instance)} is not one of {', '.join(options)}",
                where,
                f'did you mean "{match}"?' if match else hint,
            )
        ]
    if keyword == "const":
        return [
            error(
                f"{_field(path)}: expected {_show(expected)}, got {_show(instance)}",
                where,
                hint,
            )
        ]
    if keyword == "pattern":
        return [
            error(
                f"{_field(path)}: {_show(instance)} is not valid",
                where,
                hint or f"it must match {expected}",
            )
        ]
    if keyword in ("oneOf", "anyOf"):
        if "x-error" in schema:
            return [error(f"{_field(path)}: {schema['x-error']}", where, hint)]
        from jsonschema.exceptions import best_match

        best = best_match(err.context or [])
        return _translate(best, doc, base) if best is not None else []
    if keyword == "not":
        return [error(f"{_field(path)}: this combination of fields is not allowed", where, hint)]
    bounds = {
        "minimum": "is less than the minimum",
        "maximum": "is more than the maximum",
        "exclusiveMinimum": "must be more than",
        "exclusiveMaximum": "must be less than",
    }
    if keyword in bounds:
        return [error(f"{_field(path)}: {instance} {bounds[keyword]} {expected}", where, hint)]
    sizes = {
        "minItems": "needs at least {} item(s)",
        "maxItems": "takes at most {} item(s)",
        "minLength": "needs at least {} character(s)",
        "maxLength": "takes at most {} characters",
        "minProperties": "needs at least {} entries",
        "maxProperties": "takes at most {} entries",
    }
    if keyword in sizes:
        return [error(f"{_field(path)}: {sizes[keyword].format(expected)}", where, hint)]
    return [error(f"{_field(path)}: {err.message}", where, hint)]


def _field(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text or "document"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    return _yaml_text(value)


def _yaml_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)[:60]
    return str(value)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


_ARTICLES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "null": "null",
}


def _article(name: str) -> str:
    return _ARTICLES.get(name, name)


def _or(items: Iterable[str]) -> str:
    words = list(items)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]
