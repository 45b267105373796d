"""Vertex AI on the Google core: the regional ``aiplatform`` v1 client and its parent."""

from __future__ import annotations

from typing import Any

from reconciler.backends.google.driver import GoogleDriver
from reconciler.backends.google.vertex.profile import PROFILE


class VertexCore(GoogleDriver):
    name = "vertex"
    profile = PROFILE
    variable = "VERTEX"
    default_poll_seconds = 15.0
    trial_hint = (
        "on Vertex AI each trial writes its model to its own AIP_MODEL_DIR "
        "(<job dir>/<trial id>/model/): Vertex passes no per-trial flag, and no "
        "TF_CONFIG to a single replica, so a trainer that only writes under "
        "--output_dir writes every trial to one folder"
    )

    api = "aiplatform"
    regional_root = "https://{region}-aiplatform.googleapis.com/"
    parent_format = "projects/{project}/locations/{region}"

    @property
    def ai(self) -> Any:
        """``projects().locations()`` of the region's endpoint."""
        return self.operations_service().projects().locations()
