"""The regression trainer template really trains: alone, and as a chief and a worker
under MultiWorkerMirroredStrategy; it exports a SavedModel that takes raw features
by name and beats the constant-fare baseline."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.sampledata import TAXI_HEADER
from tests.conftest import REPO

pytestmark = pytest.mark.tensorflow

pytest.importorskip(
    "tensorflow", reason="the trainer templates need TensorFlow (make test installs it)"
)

TEMPLATE = REPO / "trainer_templates" / "regression"
GENERATOR = REPO / "manifests" / "data" / "generate.py"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("taxi")
    subprocess.run(
        [sys.executable, str(GENERATOR), "--rows", "4000", "--out", str(folder)], check=True
    )
    return folder


def _train(
    data: Path,
    output: Path,
    *extra: str,
    tf_config: dict[str, object] | None = None,
    more_env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(TEMPLATE), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.update(more_env or {})
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainer.task",
            f"--train_data_paths={data / 'taxi-train.csv'}",
            f"--eval_data_paths={data / 'taxi-valid.csv'}",
            f"--output_dir={output}",
            "--job-dir=/unused",
            "--train_steps=250",
            "--batch_size=128",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    return output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def summary_tags(folder: Path) -> set[str]:
    """The tags of the TensorBoard summaries in a folder's event files."""
    code = (
        "import json, sys, tensorflow as tf\n"
        "files = tf.io.gfile.glob(sys.argv[1] + '/events.out.tfevents.*')\n"
        "print(json.dumps(sorted({v.tag for f in files"
        " for e in tf.compat.v1.train.summary_iterator(f) for v in e.summary.value})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(folder)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_trains_exports_and_beats_the_baseline(data: Path, tmp_path: Path) -> None:
    _finish(_train(data, tmp_path / "out", "--hidden_units=32,16"))
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["rmse"] < 0.5 * metrics["baseline_rmse"], metrics
    assert summary_tags(tmp_path / "out" / "tensorboard") == {
        "loss",
        "eval/rmse",
        "eval/baseline_rmse",
    }
    (export,) = (tmp_path / "out" / "export").iterdir()
    check = (
        "import json, sys, tensorflow as tf\n"
        "serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "out = serve(pickup_longitude=tf.constant([-73.99]), pickup_latitude=tf.constant([40.75]),"
        " dropoff_longitude=tf.constant([-73.90]), dropoff_latitude=tf.constant([40.80]),"
        " passenger_count=tf.constant([1.0]), hour_of_day=tf.constant([8]),"
        " day_of_week=tf.constant([2]))\n"
        "print(json.dumps({'names': sorted(serve.structured_input_signature[1]),"
        " 'fare': float(out['predicted_fare'][0])}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check, str(export)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["names"] == sorted(TAXI_HEADER[1:])  # the features, without the fare
    assert 5 < answer["fare"] < 40  # an 8 km rush-hour ride


def test_a_chief_and_a_worker_train_in_sync(data: Path, tmp_path: Path) -> None:
    cluster = {"chief": [f"localhost:{_free_port()}"], "worker": [f"localhost:{_free_port()}"]}
    processes = [
        _train(
            data,
            tmp_path / "out",
            tf_config={
                "cluster": cluster,
                "environment": "cloud",
                "task": {"type": role, "index": 0},
            },
        )
        for role in ("chief", "worker")
    ]
    for process in processes:
        _finish(process)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["workers"] == 2
    assert metrics["rmse"] < 0.5 * metrics["baseline_rmse"], metrics
    assert len(list((tmp_path / "out" / "export").iterdir())) == 1  # only the chief's copy


def test_a_trial_writes_under_its_own_folder_and_ps_is_refused(data: Path, tmp_path: Path) -> None:
    _finish(
        _train(
            data,
            tmp_path / "out",
            "--train_steps=20",
            tf_config={"cluster": {}, "task": {"type": "chief", "index": 0, "trial": "3"}},
        )
    )
    assert (tmp_path / "out" / "3" / "metrics.json").exists()
    refused = _train(
        data,
        tmp_path / "ps",
        tf_config={
            "cluster": {"chief": ["localhost:1"], "ps": ["localhost:2"]},
            "task": {"type": "chief", "index": 0},
        },
    )
    output, _ = refused.communicate(timeout=120)
    assert refused.returncode != 0
    assert "does not support parameter servers" in output


def test_on_vertex_the_model_goes_where_aip_model_dir_says(data: Path, tmp_path: Path) -> None:
    """A tuning trial on one replica gets no TF_CONFIG and the job's --output_dir, but
    its own AIP_MODEL_DIR (<base>/<trial>/model/): the model and metrics go there."""
    trial = tmp_path / "base" / "3"
    env = {"AIP_MODEL_DIR": f"{trial}/model/"}
    _finish(_train(data, tmp_path / "shared-output", more_env=env))
    assert (trial / "model" / "saved_model.pb").is_file()
    assert (trial / "metrics.json").is_file()
    assert not (tmp_path / "shared-output").exists()
