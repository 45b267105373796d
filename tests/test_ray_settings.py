"""The ray backend without a cluster: what validate says, and facts said twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from reconciler import cli
from reconciler.backends.ray import driver, launcher

STACK = """apiVersion: mlapply/v1
kind: Stack
metadata: {name: r}
spec: {backend: ray, ray: {storage: s}}
---
apiVersion: mlapply/v1
kind: Model
metadata: {name: m}
"""


def test_the_driver_reads_a_lost_node_as_the_launcher_reports_it() -> None:
    assert driver.LOST_EXIT == launcher.LOST_EXIT


def test_validate_refuses_a_model_on_ray_with_the_reason_and_imports_no_ray(
    tmp_path: Path,
) -> None:
    (tmp_path / "stack.yaml").write_text(STACK)
    result = CliRunner().invoke(cli.cli, ["validate", str(tmp_path)])
    assert result.exit_code != 0
    assert "stack.yaml:8:" in result.output
    assert "backend ray has no model serving" in result.output, result.output
    probe = (
        "import sys; from reconciler.backends import registry; registry.facets('ray'); "
        "print('ray' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
