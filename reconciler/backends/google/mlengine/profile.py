"""Cloud ML Engine (``ml`` v1): shut down by Google on 2025-01-31; no driver yet.

The profile lets validate and plan read a migrating stack (its tiers are the
ML Engine tiers the table in ``google/tiers.py`` spells out); apply refuses it.
"""

from __future__ import annotations

from reconciler.backends.google.tiers import compile_pools
from reconciler.backends.profile import Profile

PROFILE = Profile(
    name="mlengine",
    title="Cloud ML Engine (ml v1)",
    compile_pools=compile_pools,
    unavailable=(
        "the Cloud ML Engine backend is not available in this version of mlapply "
        "(Google shut the ml v1 API down on 2025-01-31); use backend: vertex (Vertex AI, "
        "its live successor) or local"
    ),
)
