"""TensorFlow releases as runtime versions name them: where Keras 3 begins, and
``"2.15"`` read as a release.

Shipped to a Ray cluster with the launcher (it compares the cluster's TensorFlow
with a job's runtime), so it imports nothing.
"""

from __future__ import annotations

LAST_KERAS_2 = (2, 15)
KERAS_3_FROM = (2, 16)
"""TensorFlow 2.16 made Keras 3 its Keras and dropped tf.estimator (its release notes)."""


def parse(version: str) -> tuple[int, int] | None:
    """``"2.15"`` -> (2, 15); None for anything not a major.minor version."""
    parts = version.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1])
