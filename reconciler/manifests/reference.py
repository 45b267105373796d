"""The manifest reference (docs/manifest-reference.md), generated from the schemas.

    python -m reconciler.manifests.reference > docs/manifest-reference.md

A test fails when the committed reference and the schemas disagree.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.manifests.schema import kind_schemas, load_schema


def _resolve(node: dict[str, Any], file_name: str) -> tuple[dict[str, Any], str]:
    """Follow a ``$ref`` (keeping the referring node's own description and default)."""
    ref = node.get("$ref")
    if not ref:
        return node, file_name
    target_file, _, pointer = ref.partition("#")
    target_file = target_file or file_name
    target: Any = load_schema(target_file)
    for part in filter(None, pointer.split("/")):
        target = target[part]
    merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return _resolve(merged, target_file) if "$ref" in target else (merged, target_file)


def _type(node: dict[str, Any]) -> str:
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array" and isinstance(node.get("items"), dict):
        return f"list of {_type(node['items']) or 'values'}"
    if (
        kind == "object"
        and "properties" not in node
        and isinstance(node.get("additionalProperties"), dict)
    ):
        return "map of name to " + (_type(node["additionalProperties"]) or "value")
    if kind:
        return str(kind)
    if "oneOf" in node:
        return " or ".join(_type(o) for o in node["oneOf"] if isinstance(o, dict) and _type(o))
    return ""


def _rows(node: dict[str, Any], file_name: str, prefix: str) -> list[str]:
    rows = []
    required = set(node.get("required", []))
    for name, field in node.get("properties", {}).items():
        resolved, where = _resolve(field, file_name)
        path = f"{prefix}{name}"
        default = f"`{json.dumps(resolved['default'])}`" if "default" in resolved else ""
        description = " ".join(str(resolved.get("description", "")).split()).replace("|", "\\|")
        mark = " (required)" if name in required else ""
        rows.append(f"| `{path}`{mark} | {_type(resolved)} | {default} | {description} |")
        if "properties" in resolved:
            rows.extend(_rows(resolved, where, f"{path}."))
        items = resolved.get("items")
        if isinstance(items, dict):
            item, item_file = _resolve(items, where)
            if "properties" in item:
                rows.extend(_rows(item, item_file, f"{path}[]."))
    return rows


def render_reference() -> str:
    lines = [
        "# Manifest reference",
        "",
        "Generated from `schemas/` by `python -m reconciler.manifests.reference`; do not edit.",
        "Every document has `apiVersion: mlapply/v1`, a `kind`, `metadata` and, for most "
        "kinds, `spec`.",
        "",
    ]
    for kind, file_name in kind_schemas().items():
        schema = load_schema(file_name)
        lines += [f"## {kind}", "", " ".join(schema.get("description", "").split()), ""]
        lines += ["| field | type | default | description |", "|---|---|---|---|"]
        lines += _rows(schema, file_name, "")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_reference(), end="")
