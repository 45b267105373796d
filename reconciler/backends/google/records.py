"""What a Google backend keeps beside the live resources: one JSON object per stack.

The APIs keep no room for the essence a plan recorded (to explain the next
change) nor for labels of finished jobs (which cannot change), so those go
in ``<prefix>records.json`` in the staging bucket, read once per plan.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from reconciler.backends.google.storage import Bucket

RECORDS = "records.json"


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
        with self._lock:
            records = self.read(stack)
            records.setdefault(section, {})
            if value is None:
                records[section].pop(key, None)
            else:
                records[section][key] = value
            body = json.dumps(records, sort_keys=True).encode()
            self._bucket().upload(self._prefix(stack) + RECORDS, data=body)
