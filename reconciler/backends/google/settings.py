"""The Google backends' settings: ``Stack.spec.gcp``, shared by Vertex AI and Cloud
ML Engine (a project, a region, a staging bucket, the jobs' service account)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from reconciler.backends.settings import SettingsBlock

REQUIRED = ("project", "region", "stagingBucket")


class GcpSettings(NamedTuple):
    project: str | None
    region: str | None
    staging_bucket: str | None
    service_account: str | None

    @property
    def complete(self) -> bool:
        return bool(self.project and self.region and self.staging_bucket)


def parse(block: Mapping[str, Any], root: Path) -> GcpSettings:
    return GcpSettings(
        block.get("project"),
        block.get("region"),
        block.get("stagingBucket"),
        block.get("serviceAccount"),
    )


def problem(product: str, settings: object) -> str | None:
    """Why a stack on ``product`` cannot work with these settings, or None."""
    if not isinstance(settings, GcpSettings) or not settings.complete:
        return f"backend: {product} needs spec.gcp with project, region and stagingBucket"
    return None


SCHEMA = {
    "description": "Google Cloud settings, required by the `vertex` and `mlengine` backends.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "project": {
            "description": "The Google Cloud project id.",
            "type": "string",
            "pattern": "^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
            "x-hint": "a project id has 6 to 30 lowercase letters, digits and '-', "
            "starting with a letter",
        },
        "region": {"$ref": "common.schema.json#/$defs/region"},
        "stagingBucket": {
            "description": "Where packages, uploaded datasets and job outputs are staged: a "
            "gs:// URI, optionally with a path.",
            "type": "string",
            "pattern": "^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$",
            "x-hint": "write a bucket URI such as gs://my-bucket or gs://my-bucket/mlapply",
        },
        "serviceAccount": {
            "description": "The service account jobs run as (an email address).",
            "type": "string",
            "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
            "x-hint": "a service account is an email address, e.g. "
            "trainer@my-project.iam.gserviceaccount.com",
        },
    },
}

BLOCK = SettingsBlock("gcp", SCHEMA, parse, REQUIRED, lambda settings: settings.region)
