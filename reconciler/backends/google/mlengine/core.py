"""Cloud ML Engine on the Google core: ``ml`` v1, jobs on the global endpoint and
models on the region's (``https://REGION-ml.googleapis.com``, gcp-api.md section 1)."""

from __future__ import annotations

from typing import Any

from reconciler.backends.google.driver import GoogleDriver
from reconciler.backends.google.mlengine.profile import PROFILE


class MlEngineCore(GoogleDriver):
    name = "mlengine"
    profile = PROFILE
    variable = "MLENGINE"
    # Airflow's ML Engine hook polled jobs every 30 s (gcp-api.md section 1.2).
    default_poll_seconds = 30.0
    roles = (
        "check that the credentials' account has the ML Engine Developer and Storage Object "
        "Admin roles on the project and the staging bucket"
    )
    trial_hint = (
        "on Cloud ML Engine every trial gets the same --job-dir and --output_dir: "
        "join TF_CONFIG's task.trial to the output dir, so that each trial "
        "exports to <output dir>/<trial>/"
    )

    api = "ml"
    regional_root = "https://{region}-ml.googleapis.com/"
    parent_format = "projects/{project}"

    @property
    def jobs(self) -> Any:
        """Jobs, on the global endpoint."""
        return self.service("ml").projects().jobs()

    @property
    def models(self) -> Any:
        """Models and their versions, on the region's endpoint."""
        return self.operations_service().projects().models()
