"""Google's RFC 3339 timestamps (``2026-12-06T01:02:03.456789Z``) as epoch seconds.

Google's JSON writes a Timestamp Z-normalized with 0, 3, 6 or 9 fractional
digits and accepts other offsets (protobuf's JSON mapping of
google.protobuf.Timestamp, checked 2026-12-07). ``datetime.fromisoformat``
takes neither 9 digits nor "Z" on Python 3.10, which mlapply supports: the
fraction is read here, to the nanosecond.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)")


def seconds(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    found = _RFC3339.fullmatch(timestamp.strip())
    if found is None:
        raise ValueError(f"not an RFC 3339 timestamp: {timestamp!r}")
    day, clock, fraction, offset = found.groups()
    whole = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=_zone(offset))
    return whole.timestamp() + (int(fraction.ljust(9, "0")) / 1e9 if fraction else 0.0)


def _zone(offset: str) -> timezone:
    if offset in ("Z", "z"):
        return timezone.utc
    sign = -1 if offset[0] == "-" else 1
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def rfc3339(epoch: float) -> str:
    """Epoch seconds as Google writes a Timestamp: UTC, ``Z``, whole microseconds."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
