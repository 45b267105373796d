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
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1e6) % 10**6:06d}Z"
    )
