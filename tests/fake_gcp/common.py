"""What every part of the fake shares: its API error, and timestamps as Google writes them."""

from __future__ import annotations

import time


class ApiError(Exception):
    def __init__(self, status: int, message: str, reason: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


def now() -> str:
    """The time as Google's JSON writes a Timestamp: RFC 3339, Z-normalized, with 0, 3,
    6 or 9 fractional digits (protobuf's JSON mapping of google.protobuf.Timestamp,
    protobuf.dev/reference/protobuf/google.protobuf/#timestamp, checked 2026-12-07).
    The fake writes 9, as the services do for nanosecond times."""
    nanos = time.time_ns()
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(nanos // 10**9))
    return f"{whole}.{nanos % 10**9:09d}Z"
