"""Google's RFC 3339 timestamps (``2026-12-06T01:02:03.456789Z``) as epoch seconds."""

from __future__ import annotations

from datetime import datetime


def seconds(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
