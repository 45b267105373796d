"""The Ray backend's settings: ``Stack.spec.ray``.

``address`` is the cluster's Jobs API (the dashboard, ``http://HOST:8265``);
when the Stack names none, ``RAY_ADDRESS`` gives it when a command acts, as
``ray job submit`` reads it. ``serveAddress`` is where Ray Serve answers
(default: the dashboard's host, port 8000, Serve's default). ``storage`` is a
folder every node and this machine read and write (a shared filesystem's path):
data is staged there, jobs write their output there (where apply finds the
export), and the versions' SavedModels are copied there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from reconciler.backends.settings import SettingsBlock

ADDRESS_VARIABLE = "RAY_ADDRESS"


class RaySettings(NamedTuple):
    address: str | None
    """The Jobs API's address as written (None: ``RAY_ADDRESS`` when acting)."""
    storage: str
    """The shared folder, absolute (a URI as written, which validate refuses)."""
    cpus_per_replica: float = 1.0
    serve_address: str | None = None
    """Where Ray Serve answers, as written (None: the dashboard's host, port 8000)."""


URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def parse(block: Mapping[str, Any], root: Path) -> RaySettings:
    storage = str(block.get("storage", ""))
    return RaySettings(
        address=block.get("address"),
        # A URI is kept as written: the profile refuses it (settings_problem).
        storage=storage if URI.match(storage) or not storage else str((root / storage).resolve()),
        cpus_per_replica=float(block.get("cpusPerReplica", 1)),
        serve_address=block.get("serveAddress"),
    )


SCHEMA = {
    "description": "Settings of the ray backend: the cluster and its shared storage.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "address": {
            "description": "The cluster's Jobs API, the dashboard's address "
            "(http://HOST:8265). Default: the RAY_ADDRESS environment variable.",
            "type": "string",
            "pattern": "^https?://",
        },
        "serveAddress": {
            "description": "Where Ray Serve answers predictions (http://HOST:8000). "
            "Default: the address's host, port 8000 (Serve's default).",
            "type": "string",
            "pattern": "^https?://",
        },
        "storage": {
            "description": "A folder that every node of the cluster and the machine "
            "running mlapply read and write at the same path (a shared filesystem): "
            "staged data and every job's output. Relative to the Stack document's folder.",
            "type": "string",
            "minLength": 1,
        },
        "cpusPerReplica": {
            "description": "The CPUs each replica of a job asks the cluster for.",
            "type": "number",
            "minimum": 0.1,
            "maximum": 512,
            "default": 1,
        },
    },
}

BLOCK = SettingsBlock("ray", SCHEMA, parse, required=("storage",))
