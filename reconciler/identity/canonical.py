"""Canonical JSON and the hashes built on it.

Canonical JSON: keys sorted, no insignificant whitespace, UTF-8, and floats
written by Python's shortest round-trip ``repr`` — so equal values always
give equal bytes, whatever order a manifest wrote them in.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

SHORT_HASH_LENGTH = 8


# One encoder for every digest: json.dumps with these options would build a new
# one per call, which was a tenth of identity's time on a 10,000-job stack.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> str:
    """Raises ValueError for NaN or infinity, which JSON cannot write."""
    return _ENCODER.encode(value)


def sha256_hex(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """The sha256 of a value's canonical JSON."""
    return sha256_hex(canonical_json(value))


def short(full_digest: str) -> str:
    return full_digest[:SHORT_HASH_LENGTH]
