"""Hostile inputs (#30's probe), each with the one answer it must get.

A pull request is untrusted: what it commits must not aim ``plan`` outside the
repository. These run the real command line on a real checkout-shaped folder."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.tuning import hypertune

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


# What a trainer writes: its cloudml-hypertune metric file -------------------------------

GOOD = '{"rmse": "2.5", "global_step": "10", "timestamp": 1.0, "trial": "1"}'


@pytest.mark.parametrize(
    "line",
    [
        '{"rmse": 1e999, "global_step": "11"}',  # inf
        '{"rmse": ' + "9" * 400 + ', "global_step": "11"}',  # no float holds it
        '{"global_step": ' + "9" * 400 + ', "rmse": "1"}',
        "[" * 3000 + "]" * 3000,  # too deep for json
        '{"rmse": {"a": ' * 800 + "1" + "}" * 1601,
        '{"rmse": true}',
        '"just text"',
        "\x00\xff not json",
        '{"rmse": "' + "1" * 5000 + '"}',  # longer than a line may be
    ],
)
def test_a_malformed_metrics_line_is_skipped_and_counted(line: str) -> None:
    text = "\n".join([GOOD, line, ""])
    assert hypertune.measurements(text, "rmse") == (hypertune.Measurement(10, 2.5),)
    assert hypertune.reported(text) == {"rmse": 2.5}
    assert hypertune.last_report(text) == {"rmse": 2.5, "step": 10.0}
    assert hypertune.skipped(text) == 1


def test_a_metric_file_is_read_bounded_and_never_through_a_link(tmp_path: Path) -> None:
    import os

    big = tmp_path / "big.metrics"
    with big.open("w") as handle:  # 3 MiB of reports: only the tail is read
        for step in range(40_000):
            handle.write(f'{{"rmse": "{step}", "global_step": "{step}"}}\n')
    read = hypertune.read(big)
    assert read.cut and len(read.text) <= hypertune.TAIL_BYTES
    assert hypertune.last_report(read.text) == {"rmse": 39_999.0, "step": 39_999.0}
    assert read.text.startswith('{"rmse"')  # the partial first line dropped

    link = tmp_path / "zero.metrics"
    link.symlink_to("/dev/zero")
    assert hypertune.read(link) == hypertune.Text("", refused=hypertune.read(link).refused)
    assert hypertune.read(link).refused
    fifo = tmp_path / "fifo.metrics"
    os.mkfifo(fifo)  # no writer: a blocking open would hang
    assert hypertune.read(fifo) == hypertune.Text("", refused="not a regular file")
    assert hypertune.read(tmp_path / "absent") == hypertune.Text("")
