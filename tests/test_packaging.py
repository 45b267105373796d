"""The built wheel carries the schemas and templates, so an installed mlapply finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_ships_schemas_and_trainer_templates(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("mlapply-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for schema in (REPO / "schemas").glob("*.json"):
        assert f"reconciler/_assets/schemas/{schema.name}" in names
    assert "reconciler/_assets/trainer_templates/regression/README.md" in names
    assert "reconciler/cli/__init__.py" in names
    assert not any(n.startswith(("tests/", "manifests/")) for n in names)
