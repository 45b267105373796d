"""A backend's settings: its own block of ``Stack.spec``, declared, parsed and checked
in the backend's folder (as dstack keeps each backend's settings model beside its
compute).

A backend names its block in its registry row (``Row.settings``). The Stack kind
parses the stack's own backend's block with it; ``schemas/stack.schema.json``
composes every block's schema (``compose``), and ``tests/test_tables.py`` keeps
the committed schema and the folders in step (``python -m
reconciler.backends.settings`` rewrites it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:
    from reconciler.stack.resources import StackSettings

T = TypeVar("T")


class SettingsBlock(NamedTuple):
    key: str
    """Its block in ``Stack.spec`` (``local``, ``gcp``, ``ray``); backends may share one."""
    schema: Mapping[str, Any]
    """The block's JSON Schema."""
    parse: Callable[[Mapping[str, Any], Path], object]
    """The block as written (``{}`` when absent) and the Stack document's folder -> the
    backend's typed settings (schema-valid input: the schema ran first)."""
    required: tuple[str, ...] = ()
    """What a stack on the backend must set in the block (the composed schema says so)."""
    region: Callable[[Any], str | None] = lambda settings: None
    """The region the settings give, when the Stack's defaults name none."""


def own(settings: StackSettings, kind: type[T]) -> T:
    """The stack's backend settings as the backend's own type."""
    found = settings.backend_settings
    assert isinstance(found, kind), f"{settings.backend} settings are {type(found).__name__}"
    return found


def compose(stack_schema: Mapping[str, Any], blocks: Mapping[str, SettingsBlock]) -> dict[str, Any]:
    """``stack_schema`` with each backend's block, the backends' names, and what each
    backend requires (``blocks``: by backend name, in the registry's order)."""
    composed: dict[str, Any] = json.loads(json.dumps(stack_schema))
    spec = composed["properties"]["spec"]
    spec["properties"]["backend"]["enum"] = list(blocks)
    for block in blocks.values():
        spec["properties"][block.key] = json.loads(json.dumps(block.schema))
    requirements = []
    for key in dict.fromkeys(b.key for b in blocks.values() if b.required):
        needing = [name for name, b in blocks.items() if b.key == key and b.required]
        fields = next(b.required for b in blocks.values() if b.key == key and b.required)
        names = " and ".join(needing)
        requirements.append(
            {
                "if": {"properties": {"backend": {"enum": needing}}, "required": ["backend"]},
                "then": {
                    "required": [key],
                    "properties": {key: {"required": list(fields)}},
                    "x-hint": f"the {names} backend{'s' if len(needing) > 1 else ''} need"
                    f"{'' if len(needing) > 1 else 's'} spec.{key} with {_listed(fields)}",
                },
            }
        )
    spec["allOf"] = requirements
    return composed


def formatted(value: Any, indent: int = 0, width: int = 100, used: int = 0) -> str:
    """JSON as the committed schemas are written: an object or list on one line when it
    holds no object and fits in ``width`` (``used``: columns its key takes), else one
    member a line."""
    inline = json.dumps(value, ensure_ascii=False)
    members = value.values() if isinstance(value, dict) else value
    nested = isinstance(value, dict | list) and any(isinstance(v, dict) for v in members)
    if not isinstance(value, dict | list) or (not nested and indent + used + len(inline) <= width):
        return inline
    inner = " " * (indent + 2)
    if isinstance(value, list):
        items = [inner + formatted(v, indent + 2, width) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    lines = []
    for key, member in value.items():
        name = json.dumps(key, ensure_ascii=False) + ": "
        lines.append(inner + name + formatted(member, indent + 2, width, len(name)))
    return "{\n" + ",\n".join(lines) + "\n" + " " * indent + "}"


def _listed(fields: tuple[str, ...]) -> str:
    return ", ".join(fields[:-1]) + " and " + fields[-1] if len(fields) > 1 else fields[0]


def _main() -> None:
    """Rewrite schemas/stack.schema.json from the backends' folders."""
    from reconciler.backends import registry

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("schemas/stack.schema.json")
    current = json.loads(path.read_text(encoding="utf-8"))
    blocks = {name: registry.settings(name) for name in registry.BACKENDS}
    path.write_text(formatted(compose(current, blocks)) + "\n", encoding="utf-8")


if __name__ == "__main__":
    _main()
