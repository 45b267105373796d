"""The local backend's settings: ``Stack.spec.local``.

Its ``home`` is the stack home (state, staged packages, caches); every backend
keeps its caches there, so the Stack kind reads it whatever the backend. The
``replicas`` are the local shape of distributed scale tiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from reconciler.backends.settings import SettingsBlock

HOME = ".mlapply"


class LocalSettings(NamedTuple):
    workers: int = 2
    parameter_servers: int = 2
    evaluators: int = 0


def parse(block: Mapping[str, Any], root: Path) -> LocalSettings:
    replicas = block.get("replicas", {})
    return LocalSettings(
        workers=replicas.get("workers", 2),
        parameter_servers=replicas.get("parameterServers", 2),
        evaluators=replicas.get("evaluators", 0),
    )


def _count(description: str, maximum: int, default: int) -> dict[str, Any]:
    return {
        "description": description,
        "type": "integer",
        "minimum": 0,
        "maximum": maximum,
        "default": default,
    }


SCHEMA = {
    "description": "Settings of the local backend, and the stack home.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "home": {
            "description": "The stack home: SQLite state, staged packages, job folders and "
            "deployed models, and the hash cache of every backend. Relative to the Stack "
            "document's folder.",
            "type": "string",
            "minLength": 1,
            "default": HOME,
        },
        "replicas": {
            "description": "The local shape of distributed scale tiers (STANDARD_1, PREMIUM_1, "
            "and CUSTOM beyond one machine): one chief plus these processes.",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "workers": _count("Worker processes besides the chief.", 32, 2),
                "parameterServers": _count("Parameter server processes.", 32, 2),
                "evaluators": _count("Evaluator processes.", 8, 0),
            },
        },
    },
}

BLOCK = SettingsBlock("local", SCHEMA, parse)
