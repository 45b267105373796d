"""Trainer packages written for Cloud ML Engine, run unmodified on real runtimes.

Each package is written the way other people wrote them, not like our
templates: the estimator template in the style of Google's taxifare sample
on a parameter-server tier; a Keras 2 package with only ``--job-dir``, a
TensorBoard callback, no setup.py, pandas it never declares and its data
location from ``env``; a trainer that catches its own error and exits 0; one
that needs Keras 2 on a Keras 3 runtime; a multi-worker Keras trainer on Keras
3, as TensorFlow's tutorial writes it. They run through ``mlapply apply`` and
``mlapply predict`` as a user runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.backends.local import LocalStore
from tests.conftest import REPO

pytest.importorskip("tensorflow", reason="predict needs TensorFlow (make test installs it)")
pytestmark = pytest.mark.tensorflow

GENERATOR = REPO / "manifests" / "data" / "generate.py"


def _apply(manifests: Path) -> str:
    result = CliRunner().invoke(cli.cli, ["apply", str(manifests), "--auto-approve"])
    assert result.exit_code == 0, result.output
    return result.output


def _predict(manifests: Path, model: str, instances: object) -> tuple[list[object], str]:
    result = CliRunner().invoke(
        cli.cli, ["predict", model, str(manifests), "--instances", json.dumps(instances)]
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    predictions: list[object] = json.loads(text[text.index("{") :])["predictions"]
    return predictions, result.stderr


def test_the_estimator_template_trains_on_parameter_servers_and_serves(tmp_path: Path) -> None:
    target = tmp_path / "fares"
    assert (
        CliRunner().invoke(cli.cli, ["init", str(target), "--template", "estimator"]).exit_code == 0
    )
    subprocess.run(
        [sys.executable, str(GENERATOR), "--rows", "2000", "--out", str(target / "data")],
        check=True,
        capture_output=True,
    )
    (target / "data" / "taxi-train.csv").rename(target / "data" / "train-1.csv")
    (target / "data" / "taxi-valid.csv").rename(target / "data" / "eval-1.csv")
    training = target / "manifests" / "training.yaml"
    text = training.read_text().replace("train_steps: 1000", "train_steps: 200")
    training.write_text(text.replace("scaleTier: BASIC", "scaleTier: STANDARD_1"))

    planned = CliRunner().invoke(cli.cli, ["plan", str(target / "manifests")])
    assert "runs on TensorFlow 2.15, Keras 2, Python" in planned.output, planned.output
    assert "parameterServer: 2 local processes" in planned.output

    _apply(target / "manifests")
    home = target / "manifests" / ".mlapply"
    (job,) = (home / "outputs").iterdir()
    exports = list((job / "output" / "export" / "exporter").glob("*/saved_model.pb"))
    assert exports, "the LatestExporter writes under OUTPUT/export/exporter/<timestamp>"
    assert not (job / "request.json").exists()  # mlapply's records live apart
    assert (home / "jobs" / job.name / "request.json").exists()
    # It reports its eval rmse for tuning (cloudml-hypertune) and gates (metrics.json).
    (recorded,) = LocalStore(home).read_all_jobs()
    assert set(recorded.metrics) >= {"rmse", "global_step"}
    assert (home / "jobs" / job.name / "hypertune" / "0" / "output.metrics").is_file()

    rides = json.loads((REPO / "manifests" / "sample-request.json").read_text())["instances"]
    predictions, said = _predict(target / "manifests", "fares", rides)
    assert len(predictions) == 2
    assert "no serving_default signature; serving its 'predict' one" in said


KERAS_2_TASK = '''
"""A Keras 2 trainer of the ML Engine years: --job-dir only, its data from the
environment, a TensorBoard callback, and an export under the job dir."""
import argparse
import os

import pandas as pd
import tensorflow as tf

parser = argparse.ArgumentParser()
parser.add_argument("--job-dir", required=True)
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()

frame = pd.read_csv(os.environ["TRAINING_CSV"])
features = frame[["a", "b", "c"]].to_numpy("float32")
inputs = tf.keras.Input(shape=(3,), name="features")
outputs = tf.keras.layers.Dense(1)(tf.keras.layers.Dense(8, activation="relu")(inputs))
model = tf.keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
board = tf.keras.callbacks.TensorBoard(log_dir=os.path.join(args.job_dir, "logs"))
model.fit(features, frame["y"].to_numpy("float32"), epochs=args.epochs, callbacks=[board])
tf.saved_model.save(model, os.path.join(args.job_dir, "keras_export"))
'''

MANIFESTS = """
apiVersion: mlapply/v1
kind: Stack
metadata: {{name: legacy}}
spec:
  backend: local
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {{name: legacy}}
spec:
  source: ../package
  flags: {{train: null, eval: null, output: null}}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {{name: legacy-keras}}
spec:
  trainer: legacy
  runtimeVersion: "{runtime}"
  hyperparameters: {{epochs: 2}}
  env:
    TRAINING_CSV: {csv}
---
apiVersion: mlapply/v1
kind: Model
metadata: {{name: legacy}}
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata: {{name: legacy-v1}}
spec:
  model: legacy
  source: {{job: legacy-keras}}
  default: true
"""


def _legacy_project(root: Path, task: str, runtime: str = "2.15") -> Path:
    (root / ".git").mkdir(parents=True)
    package = root / "package" / "trainer"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(textwrap.dedent(task))
    rows = "\n".join(f"{i % 7},{i % 5},{i % 3},{(i % 7) + 2 * (i % 5)}" for i in range(200))
    (root / "data.csv").write_text("a,b,c,y\n" + rows + "\n")
    manifests = root / "manifests"
    manifests.mkdir()
    (manifests / "stack.yaml").write_text(
        MANIFESTS.format(runtime=runtime, csv=json.dumps(str(root / "data.csv")))
    )
    return manifests


@pytest.mark.parametrize("runtime", ["2.8", "2.15"])  # on TensorFlow 2.14 and 2.15 here
def test_a_keras_2_package_with_job_dir_only_runs_unmodified(tmp_path: Path, runtime: str) -> None:
    manifests = _legacy_project(tmp_path, KERAS_2_TASK, runtime=runtime)
    _apply(manifests)
    (job,) = (manifests / ".mlapply" / "outputs").iterdir()
    assert list((job / "logs").rglob("events.out.tfevents.*")), "TensorBoard wrote its summaries"
    predictions, _ = _predict(manifests, "legacy", [{"features": [1.0, 2.0, 0.0]}])
    assert len(predictions) == 1


CANNED_TASK = '''
"""Canned Estimators as the ML Engine samples of the TensorFlow 2.1-2.11 years wrote
them: feature columns, a regressor with its default (v2) optimizer, classifiers with
a named optimizer, wide-and-deep; each trained a few steps, the last exported."""
import argparse
import os

import pandas as pd
import tensorflow as tf

parser = argparse.ArgumentParser()
parser.add_argument("--job-dir", required=True)
parser.add_argument("--epochs", type=int, default=1)
args = parser.parse_args()

frame = pd.read_csv(os.environ["TRAINING_CSV"])
columns = [tf.feature_column.numeric_column(name) for name in ("a", "b", "c")]


def input_fn(label):
    def make():
        features = {name: frame[name].astype("float32").values for name in ("a", "b", "c")}
        data = tf.data.Dataset.from_tensor_slices((features, frame[label].values))
        return data.shuffle(200).repeat().batch(32)
    return make


frame["big"] = (frame["y"] > frame["y"].median()).astype("int32")
made = [
    (tf.estimator.DNNRegressor(hidden_units=[8], feature_columns=columns), "y"),
    (tf.estimator.LinearRegressor(feature_columns=columns), "y"),
    (tf.estimator.LinearClassifier(feature_columns=columns, optimizer="Ftrl"), "big"),
    (tf.estimator.DNNClassifier([8], feature_columns=columns, optimizer="Adagrad"), "big"),
    (tf.estimator.DNNClassifier([8], feature_columns=columns, optimizer="Adam"), "big"),
    (
        tf.estimator.DNNLinearCombinedRegressor(
            linear_feature_columns=columns, dnn_feature_columns=columns, dnn_hidden_units=[4]
        ),
        "y",
    ),
    (
        tf.estimator.DNNLinearCombinedClassifier(
            linear_feature_columns=columns, dnn_feature_columns=columns, dnn_hidden_units=[4],
            dnn_optimizer="Adam",
        ),
        "big",
    ),
]
for estimator, label in made:
    estimator.train(input_fn(label), steps=20)
    print("trained", type(estimator).__name__)
spec = tf.estimator.export.build_parsing_serving_input_receiver_fn(
    tf.feature_column.make_parse_example_spec(columns)
)
made[0][0].export_saved_model(os.path.join(args.job_dir, "export"), spec)
'''


@pytest.mark.parametrize(
    ("runtime", "runs_on"),
    [
        # The oldest TensorFlow that keeps tf.estimator and works on this Python: not
        # 2.12 or 2.13 on Python 3.11 (their canned optimizers call inspect.getargspec).
        ("2.3", "runtime 2.3 runs on TensorFlow 2.14, Keras 2"),
        ("2.15", "TensorFlow 2.15, Keras 2"),
    ],
)
def test_canned_estimators_run_unmodified_on_each_release_a_keras_2_runtime_maps_to(
    tmp_path: Path, runtime: str, runs_on: str
) -> None:
    """Every runtime up to 2.15 runs on TensorFlow 2.14 or 2.15 here (the plan says
    which and why): regressors and classifiers, DNN, linear and wide-and-deep, with
    default and named optimizers, train and export unmodified on both."""
    manifests = _legacy_project(tmp_path, CANNED_TASK, runtime=runtime)
    planned = CliRunner().invoke(cli.cli, ["plan", str(manifests)])
    assert runs_on in planned.output, planned.output
    _apply(manifests)
    assert list((manifests / ".mlapply" / "outputs").rglob("saved_model.pb"))
    log = "".join(p.read_text() for p in (manifests / ".mlapply" / "jobs").rglob("chief-0.log"))
    for name in (
        "DNNRegressor",
        "LinearRegressor",
        "LinearClassifier",
        "DNNClassifier",
        "DNNLinearCombinedRegressor",
        "DNNLinearCombinedClassifier",
    ):
        assert f"trained {name}" in log, log[-3000:]


SWALLOWED = """
import sys
try:
    open("/no/such/file.csv")
except OSError as exc:
    print("ERROR: could not read the training data:", exc)
sys.exit(0)
"""


def test_a_trainer_that_exits_0_without_exporting_says_why(tmp_path: Path) -> None:
    manifests = _legacy_project(tmp_path, SWALLOWED, runtime="2.17")
    result = CliRunner().invoke(cli.cli, ["apply", str(manifests), "--auto-approve"])
    assert result.exit_code == 1
    assert "exported no SavedModel (no saved_model.pb) in:" in result.output
    assert "/outputs/" in result.output and "source.exportPath" in result.output
    assert "ERROR: could not read the training data" in result.output


KERAS_3_MISMATCH = """
import tensorflow as tf
columns = [tf.feature_column.numeric_column("x")]
layer = tf.keras.layers.DenseFeatures(columns)
"""


def test_a_keras_2_trainer_on_a_keras_3_runtime_gets_a_hint_without_noise(tmp_path: Path) -> None:
    manifests = _legacy_project(tmp_path, KERAS_3_MISMATCH, runtime="2.17")
    result = CliRunner().invoke(cli.cli, ["apply", str(manifests), "--auto-approve"])
    assert result.exit_code == 1
    assert "DenseFeatures" in result.output
    assert 'set runtimeVersion: "2.15"' in result.output
    assert "tensorflow/core" not in result.output  # TensorFlow's C++ log lines left out


MULTI_WORKER_TASK = """
# Multi-worker Keras as TensorFlow's tutorial writes it
# (tensorflow.org/tutorials/distribute/multi_worker_with_keras).
import argparse, json, os, shutil, tempfile
import tensorflow as tf

parser = argparse.ArgumentParser()
parser.add_argument("--output_dir", required=True)
args, _ = parser.parse_known_args()
strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    model = tf.keras.Sequential([tf.keras.Input(shape=(1,)), tf.keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
model.fit(tf.data.Dataset.from_tensors(([1.0], [2.0])).repeat(256).batch(16), epochs=2,
          steps_per_epoch=8)
# Every worker saves (the save is collective); only the chief's copy is kept.
chief = json.loads(os.environ["TF_CONFIG"])["task"]["type"] == "chief"
export = os.path.join(args.output_dir, "export", "1") if chief else tempfile.mkdtemp()
tf.saved_model.save(model, export)
if not chief:
    shutil.rmtree(export)
"""
MULTI_WORKER_STACK = """
apiVersion: mlapply/v1
kind: Stack
metadata: {name: multi}
spec:
  local: {replicas: {workers: 1, parameterServers: 0}}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {name: multi}
spec: {source: ../package, flags: {train: null, eval: null}}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {name: multi}
spec:
  trainer: multi
  runtimeVersion: "2.17"
  scaleTier: STANDARD_1
"""


def test_a_multi_worker_keras_trainer_on_keras_3_is_warned_and_the_fix_named_works(
    tmp_path: Path,
) -> None:
    """tensorflow/tensorflow#72388, for real: Keras 3's model.fit fails under
    MultiWorkerMirroredStrategy with two workers; plan says so first, and the fix it
    names (tf_keras and TF_USE_LEGACY_KERAS=1) trains."""
    (tmp_path / ".git").mkdir()
    package = tmp_path / "package"
    (package / "trainer").mkdir(parents=True)
    (package / "trainer" / "__init__.py").write_text("")
    (package / "trainer" / "task.py").write_text(MULTI_WORKER_TASK)
    setup = 'from setuptools import setup\nsetup(name="multi", packages=["trainer"]{})\n'
    (package / "setup.py").write_text(setup.format(""))
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "stack.yaml").write_text(MULTI_WORKER_STACK)
    result = CliRunner().invoke(cli.cli, ["plan", str(manifests)])
    assert "tensorflow/tensorflow#72388" in result.output, result.output
    assert "TF_USE_LEGACY_KERAS" in result.output, result.output
    result = CliRunner().invoke(cli.cli, ["apply", str(manifests), "--auto-approve"])
    assert result.exit_code == 1, result.output
    assert "Invalid reduction dimension 0 for input with 0 dimensions" in result.output

    (package / "setup.py").write_text(setup.format(', install_requires=["tf_keras~=2.17.0"]'))
    stack = manifests / "stack.yaml"
    stack.write_text(stack.read_text() + '  env: {TF_USE_LEGACY_KERAS: "1"}\n')
    result = CliRunner().invoke(cli.cli, ["validate", str(manifests)])
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    _apply(manifests)
    exported = list((manifests / ".mlapply" / "outputs").rglob("export/1/saved_model.pb"))
    assert len(exported) == 1, "the chief of the second job exported"
