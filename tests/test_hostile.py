"""Hostile inputs (#30's probe), each with the one answer it must get.

A pull request is untrusted: what it commits must not aim ``plan`` outside the
repository. These run the real command line on a real checkout-shaped folder."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import cli

STACK = """apiVersion: mlapply/v1
kind: Stack
metadata: {name: h}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {name: t}
spec: {source: ../trainer}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {name: j}
spec: {trainer: t}
"""


def _repo(root: Path) -> Path:
    (root / ".git").mkdir(parents=True)
    (root / "trainer" / "trainer").mkdir(parents=True)
    (root / "trainer" / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "trainer" / "task.py").write_text("print('train')\n")
    manifests = root / "manifests"
    manifests.mkdir()
    (manifests / "stack.yaml").write_text(STACK)
    (manifests / ".mlapply").mkdir()
    return manifests


@pytest.mark.parametrize(
    "committed", ["hashcache.db", "hashcache.db-journal", ".mlapply-home", "state.db"]
)
def test_plan_never_writes_through_a_link_committed_in_the_stack_home(
    tmp_path: Path, committed: str
) -> None:
    manifests = _repo(tmp_path / "repo")
    outside = tmp_path / "outside"
    outside.mkdir()
    elsewhere = outside / "target.db"
    sqlite3.connect(elsewhere).close()  # an existing database somewhere else
    before = elsewhere.read_bytes()
    (manifests / ".mlapply" / committed).symlink_to(elsewhere)

    result = CliRunner().invoke(cli.cli, ["plan", str(manifests)])

    assert result.exit_code == 1, result.output
    assert f".mlapply/{committed} is a link" in result.output
    assert "remove it" in result.output
    assert "Traceback" not in result.output
    assert elsewhere.read_bytes() == before
    assert sorted(p.name for p in outside.iterdir()) == ["target.db"]
