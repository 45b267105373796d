"""The classification trainer template trains on generated tabular data and exports
a SavedModel that takes raw features (strings included) by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.sampledata import INCOME_HEADER, income_person, write_csv
from tests.conftest import REPO
from tests.test_template_regression import summary_tags

pytestmark = pytest.mark.tensorflow

pytest.importorskip(
    "tensorflow", reason="the trainer templates need TensorFlow (make test installs it)"
)

TEMPLATE = REPO / "trainer_templates" / "classification"


def _write(path: Path, rows: int, seed: int) -> None:
    write_csv(path, INCOME_HEADER, income_person, rows, seed)


def test_trains_exports_and_beats_chance(tmp_path: Path) -> None:
    _write(tmp_path / "train.csv", 4000, 1)
    _write(tmp_path / "eval.csv", 1000, 2)
    env = {**os.environ, "PYTHONPATH": str(TEMPLATE), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainer.task",
            f"--train_data_paths={tmp_path / 'train.csv'}",
            f"--eval_data_paths={tmp_path / 'eval.csv'}",
            f"--output_dir={tmp_path / 'out'}",
            "--train_steps=300",
            "--batch_size=128",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["auc"] > 0.8, metrics
    assert metrics["accuracy"] > metrics["baseline_accuracy"], metrics
    assert summary_tags(tmp_path / "out" / "tensorboard") == {"loss", "eval/auc", "eval/accuracy"}
    (export,) = (tmp_path / "out" / "export").iterdir()
    check = (
        "import json, sys, tensorflow as tf\n"
        "serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "out = serve(age=tf.constant([52.0]), hours_per_week=tf.constant([60.0]),"
        " capital_gain=tf.constant([5000.0]), education=tf.constant(['phd']),"
        " occupation=tf.constant(['exec']))\n"
        "print(json.dumps({'p': float(out['probability'][0]), 'c': int(out['class'][0])}))\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", check, str(export)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    result = json.loads(answer.stdout.strip().splitlines()[-1])
    assert result["p"] > 0.9 and result["c"] == 1  # a clear high earner
