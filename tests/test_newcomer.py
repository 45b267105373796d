"""A newcomer's path, through the installed command as a user types it: `mlapply init`
for each template, then the commands init prints (apply, predict), then destroy.

The project must train to a model worth deploying on the data init wrote, and
answer the sample request; TensorFlow's C++ lines never reach the terminal.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.tensorflow, pytest.mark.slow]

MLAPPLY = Path(sys.executable).parent / "mlapply"
NATIVE = ("I0000", "W0000", "E0000", "absl::InitializeLog", "oneDNN")


def _run(command: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{MLAPPLY.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell has it
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{shlex.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return done


def _constant_rmse(data: Path) -> float:
    """What predicting the training mean would score on the eval rows."""

    def fares(name: str) -> list[float]:
        with (data / name).open() as handle:
            return [float(row["fare_amount"]) for row in csv.DictReader(handle)]

    mean = sum(fares("train-1.csv")) / len(fares("train-1.csv"))
    held = fares("eval-1.csv")
    return math.sqrt(sum((fare - mean) ** 2 for fare in held) / len(held))


@pytest.mark.parametrize("template", ["regression", "classification", "estimator"])
def test_init_then_the_commands_it_prints_train_deploy_and_predict(
    template: str, tmp_path: Path
) -> None:
    made = _run([str(MLAPPLY), "init", "demo", "--template", template], tmp_path)
    said = made.stdout.splitlines()
    nexts = said[said.index("Next: train, deploy and ask it (see its README.md):") + 1 :]
    assert len(nexts) == 2 and all(line.startswith("  mlapply ") for line in nexts), said
    apply, predict = (shlex.split(line) for line in nexts)

    applied = _run(apply, tmp_path)
    assert "Apply complete" in applied.stdout
    answered = _run(predict, tmp_path)
    predictions = json.loads(answered.stdout)["predictions"]
    assert len(predictions) == 2
    assert not any(mark in answered.stderr for mark in NATIVE), answered.stderr

    project = tmp_path / "demo"
    (metrics_file,) = (project / "manifests" / ".mlapply").rglob("metrics.json")
    metrics = json.loads(metrics_file.read_text())
    if template == "classification":
        assert metrics["auc"] > 0.8 and metrics["accuracy"] > metrics["baseline_accuracy"], metrics
        assert all(0 <= p["probability"] <= 1 for p in predictions), predictions
        # The sample's first person is far likelier to earn over 50k than its second.
        assert predictions[0]["probability"] > predictions[1]["probability"]
    else:
        baseline = _constant_rmse(project / "data")
        assert metrics["rmse"] < 0.5 * baseline, (metrics, baseline)
        fares = [p[0] if isinstance(p, list) else p for p in predictions]
        # A long rush-hour ride costs more than a short night one.
        assert fares[0] > fares[1] > 2, predictions

    destroyed = _run([str(MLAPPLY), "destroy", "demo/manifests", "--auto-approve"], tmp_path)
    assert "Destroy complete" in destroyed.stdout, destroyed.stdout
    status = _run([str(MLAPPLY), "status", "demo/manifests", "--format", "json"], tmp_path)
    shown = json.loads(status.stdout)
    assert shown["jobs"] == [] and shown["models"] == [], shown
