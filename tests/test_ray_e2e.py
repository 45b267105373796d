"""The ray backend end to end, on a real two-node Ray cluster on loopback: the example
stack's unchanged trainer trains chief + worker across the two nodes and exports, a
plan after it has no changes, its log is read, a job whose node is lost is
resubmitted by the next apply, and destroy leaves nothing of the stack on the
cluster. The trainer is TensorFlow from the cluster's own Python environment."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ray.dashboard.modules.serve.sdk import ServeSubmissionClient
from ray.job_submission import JobSubmissionClient

from reconciler import cli
from reconciler.backends.ray import launcher
from reconciler.backends.ray.lock import lock_id
from reconciler.stack.resources import LABEL_STACK
from tests.conftest import copy_example
from tests.raycluster import RayCluster

pytestmark = pytest.mark.ray

SERVE = "http://127.0.0.1:8000"
CUSTOM = """  scaleTier: CUSTOM
  machines:
    master: {type: n1-standard-4}
    worker: {type: n1-standard-4, count: 1}"""


def _on_ray(manifests: Path, cluster: RayCluster) -> None:
    """The example stack on backend ray, training chief + worker."""
    stack = manifests / "stack.yaml"
    ray = f"  backend: ray\n  ray:\n    address: {cluster.address}\n    storage: ../storage\n"
    text = stack.read_text().replace("  backend: local\n  local:\n    home: .mlapply\n", ray)
    assert "backend: ray" in text
    stack.write_text(text)
    training = manifests / "training.yaml"
    training.write_text(training.read_text().replace("  scaleTier: BASIC", CUSTOM))


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.cli, list(args))
    return result.exit_code, result.output


def _ours(client: JobSubmissionClient, stack: str) -> list[str]:
    return [
        job.submission_id or ""
        for job in client.list_jobs()
        if (job.metadata or {}).get(LABEL_STACK) == stack
    ]


def test_the_example_trains_across_two_nodes_plans_no_change_and_destroys(
    tmp_path: Path, ray_cluster: RayCluster
) -> None:
    manifests = copy_example(tmp_path / "repo", rows=1500)
    _on_ray(manifests, ray_cluster)
    began = time.monotonic()
    code, output = _run("apply", str(manifests), "--auto-approve", "--var", "train_steps=60")
    assert code == 0, output + ray_cluster.logs()
    trained = time.monotonic() - began
    client = JobSubmissionClient(ray_cluster.address)
    (name,) = _ours(client, "taxifare")
    log = client.get_job_logs(name)
    nodes = dict(re.findall(r"\[(chief-0|worker-0)\] mlapply: \S+ runs on node (\w+)", log))
    assert set(nodes) == {"chief-0", "worker-0"}, log[-3000:]
    assert nodes["chief-0"] != nodes["worker-0"], "chief and worker shared a node"
    exports = list((tmp_path / "repo" / "storage").rglob("saved_model.pb"))
    assert exports, f"no SavedModel in the storage; log:\n{log[-3000:]}"
    print(f"chief + worker trained, exported and deployed in {trained:.1f} s")

    sample = str(manifests / "sample-request.json")
    code, output = _run("predict", "taxifare", str(manifests), "--json-instances", sample)
    assert code == 0, output
    predictions = json.loads(output)["predictions"]
    assert len(predictions) == len(json.loads(Path(sample).read_text())["instances"]), output
    # As the README's curl line, beneath the model's route on Serve's port.
    url = f"{SERVE}/taxifare/taxifare/v1/models/taxifare:predict"
    json_type = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, Path(sample).read_bytes(), json_type, method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert json.loads(answer.read())["predictions"] == predictions
        assert answer.headers["X-Mlapply-Model-Version"].startswith("taxifare")
    form = urllib.request.Request(url, Path(sample).read_bytes(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(form, timeout=60)  # a web page's post: not JSON
    assert refused.value.code == 415
    status = f"{SERVE}/taxifare/taxifare/v1/models/taxifare"
    with urllib.request.urlopen(status, timeout=60) as answer:
        assert json.loads(answer.read())["model_version_status"][0]["state"] == "AVAILABLE"

    code, output = _run("plan", str(manifests), "--var", "train_steps=60")
    assert code == 0 and "No changes." in output, output
    # Each task's CPU and memory, sampled on its own node by the launcher.
    code, output = _run("status", str(manifests), "--format", "json")
    assert code == 0, output
    (job,) = json.loads(output)["jobs"]
    assert job["mean_cpu"] > 0.1 and job["peak_memory_bytes"] > 100 * 2**20, job
    usage = next((tmp_path / "repo" / "storage").rglob(f"{name}/usage"))
    series = {p.stem: json.loads(p.read_text()) for p in usage.glob("*.json")}
    assert set(series) == {"chief-0", "worker-0"}, series
    assert all(s["ended"] and s["points"] for s in series.values()), series
    code, output = _run("logs", name, str(manifests))
    assert code == 0 and "train" in output.lower(), output

    code, output = _run("destroy", str(manifests), "--auto-approve")
    assert code == 0, output
    assert _ours(client, "taxifare") == []
    assert not (tmp_path / "repo" / "storage" / "mlapply" / "taxifare").exists()
    assert [j for j in client.list_jobs() if j.submission_id == lock_id("taxifare")] == []
    applications = ServeSubmissionClient(ray_cluster.address).get_serve_details()
    assert not [a for a in applications.get("applications") or {} if ".taxifare." in a]


SLEEPY_TASK = """
import argparse, json, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--output_dir")
parser.add_argument("--sleep", type=float, default=0)
args, _ = parser.parse_known_args()
time.sleep(args.sleep)
task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
if task.get("type", "chief") == "chief":  # as Estimator and Keras trainers export
    export = os.path.join(args.output_dir, "export", "1")
    os.makedirs(export, exist_ok=True)
    with open(os.path.join(export, "saved_model.pb"), "wb") as out:
        out.write(b"a SavedModel, as far as apply goes")
"""


def _sleepy_stack(root: Path, cluster: RayCluster, stack: str, job_spec: str) -> Path:
    """A stack of one CUSTOM job of a trainer that sleeps, then writes an export."""
    (root / ".git").mkdir()
    package = root / "trainer" / "trainer"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(SLEEPY_TASK)
    manifests = root / "m"
    manifests.mkdir()
    (manifests / "stack.yaml").write_text(
        f"""apiVersion: mlapply/v1
kind: Stack
metadata: {{name: {stack}}}
spec: {{backend: ray, ray: {{address: '{cluster.address}', storage: ../storage}}}}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {{name: t}}
spec: {{source: ../trainer}}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {{name: long}}
spec:
  trainer: t
{job_spec}{CUSTOM}
"""
    )
    return manifests


def test_a_runtime_the_cluster_cannot_run_ends_the_job_at_once_with_the_fix(
    tmp_path: Path, ray_cluster: RayCluster
) -> None:
    manifests = _sleepy_stack(tmp_path, ray_cluster, "keras2", '  runtimeVersion: "2.15"\n')
    code, output = _run("apply", str(manifests), "--auto-approve")
    assert code != 0, output
    have = launcher.installed_tensorflow()
    assert have is not None and have >= launcher.KERAS_3_FROM, "the test's cluster has Keras 3"
    assert "runtimeVersion 2.15 cannot run on this cluster's TensorFlow" in output, output
    assert "lost" not in output.lower(), output
    code, output = _run("destroy", str(manifests), "--auto-approve")
    assert code == 0, output


def test_a_job_whose_node_is_lost_is_resubmitted_by_the_next_apply(
    tmp_path: Path, ray_cluster: RayCluster
) -> None:
    manifests = _sleepy_stack(tmp_path, ray_cluster, "lost", "  hyperparameters: {sleep: 25}\n")
    client = JobSubmissionClient(ray_cluster.address)

    def kill_when_running() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            names = _ours(client, "lost")
            if names and "runs on node" in client.get_job_logs(names[0]):
                ray_cluster.kill_node(1)
                return
            time.sleep(0.5)

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    try:
        code, output = _run("apply", str(manifests), "--auto-approve")
    finally:
        killer.join()
        ray_cluster.add_node()
    assert code != 0 and "lost" in output.lower(), output
    code, output = _run("plan", str(manifests))
    assert "resubmitting, attempt 2 of 3" in output, output
    code, output = _run("apply", str(manifests), "--auto-approve")
    assert code == 0, output
    code, output = _run("destroy", str(manifests), "--auto-approve")
    assert code == 0, output


TUNED_TASK = """
import argparse, json, os
import hypertune
parser = argparse.ArgumentParser()
parser.add_argument("--output_dir")
parser.add_argument("--lr", type=float)
args, _ = parser.parse_known_args()
loss = (args.lr - 0.3) ** 2
hypertune.HyperTune().report_hyperparameter_tuning_metric(
    hyperparameter_metric_tag="loss", metric_value=loss, global_step=1
)
task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
if task.get("type", "chief") == "chief":  # a worker writing here races the chief's end
    export = os.path.join(args.output_dir, "export", "1")
    os.makedirs(export, exist_ok=True)
    with open(os.path.join(export, "saved_model.pb"), "w") as out:
        out.write(f"lr={args.lr}")
"""
TUNING = """  hyperparameterTuning:
    metric: loss
    goal: MINIMIZE
    maxTrials: 3
    maxParallelTrials: 2
    algorithm: RANDOM_SEARCH
    params:
      - {name: lr, type: DOUBLE, min: 0.0, max: 1.0}
"""
SERVED = """---
apiVersion: mlapply/v1
kind: Model
metadata: {name: tuned}
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata: {name: tuned-v1}
spec: {model: tuned, source: {job: long}, default: true}
"""


def test_a_study_of_three_trials_runs_on_the_cluster_and_its_best_trial_deploys(
    tmp_path: Path, ray_cluster: RayCluster
) -> None:
    manifests = _sleepy_stack(tmp_path, ray_cluster, "tuned", TUNING)
    (tmp_path / "trainer" / "trainer" / "task.py").write_text(TUNED_TASK)
    stack = manifests / "stack.yaml"
    stack.write_text(stack.read_text() + SERVED)
    code, output = _run("apply", str(manifests), "--auto-approve")
    assert code == 0, output
    client = JobSubmissionClient(ray_cluster.address)
    (name,) = _ours(client, "tuned")
    study = json.loads(next((tmp_path / "storage").rglob("study.json")).read_text())
    trials = study["trials"]
    assert [t["state"] for t in trials] == ["SUCCEEDED"] * 3, trials
    top = min(trials, key=lambda t: t["metric"])
    assert study["best_trial"] == top["id"]
    served = next((tmp_path / "storage").rglob("models/tuned/*/saved_model.pb"))
    assert served.read_text() == f"lr={top['params']['lr']}"
    code, output = _run("status", str(manifests))
    assert code == 0 and f"{name}" in output, output
    code, output = _run("logs", name, str(manifests), "--trial", top["id"])
    assert code == 0, output
    code, output = _run("plan", str(manifests))
    assert code == 0 and "No changes." in output, output
    code, output = _run("destroy", str(manifests), "--auto-approve")
    assert code == 0, output


def _saved_model(folder: Path, factor: float) -> None:
    """A SavedModel answering ``x * factor`` (a version of its own per factor)."""
    import tensorflow as tf

    module = tf.Module()

    def scaled(x: Any) -> dict[str, Any]:
        return {"y": x * factor}

    serve = tf.function(scaled, input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    tf.saved_model.save(module, str(folder), signatures={"serving_default": serve})


def test_a_new_version_rolls_out_through_the_models_ingress_under_load(
    tmp_path: Path, ray_cluster: RayCluster
) -> None:
    """The ray side of a rollout: the ingress splits the traffic by the weights the
    driver writes (a lightweight update of its user_config), counts what each version
    serves, and the apply walks the steps on those counts to the new default."""
    for name, factor in (("v1", 2.0), ("v2", 3.0)):
        _saved_model(tmp_path / "saved" / name, factor)
    manifests = tmp_path / "m"
    manifests.mkdir()
    (tmp_path / ".git").mkdir()
    stack = manifests / "stack.yaml"
    stack.write_text(
        f"""apiVersion: mlapply/v1
kind: Stack
metadata: {{name: rolled}}
spec: {{backend: ray, ray: {{address: '{ray_cluster.address}', storage: ../storage}}}}
---
apiVersion: mlapply/v1
kind: Model
metadata: {{name: scale}}
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata: {{name: scale-v}}
spec:
  model: scale
  source: {{uri: ../saved/v1}}
  default: true
  rollout:
    steps: [{{traffic: 50, hold: 3s}}, {{traffic: 100, hold: 3s}}]
    gates: {{maxErrorRate: 0.05, maxLatencyMs: {{p99: 10000}}, minRequests: 10}}
"""
    )
    code, output = _run("apply", str(manifests), "--auto-approve")
    assert code == 0, output + ray_cluster.logs()
    url = f"{SERVE}/rolled/scale/v1/models/scale:predict"
    answers: list[tuple[int, str, float]] = []
    stop = threading.Event()

    def load() -> None:
        began = time.monotonic()
        while not stop.is_set() and time.monotonic() - began < 600:
            body = json.dumps({"instances": [{"x": 1.0}]}).encode()
            request = urllib.request.Request(
                url, body, {"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    (y,) = json.loads(answer.read())["predictions"]
                    answers.append((200, answer.headers["X-Mlapply-Model-Version"], y))
            except urllib.error.HTTPError as error:
                answers.append((error.code, error.headers.get("X-Mlapply-Model-Version", ""), 0))
            time.sleep(0.02)

    client = threading.Thread(target=load)
    client.start()
    try:
        deadline = time.monotonic() + 60
        while not answers and time.monotonic() < deadline:
            time.sleep(0.2)
        stack.write_text(stack.read_text().replace("../saved/v1", "../saved/v2"))
        mark = len(answers)
        code, output = _run("apply", str(manifests), "--auto-approve", "--rollout-wait", "300s")
        assert code == 0, output + ray_cluster.logs()
        assert "rolled out: it serves all the traffic (default)" in output, output
        time.sleep(1.0)
    finally:
        stop.set()
        client.join(timeout=90)
    during = answers[mark:]
    assert all(status == 200 for status, _, _ in during), [a for a in during if a[0] != 200][:3]
    assert {y for _, _, y in during} == {2.0, 3.0}, "both versions answered during the steps"
    old, new = during[0][1], during[-1][1]
    assert old != new and during[-1][2] == 3.0
    assert {version for _, version, _ in answers[-5:]} == {new}
    code, output = _run("status", str(manifests))
    assert code == 0 and f"{new} READY (default) 100 % of traffic" in output, output
    code, output = _run("plan", str(manifests), "--detailed-exitcode")
    assert code == 0 and "No changes." in output, output
    code, output = _run("destroy", str(manifests), "--auto-approve")
    assert code == 0, output
