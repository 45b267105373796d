"""Shared by the fake's parts: its API error; timestamps and checksums as Google writes them."""

from __future__ import annotations

import base64
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


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ 0x82F63B78 if value & 1 else value >> 1
        table.append(value)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> str:
    """An object's ``crc32c`` as Cloud Storage gives it: CRC32C (Castagnoli, RFC 4960
    appendix B), big-endian, base64 (storage v1 discovery document, Object.crc32c)."""
    value = 0xFFFFFFFF
    for byte in data:
        value = _CRC32C[(value ^ byte) & 0xFF] ^ (value >> 8)
    return base64.b64encode((value ^ 0xFFFFFFFF).to_bytes(4, "big")).decode()
