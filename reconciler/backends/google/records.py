"""What a Google backend keeps beside the live resources: one JSON object per stack.

The APIs keep no room for the essence a plan recorded (to explain the next
change) nor for labels of finished jobs (which cannot change), so those go
in ``<prefix>records.json`` in the staging bucket, read once per plan.

A write reads the object's generation and content, changes one key and writes
back only if the generation is still the same (``ifGenerationMatch``, 412
otherwise: Cloud Storage's request preconditions,
cloud.google.com/storage/docs/request-preconditions, checked 2026-12-01), so two
writers (two applies' threads, two machines) never lose each other's update.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from reconciler.backends.google.errors import PreconditionFailed
from reconciler.backends.google.storage import Bucket
from reconciler.diagnostics import MlapplyError

RECORDS = "records.json"
WRITE_ATTEMPTS = 20  # read-change-write rounds lost to other writers before giving up


class Records:
    def __init__(self, bucket: Callable[[], Bucket], prefix: Callable[[str], str]) -> None:
        self._bucket = bucket
        self._prefix = prefix
        self._lock = threading.Lock()

    def read(self, stack: str) -> dict[str, Any]:
        data = self._bucket().read(self._prefix(stack) + RECORDS)
        loaded: dict[str, Any] = json.loads(data) if data else {}
        return loaded

    def put(self, stack: str, section: str, key: str, value: Any) -> None:
        """Set (or, with None, remove) ``section[key]``."""
        name = self._prefix(stack) + RECORDS
        with self._lock:
            for _ in range(WRITE_ATTEMPTS):
                bucket = self._bucket()
                meta = bucket.get(name)
                generation = int(meta["generation"]) if meta else 0  # 0: only if absent
                data = bucket.read(name, generation) if generation else None
                records: dict[str, Any] = json.loads(data) if data else {}
                records.setdefault(section, {})
                if value is None:
                    records[section].pop(key, None)
                else:
                    records[section][key] = value
                body = json.dumps(records, sort_keys=True).encode()
                try:
                    bucket.upload(name, data=body, if_generation_match=generation)
                    return
                except PreconditionFailed:
                    continue  # another writer came first: read theirs and apply ours again
            raise MlapplyError(
                f"{bucket.uri(name)} kept changing under {WRITE_ATTEMPTS} writes",
                "another apply of this stack is writing it; run again when it is done",
            )
