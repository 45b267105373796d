"""The Vertex AI backend against the fake Vertex + Cloud Storage server
(tests/fake_gcp): the example stack's whole cycle, no duplicate job after a
lost answer or a crash, convergence under injected faults, the cost of a plan
in API calls. Every request is checked against the discovery documents; the
``fake`` fixture fails a test that sent one the real API would refuse."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from google.auth.credentials import AnonymousCredentials

from reconciler import cli
from tests.conftest import REPO, copy_example
from tests.fake_gcp.scale import GCP, plan_calls
from tests.fake_gcp.server import FakeGcp


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGcp]:
    server = FakeGcp()
    with server.running() as url:
        monkeypatch.setenv("MLAPPLY_AIPLATFORM_ENDPOINT", url)
        monkeypatch.setenv("MLAPPLY_STORAGE_ENDPOINT", url)
        monkeypatch.setenv("MLAPPLY_MONITORING_ENDPOINT", url)
        monkeypatch.setenv("MLAPPLY_GCP_ANONYMOUS", "1")
        monkeypatch.setenv("MLAPPLY_GCP_RETRY_BASE_SECONDS", "0.01")
        monkeypatch.setenv("MLAPPLY_VERTEX_POLL_SECONDS", "0.2")
        yield server
    assert server.violations == [], server.violations


CONTAINER = "us-central1-docker.pkg.dev/demo-project/trainers/taxifare:1"


def _on_vertex(tmp_path: Path) -> Path:
    manifests = copy_example(tmp_path / "repo", rows=200)
    stack = manifests / "stack.yaml"
    text = stack.read_text()
    stack.write_text(text.replace("  backend: local\n  local:\n    home: .mlapply\n", GCP))
    return manifests


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The example stack, moved to Vertex AI as a 2026 user must: its trainer in a
    container image of its own (every prebuilt TensorFlow training image has ended)."""
    manifests = _on_vertex(tmp_path)
    training = manifests / "training.yaml"
    text = training.read_text()
    training.write_text(
        text.replace(
            "  module: trainer.task\n",
            f"  module: trainer.task\n  container: {{image: {CONTAINER}}}\n",
        )
    )
    return manifests


@pytest.fixture
def package_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example stack on Vertex as a Python package on the prebuilt image, on a day
    that image was still offered (2.15's ended 2025-11-14)."""
    monkeypatch.setenv("MLAPPLY_TODAY", "2025-06-01")
    return _on_vertex(tmp_path)


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.cli, list(args))
    return result.exit_code, result.output


@pytest.mark.slow
def test_the_example_stack_applies_reapplies_changes_and_destroys(
    fake: FakeGcp, example: Path
) -> None:
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    assert f"runs container {CONTAINER}" in output  # the plan says what the job runs
    assert "chief: 1x n1-standard-4" in output
    (job,) = [j.resource for j in fake.jobs.values()]
    assert job["displayName"].startswith("taxifare_dnn_")
    assert job["labels"]["mlapply-stack"] == "taxifare"
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    (pool,) = job["jobSpec"]["workerPoolSpecs"]
    program = pool["containerSpec"]
    assert pool["machineSpec"] == {"machineType": "n1-standard-4"}
    assert program["imageUri"] == CONTAINER
    assert program["command"] == ["python3", "-m", "trainer.task"]
    train = next(a for a in program["args"] if a.startswith("--train_data_paths="))
    assert train.startswith("--train_data_paths=gs://demo-staging/mlapply/taxifare/data/")
    assert not [n for _, n in fake.objects if "/packages/" in n], "no package for a container"
    (endpoint,) = fake.endpoints.values()
    (deployed,) = endpoint["deployedModels"]
    assert endpoint["trafficSplit"] == {deployed["id"]: 100}
    assert deployed["enableAccessLogging"] is False
    (versions,) = fake.models.values()
    # The simulated trainer wrote where Vertex told it: AIP_MODEL_DIR, <base>/model/.
    assert versions[0]["artifactUri"].startswith("gs://demo-staging/mlapply/taxifare/jobs/")
    assert versions[0]["artifactUri"].endswith("/model")
    assert versions[0]["containerSpec"]["imageUri"] == (
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
    )

    code, output = _run("status", str(example))
    assert code == 0, output
    assert f"{job['displayName']:<40} SUCCEEDED" in output
    assert "(default)" in output
    # Each job and endpoint links to its Google Cloud console page.
    job_id = job["name"].rsplit("/", 1)[1]
    assert (
        "https://console.cloud.google.com/agent-platform/locations/us-central1/training/"
        f"{job_id}?project=demo-project"
    ) in output, output
    endpoint_id = endpoint["name"].rsplit("/", 1)[1]
    assert (
        "https://console.cloud.google.com/agent-platform/locations/us-central1/endpoints/"
        f"{endpoint_id}?project=demo-project"
    ) in output, output
    code, output = _run("logs", "taxifare-dnn", str(example))
    assert code == 1 and "the logs of Vertex AI jobs are in Cloud Logging" in output

    calls = len(fake.calls)
    code, output = _run("plan", str(example), "--detailed-exitcode")
    assert code == 0 and "No changes." in output, output
    assert not [c for c in fake.calls[calls:] if not c.endswith((".list", ".listVersions", ".get"))]

    code, output = _run("apply", str(example), "--auto-approve", "--var", "train_steps=50")
    assert code == 0, output
    # The plan prices the job and the version it serves from Vertex AI's list, and says
    # how old the list is.
    assert "Prices: Vertex AI list prices as of 2025-06-01 (" in output, output
    assert "serving: 1 x n1-standard-2 ≈ $79.75/month (replacing $79.75/month)" in output
    assert len(fake.jobs) == 2
    (versions,) = fake.models.values()
    assert len(versions) == 1, "the old version is deleted once the new one serves"
    (endpoint,) = fake.endpoints.values()
    (deployed,) = endpoint["deployedModels"]
    assert deployed["modelVersionId"] == versions[0]["versionId"]
    assert endpoint["trafficSplit"] == {deployed["id"]: 100}

    code, output = _run("destroy", str(example), "--auto-approve")
    assert code == 0, output
    assert fake.endpoints == {} and fake.models == {} and fake.jobs == {}
    assert not [name for _, name in fake.objects if name.startswith("mlapply/taxifare/")]


@pytest.mark.slow
def test_a_create_whose_answer_is_lost_submits_no_duplicate(fake: FakeGcp, example: Path) -> None:
    fake.faults.lose_create_answers = 1
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    assert len(fake.jobs) == 1


@pytest.mark.slow
def test_the_whole_cycle_converges_with_a_fifth_of_requests_failing(
    fake: FakeGcp, example: Path
) -> None:
    """20 % of requests answer 408/429/500/503 before they take effect, 10 % of changes
    take effect and then lose their answer, and every answer is slow."""
    fake.faults.rate, fake.faults.lost_rate, fake.faults.delay = 0.2, 0.1, 0.02
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    code, output = _run("apply", str(example), "--auto-approve", "--var", "train_steps=50")
    assert code == 0, output
    assert fake.faults.injected >= 10, "the faults really happened"

    fake.faults.rate, fake.faults.lost_rate, fake.faults.delay = 0.0, 0.0, 0.0
    code, output = _run("plan", str(example), "--detailed-exitcode", "--var", "train_steps=50")
    assert code == 0 and "No changes." in output, output
    assert len(fake.jobs) == 2, "no job ran twice"
    (versions,) = fake.models.values()
    (endpoint,) = fake.endpoints.values()
    assert len(versions) == 1 and len(endpoint["deployedModels"]) == 1

    fake.faults.rate, fake.faults.lost_rate = 0.2, 0.1
    code, output = _run("destroy", str(example), "--auto-approve", "--var", "train_steps=50")
    assert code == 0, output
    assert fake.endpoints == {} and fake.models == {}


IMAGE = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"
GOOD_JOB = {
    "displayName": "j",
    "labels": {"mlapply-stack": "s"},
    "jobSpec": {
        "workerPoolSpecs": [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "pythonPackageSpec": {
                    "executorImageUri": IMAGE,
                    "packageUris": ["gs://demo-staging/p.tar.gz"],
                    "pythonModule": "trainer.task",
                },
            }
        ]
    },
}


def _bad(path: str, value: object) -> dict[str, object]:
    body: dict[str, Any] = json.loads(json.dumps(GOOD_JOB))
    *parents, last = path.split(".")
    target: Any = body
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return body


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        (_bad("displayNam", "typo"), "'displayNam' was unexpected"),
        (_bad("displayName", None), "'displayName' is a required property"),
        (_bad("jobSpec.workerPoolSpecs.0.replicaCount", "2"), "replicaCount must be 1"),
        (_bad("jobSpec.workerPoolSpecs.0.machineSpec.acceleratorType", "K80"), "is not one of"),
        (_bad("labels", {"Team": "x"}), "invalid label Team=x"),
        (
            _bad("jobSpec.workerPoolSpecs.0.machineSpec.machineType", "n1-highcpu-8"),
            "machine type n1-highcpu-8 is not offered",
        ),
        (
            _bad("jobSpec.workerPoolSpecs.0.machineSpec.acceleratorType", "TPU_V2"),
            "cloud-tpu goes with TPU_V2 or TPU_V3",
        ),
        (
            _bad(
                "jobSpec.workerPoolSpecs.0.pythonPackageSpec.executorImageUri",
                "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-11.py310:latest",
            ),
            "reached its end of availability on 2024-11-15",
        ),
        (
            _bad(
                "jobSpec.workerPoolSpecs.0.pythonPackageSpec.executorImageUri",
                "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-18.py310:latest",
            ),
            "no such prebuilt training image",
        ),
        (
            _bad(
                "jobSpec.workerPoolSpecs.0.pythonPackageSpec.env",
                [{"name": "TF_CONFIG", "value": "{}"}],
            ),
            "TF_CONFIG given to a single-replica job",
        ),
        (
            _bad("jobSpec.workerPoolSpecs.0.pythonPackageSpec.executorImageUri", "python:3.10"),
            "not a prebuilt training image",
        ),
        (
            _bad(
                "jobSpec.workerPoolSpecs.0.pythonPackageSpec.packageUris", ["gs://demo-staging/x"]
            ),
            "package gs://demo-staging/x does not exist",
        ),
    ],
)
@pytest.mark.slow
def test_the_fake_refuses_what_the_api_would(
    fake: FakeGcp, body: dict[str, object], refusal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake's strictness is what makes the tests above mean something."""
    monkeypatch.setenv("MLAPPLY_TODAY", "2026-06-01")  # before IMAGE's end of availability
    from reconciler.backends.google.client import Caller, build_service
    from reconciler.backends.google.errors import GoogleApiError
    from reconciler.backends.google.storage import Bucket

    caller = Caller(attempts=1)
    anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
    storage = build_service("storage", "v1", anonymous)
    Bucket(caller, storage, "demo-staging").upload("p.tar.gz", data=b"package")
    ai = build_service("aiplatform", "v1", anonymous).projects().locations()
    parent = "projects/demo-project/locations/us-central1"
    caller.execute(ai.customJobs().create(parent=parent, body=GOOD_JOB), "create")
    assert fake.violations == []
    with pytest.raises(GoogleApiError) as refused:
        caller.execute(ai.customJobs().create(parent=parent, body=body), "create")
    assert refused.value.status == 400 and refusal in str(refused.value)
    assert len(fake.violations) == 1 and refusal in fake.violations[0]
    fake.violations.clear()  # this test sent it on purpose


@pytest.mark.slow
def test_a_crash_after_create_then_apply_again_submits_no_duplicate(
    fake: FakeGcp, example: Path
) -> None:
    import os
    import re
    import signal
    import time

    fake.job_seconds = 4.0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler.cli", "apply", str(example), "--auto-approve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not fake.jobs and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)  # between the create and any later read
    process.wait()
    assert len(fake.jobs) == 1

    # The killed apply's lock: its holder is gone from this host, so it is taken over.
    code, output = _run("apply", str(example), "--auto-approve", "--lock-timeout", "0")
    assert code == 0, output
    took = re.search(r"note: took over the lock of stack \"taxifare\" from .*lock id (\w+)", output)
    assert took is not None and "that process is gone" in output, output
    assert "waits for" in output or "no-op" in output or "wait" in output
    assert len(fake.jobs) == 1


def test_a_plan_of_500_jobs_lists_by_pages_and_gets_nothing_per_job(
    fake: FakeGcp, tmp_path: Path
) -> None:
    fake.max_page = 100  # what the backend asks for, as the real API gives
    calls, pending = plan_calls(fake, tmp_path / "big", 500)
    assert pending == 0
    assert calls["aiplatform.projects.locations.customJobs.list"] == 5
    assert sum(calls.values()) <= 12
    assert not [c for c in calls if c.endswith(".get") and "objects" not in c]


@pytest.mark.slow
def test_gs_datasets_are_fingerprinted_from_object_metadata(fake: FakeGcp, example: Path) -> None:
    for name in ("train-1.csv", "train-2.csv", "valid-1.csv"):
        fake._put_object(f"gs://demo-data/taxi/{name}", f"rows of {name}".encode())
    stack = example / "stack.yaml"
    text = stack.read_text()
    stack.write_text(
        text.replace("data/taxi-train*.csv", "gs://demo-data/taxi/train-*.csv").replace(
            "data/taxi-valid*.csv", "gs://demo-data/taxi/valid-*.csv"
        )
    )
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    (job,) = [j.resource for j in fake.jobs.values()]
    args = job["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"]
    assert "--train_data_paths=gs://demo-data/taxi/train-*.csv" in args

    fake.calls.clear()
    code, output = _run("plan", str(example), "--detailed-exitcode")
    assert code == 0, output
    assert fake.calls.count("storage.objects.list") == 3  # the train and eval prefixes, packages

    fake._put_object("gs://demo-data/taxi/train-2.csv", b"other rows")
    fake._put_object("gs://demo-data/taxi/train-3.csv", b"more rows")
    code, output = _run("plan", str(example), "--detailed-exitcode")
    assert code == 2, output
    assert "train data changed: 1 file added, 1 file modified" in output


@pytest.mark.slow
def test_a_tuning_job_runs_as_a_hyperparameter_tuning_job_and_its_best_trial_serves(
    fake: FakeGcp, example: Path
) -> None:
    _tune(example)
    code, output = _run("plan", str(example))
    assert code == 0, output
    assert (
        "tuning job: 3 trials, 3 in parallel, minimize rmse over learning_rate (log "
        "0.001..0.1), optimizer {adam,sgd}; Bayesian optimisation (the service's default)"
    ) in output
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    (job,) = fake.jobs.values()
    assert job.kind == "hyperparameterTuningJobs"
    study = job.resource["studySpec"]
    assert study["metrics"] == [{"metricId": "rmse", "goal": "MINIMIZE"}]
    assert study["parameters"][0] == {
        "parameterId": "learning_rate",
        "doubleValueSpec": {"minValue": 0.001, "maxValue": 0.1},
        "scaleType": "UNIT_LOG_SCALE",
    }
    (versions,) = fake.models.values()
    # Trial 2 had the lowest rmse; its child job's base output directory is <base>/2/.
    assert versions[0]["artifactUri"].endswith("/2/model")


@pytest.mark.slow
def test_a_gate_on_a_tuning_job_reads_the_best_trials_final_measurement(
    fake: FakeGcp, example: Path
) -> None:
    _tune(example)
    serving = example / "serving.yaml"
    serving.write_text(serving.read_text() + "  gate: {metric: rmse, threshold: 0.4}\n")
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 1, output
    # The fake's trial 2 measured rmse 0.5, the best of three when minimising.
    assert "held: rmse 0.5 > threshold 0.4 (reported by trial 2 of taxifare_dnn_" in output
    assert fake.models == {} or all(not v for v in fake.models.values())
    code, output = _run("plan", str(example), "--detailed-exitcode")
    assert code == 2, output
    assert "! version.taxifare-v1" in output and "held: rmse 0.5 > threshold 0.4" in output

    serving.write_text(serving.read_text().replace("threshold: 0.4", "threshold: 1.0"))
    code, output = _run("plan", str(example))
    assert "deploys the best trial of taxifare_dnn_" in output and ": trial 2, rmse 0.5" in output
    assert "gate holds: rmse 0.5, <= threshold 1 (reported by trial 2 of" in output
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    (versions,) = fake.models.values()
    assert versions[0]["artifactUri"].endswith("/2/model")
    code, output = _run("status", str(example), "--format", "json")
    shown = json.loads(output[output.index("{\n") :])  # after validate's warnings
    (job,) = shown["jobs"]
    assert job["best_trial"] == "2" and [t["metric"] for t in job["trials"]] == [10.0, 0.5, 10 / 3]
    (version,) = shown["models"][0]["versions"]
    assert version["deployed_with"] == {"rmse": 0.5}


def _tune(example: Path) -> None:
    training = example / "training.yaml"
    training.write_text(
        training.read_text()
        .replace(
            "  scaleTier: BASIC",
            "  scaleTier: BASIC\n"
            "  hyperparameterTuning:\n"
            "    goal: MINIMIZE\n"
            "    metric: rmse\n"
            "    maxTrials: 3\n"
            "    maxParallelTrials: 3\n"
            "    params:\n"
            "      - {name: learning_rate, type: DOUBLE, min: 0.001, max: 0.1,"
            " scale: UNIT_LOG_SCALE}\n"
            "      - {name: optimizer, type: CATEGORICAL, values: [adam, sgd]}",
        )
        .replace("    learning_rate: 0.01\n", "")
    )


@pytest.mark.slow
def test_a_running_job_whose_identity_changed_is_cancelled_and_replaced(
    fake: FakeGcp, example: Path
) -> None:
    fake.job_seconds = 60.0
    code, output = _run("apply", str(example), "--auto-approve", "--no-wait")
    assert code == 0, output
    (first,) = fake.jobs.values()
    # Another stack's running job of the same name, which no cancel of this one may touch.
    other = dataclasses.replace(
        first,
        resource={
            **first.resource,
            "name": first.resource["name"] + "0",
            "labels": {**first.resource["labels"], "mlapply-stack": "another"},
        },
    )
    fake.jobs[other.resource["name"]] = other
    fake.job_seconds = 0.3
    code, output = _run("apply", str(example), "--auto-approve", "--var", "train_steps=50")
    assert code == 0, output
    assert first.resource["state"] == "JOB_STATE_CANCELLED"
    assert other.resource["state"] != "JOB_STATE_CANCELLED"
    del fake.jobs[other.resource["name"]]
    old = first.resource["displayName"]
    assert f"running job {old} (an older identity) will be cancelled" in output
    states = sorted(j.resource["state"] for j in fake.jobs.values())
    assert states == ["JOB_STATE_CANCELLED", "JOB_STATE_SUCCEEDED"]


def test_permission_denied_names_the_call_and_the_fix(fake: FakeGcp, example: Path) -> None:
    fake.faults.deny.add("aiplatform.projects.locations.customJobs.create")
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 1
    assert "job.taxifare-dnn: permission denied: create job taxifare_dnn_" in output
    assert "on projects/demo-project/locations/us-central1/customJobs: Permission" in output
    assert "Traceback" not in output


@pytest.mark.slow
def test_an_error_inside_a_finished_operation_fails_the_change(
    fake: FakeGcp, example: Path
) -> None:
    fake.faults.failed_operations.add("aiplatform.projects.locations.endpoints.deployModel")
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 1
    assert "deploy taxifare_v1_" in output
    assert "failed: Model server never became ready." in output


def test_no_credentials_is_one_clear_error(example: Path, tmp_path: Path) -> None:
    import os

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLAPPLY_", "GOOGLE_", "CLOUDSDK_"))
    }
    env.update(HOME=str(tmp_path), NO_GCE_CHECK="true", CLOUDSDK_CONFIG=str(tmp_path / "gcloud"))
    result = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "plan", str(example)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "error: no Google credentials found" in result.stderr + result.stdout
    assert "gcloud auth application-default login" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_large_files_upload_in_resumable_chunks(fake: FakeGcp, tmp_path: Path) -> None:
    from reconciler.backends.google.client import RESUMABLE_ABOVE, Caller, build_service
    from reconciler.backends.google.storage import Bucket, md5_base64

    big = tmp_path / "big.csv"
    big.write_bytes(bytes(range(256)) * (RESUMABLE_ABOVE // 256 * 2 + 3))  # two chunks and more
    storage = build_service("storage", "v1", AnonymousCredentials())  # type: ignore[no-untyped-call]
    bucket = Bucket(Caller(attempts=1), storage, "demo-staging")
    uri = bucket.upload_once("data/big.csv", big)
    assert uri == "gs://demo-staging/data/big.csv"
    assert fake.objects[("demo-staging", "data/big.csv")]["data"] == big.read_bytes()
    assert fake.calls.count("storage.objects.insert") == 1 + 3  # the session, three chunks
    bucket.upload_once("data/big.csv", big)  # the same MD5: not sent again
    assert fake.uploads == ["data/big.csv"]
    assert bucket.get("data/big.csv")["md5Hash"] == md5_base64(big)  # type: ignore[index]


@pytest.mark.slow
def test_a_jobs_env_reaches_every_pool_as_env_vars(fake: FakeGcp, example: Path) -> None:
    training = example / "training.yaml"
    text = training.read_text()
    assert "  scaleTier: BASIC\n" in text
    training.write_text(
        text.replace(
            "  scaleTier: BASIC\n", "  scaleTier: BASIC\n  env: {DATA_REGION: eu, B: '1'}\n"
        )
    )
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    (job,) = [j.resource for j in fake.jobs.values()]
    (pool,) = job["jobSpec"]["workerPoolSpecs"]
    assert pool["containerSpec"]["env"] == [
        {"name": "B", "value": "1"},
        {"name": "DATA_REGION", "value": "eu"},
    ]


@pytest.mark.slow
def test_a_python_package_runs_on_the_prebuilt_image_while_vertex_offers_it(
    fake: FakeGcp, package_example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _run("apply", str(package_example), "--auto-approve")
    assert code == 0, output
    (job,) = [j.resource for j in fake.jobs.values()]
    (pool,) = job["jobSpec"]["workerPoolSpecs"]
    package = pool["pythonPackageSpec"]
    assert package["executorImageUri"] == (
        "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-15.py310:latest"
    )
    assert package["packageUris"][0].startswith(
        "gs://demo-staging/mlapply/taxifare/packages/taxifare-"
    )
    # Today that image has ended: validate says so before anything is submitted.
    monkeypatch.setenv("MLAPPLY_TODAY", "2026-12-02")
    calls = len(fake.calls)
    code, output = _run("validate", str(package_example))
    assert code == 1, output
    assert "tf-cpu.2-15.py310:latest) reached its end of availability on 2025-11-14" in output
    assert "training.yaml:" in output and "spec.container.image" in output
    assert "tf2-cpu.2-15:latest) reaches its end of availability on 2027-01-14" in output
    assert "warning" in output and len(fake.calls) == calls


@pytest.mark.slow
def test_a_tpu_tier_is_one_tpu_vm_pool(fake: FakeGcp, example: Path) -> None:
    training = example / "training.yaml"
    training.write_text(training.read_text().replace("scaleTier: BASIC", "scaleTier: BASIC_TPU"))
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    (job,) = [j.resource for j in fake.jobs.values()]
    (pool,) = job["jobSpec"]["workerPoolSpecs"]
    assert pool["machineSpec"] == {
        "machineType": "cloud-tpu",
        "acceleratorType": "TPU_V2",
        "acceleratorCount": 8,
    }


def test_custom_machines_vertex_does_not_offer_are_refused_at_validate(example: Path) -> None:
    training = example / "training.yaml"
    training.write_text(
        training.read_text().replace(
            "  scaleTier: BASIC\n",
            "  scaleTier: CUSTOM\n  machines: {master: {type: n1-highcpu-8}}\n",
        )
    )
    code, output = _run("validate", str(example))
    assert code == 1, output
    assert "Vertex AI training has no machine type n1-highcpu-8" in output
    assert "training.yaml:" in output


@pytest.mark.parametrize(
    ("image", "said"),
    [
        ("us-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-4.py310:latest", "warning"),
        ("europe-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-5.py310:latest", "warning"),
        ("us-docker.pkg.dev/vertex-ai/training/xgboost-cpu.2-1.py310:latest", "warning"),
        ("us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-19.py310:latest", "warning"),
        ("gcr.io/me/trainer:1", "error"),
    ],
)
def test_a_prebuilt_training_image_the_catalogue_lacks_is_a_warning_not_an_error(
    example: Path, image: str, said: str
) -> None:
    """Google's prebuilt images for PyTorch, scikit-learn and XGBoost, and TensorFlow
    images newer than the catalogue, run packages too: validate says their end of
    availability is unchecked; an image outside Google's registry cannot run one."""
    training = example / "training.yaml"
    training.write_text(
        training.read_text().replace(
            "  scaleTier: BASIC\n", f"  scaleTier: BASIC\n  executorImage: {image}\n"
        )
    )
    code, output = _run("validate", str(example))
    if said == "warning":
        assert code == 0, output
        assert "mlapply's catalogue does not list" in output and "warning" in output
    else:
        assert code == 1 and "is not one of Vertex AI's prebuilt training images" in output


@pytest.mark.parametrize(
    ("machines", "refusal"),
    [
        ("{type: a3-highgpu-8g, accelerator: {type: NVIDIA_H100_80GB, count: 8}}", None),
        ("{type: a2-ultragpu-2g, accelerator: {type: NVIDIA_A100_80GB, count: 2}}", None),
        ("{type: n1-standard-8, accelerator: {type: NVIDIA_TESLA_T4, count: 2}}", None),
        (
            "{type: e2-standard-8, accelerator: {type: NVIDIA_TESLA_T4, count: 1}}",
            "NVIDIA_TESLA_T4 does not attach to machine type e2-standard-8",
        ),
        (
            "{type: n1-standard-8, accelerator: {type: NVIDIA_L4, count: 1}}",
            "NVIDIA_L4 does not attach to machine type n1-standard-8: it comes with g2-",
        ),
        (
            "{type: n1-standard-8, accelerator: {type: NVIDIA_TESLA_A100, count: 1}}",
            "NVIDIA_TESLA_A100 does not attach to machine type n1-standard-8",
        ),
        (
            "{type: n1-standard-8, accelerator: {type: NVIDIA_TESLA_T4, count: 3}}",
            "3 NVIDIA_TESLA_T4 cannot attach to one N1 machine: 1, 2, 4 can",
        ),
        (
            "{type: a2-highgpu-2g, accelerator: {type: NVIDIA_TESLA_A100, count: 8}}",
            "machine type a2-highgpu-2g comes with 2 NVIDIA_TESLA_A100",
        ),
        (
            "{type: n1-standard-32, accelerator: {type: NVIDIA_TESLA_V100, count: 1}}",
            "1 NVIDIA_TESLA_V100 attach to N1 machines of at most 12 vCPUs",
        ),
    ],
)
def test_gpus_are_checked_against_the_machine_type_they_go_with(
    fake: FakeGcp, example: Path, machines: str, refusal: str | None
) -> None:
    """Validate and the fake read one table (vertex/gpus.py, from Google's GPU pages):
    the newest GPUs come with their machine families, N1 takes some GPUs in some
    counts, no other family takes any."""
    training = example / "training.yaml"
    training.write_text(
        training.read_text().replace(
            "  scaleTier: BASIC\n", f"  scaleTier: CUSTOM\n  machines: {{master: {machines}}}\n"
        )
    )
    code, output = _run("validate", str(example))
    if refusal is None:
        assert code == 0, output
        code, output = _run("apply", str(example), "--auto-approve")
        assert code == 0, output  # the fake takes it too
        (job,) = [j.resource for j in fake.jobs.values()]
        spec = job["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]
        assert spec["machineType"] == _machine_spec(machines)["machineType"]
        return
    assert code == 1 and refusal in output and "training.yaml:" in output, output
    from tests.fake_gcp import rules

    pool = {"machineSpec": _machine_spec(machines)}
    assert refusal in (rules.machine_problem(pool, 0) or "")  # the fake refuses it too


def _machine_spec(machines: str) -> dict[str, object]:
    import yaml

    given = yaml.safe_load(machines)
    return {
        "machineType": given["type"],
        "acceleratorType": given["accelerator"]["type"],
        "acceleratorCount": given["accelerator"]["count"],
    }


@pytest.mark.slow
def test_a_tuning_trainer_that_ignores_aip_model_dir_gets_a_clear_error(
    fake: FakeGcp, example: Path
) -> None:
    """A trainer written for ML Engine joins --output_dir with TF_CONFIG's trial; on a
    single replica Vertex sets no TF_CONFIG, so every trial writes the same folder and
    none writes its own: mlapply says where it looked, instead of serving any of them."""
    from tests.fake_gcp.server import output_dir_trainer

    fake.trainer = output_dir_trainer
    training = example / "training.yaml"
    training.write_text(
        training.read_text()
        .replace(
            "  scaleTier: BASIC",
            "  scaleTier: BASIC\n  hyperparameterTuning:\n    goal: MINIMIZE\n"
            "    metric: rmse\n    maxTrials: 2\n    maxParallelTrials: 2\n"
            "    params:\n      - {name: learning_rate, type: DOUBLE, min: 0.001, max: 0.1}",
        )
        .replace("    learning_rate: 0.01\n", "")
    )
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 1, output
    assert "the best trial of job taxifare_dnn_" in output and "exported no SavedModel" in output
    assert "its own AIP_MODEL_DIR" in output
    assert "/jobs/taxifare_dnn_" in output and "Traceback" not in output
    assert fake.models == {}


@pytest.mark.slow
def test_a_deploy_whose_answer_is_lost_while_it_runs_is_not_sent_twice(
    fake: FakeGcp, example: Path
) -> None:
    deploy = "aiplatform.projects.locations.endpoints.deployModel"
    fake.faults.lose[deploy] = 1
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    (endpoint,) = fake.endpoints.values()
    (deployed,) = endpoint["deployedModels"]
    assert endpoint["trafficSplit"] == {deployed["id"]: 100}
    # The second send named the same DeployedModel.id, and was told it exists.
    assert fake.calls.count(deploy) == 2


@pytest.mark.slow
def test_a_call_a_concurrent_change_aborted_is_made_again_not_waited_for(
    fake: FakeGcp, example: Path
) -> None:
    """409 is ALREADY_EXISTS and ABORTED alike; an aborted upload or deploy did nothing,
    so it is sent again (it was taken as 'already exists' and waited for up to an hour)."""
    upload = "aiplatform.projects.locations.models.upload"
    deploy = "aiplatform.projects.locations.endpoints.deployModel"
    fake.faults.abort.update({upload: 1, deploy: 1})
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    assert fake.calls.count(upload) == 2 and fake.calls.count(deploy) == 2
    (endpoint,) = fake.endpoints.values()
    (deployed,) = endpoint["deployedModels"]
    assert endpoint["trafficSplit"] == {deployed["id"]: 100}
    (versions,) = fake.models.values()
    assert len(versions) == 1, versions


@pytest.mark.slow
def test_versions_a_person_uploaded_or_aliased_are_not_taken_for_the_stacks(
    fake: FakeGcp, example: Path
) -> None:
    """An alias a person adds ("champion", listed first) does not rename mlapply's
    version; a version uploaded by hand (its labels merged with the model's look like
    the stack's) is neither the stack's nor a stray copy to delete; "default" is moved
    by mlapply before it deletes the version holding it."""
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    ((model, versions),) = fake.models.items()
    ours = versions[0]
    ours["versionAliases"] = ["champion", *ours["versionAliases"]]
    by_hand = {**ours, "versionId": "99", "versionAliases": ["by-hand"], "labels": {}}
    versions.append({**by_hand, "artifactUri": "gs://elsewhere/model/"})
    code, output = _run("plan", str(example), "--detailed-exitcode")
    assert code == 0 and "No changes." in output, output
    code, output = _run("apply", str(example), "--auto-approve", "--var", "train_steps=50")
    assert code == 0, output
    kept = fake.models[model]
    assert [v["versionAliases"] for v in kept if v["versionId"] == "99"] == [["by-hand"]]
    (new,) = [v for v in kept if v["versionId"] != "99"]
    assert "default" in new["versionAliases"]  # moved to mlapply's newest, not the hand one
    assert "aiplatform.projects.locations.models.mergeVersionAliases" in fake.calls


def test_a_409_is_told_apart_by_its_status() -> None:
    from reconciler.backends.google.errors import Aborted, AlreadyExists, translate

    def body(status: str) -> bytes:
        return json.dumps({"error": {"code": 409, "message": "m", "status": status}}).encode()

    assert isinstance(translate(409, body("ABORTED"), "deploy"), Aborted)
    assert isinstance(translate(409, body("ALREADY_EXISTS"), "deploy"), AlreadyExists)
    assert isinstance(translate(409, b"not json", "deploy"), AlreadyExists)


@pytest.mark.slow
def test_an_operation_that_outlives_its_wait_is_not_a_lost_answer(
    fake: FakeGcp, example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    fake.op_polls, fake.op_seconds = 10**6, 3.0  # every operation takes 3 s here
    create, upload = (
        "aiplatform.projects.locations.endpoints.create",
        "aiplatform.projects.locations.models.upload",
    )
    monkeypatch.setenv("MLAPPLY_VERTEX_OPERATION_SECONDS", "0.5")
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 1, output
    assert "create endpoint taxifare: operation" in output and "is still running" in output
    assert "apply again later" in output and "Traceback" not in output
    assert fake.calls.count(create) == 1
    monkeypatch.setenv("MLAPPLY_VERTEX_OPERATION_SECONDS", "1.5")
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 1, output
    assert "upload taxifare_v1_" in output and "is still running" in output, output
    assert fake.calls.count(create) == 1 and fake.calls.count(upload) == 1
    time.sleep(2)  # the upload finishes at Google meanwhile
    monkeypatch.setenv("MLAPPLY_VERTEX_OPERATION_SECONDS", "30")
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    assert fake.calls.count(upload) == 1, "the upload that went on was found, not sent again"
    (versions,) = fake.models.values()
    assert len(versions) == 1
    code, output = _run("plan", str(example), "--detailed-exitcode")
    assert code == 0 and "No changes." in output, output


@pytest.mark.slow
def test_access_logging_and_a_serving_container_reach_the_deployment(
    fake: FakeGcp, example: Path
) -> None:
    serving = example / "serving.yaml"
    text = serving.read_text()
    serving.write_text(
        text.replace(
            "  description: Predicts", "  onlinePredictionLogging: true\n  description: Predicts"
        ).replace(
            "  default: true\n",
            "  default: true\n"
            "  runtimeVersion: '2.17'\n"
            "  servingContainer:\n"
            "    image: us-central1-docker.pkg.dev/demo-project/serving/tf:2.17\n"
            "    port: 8501\n"
            "    predictRoute: /v1/models/model:predict\n"
            "    healthRoute: /v1/models/model\n"
            "    env: {MODEL_NAME: model}\n",
            1,
        )
    )
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    (versions,) = fake.models.values()
    assert versions[0]["containerSpec"] == {
        "imageUri": "us-central1-docker.pkg.dev/demo-project/serving/tf:2.17",
        "env": [{"name": "MODEL_NAME", "value": "model"}],
        "ports": [{"containerPort": 8501}],
        "predictRoute": "/v1/models/model:predict",
        "healthRoute": "/v1/models/model",
    }
    (endpoint,) = fake.endpoints.values()
    (deployed,) = endpoint["deployedModels"]
    assert deployed["enableAccessLogging"] is True
    code, output = _run("plan", str(example), "--detailed-exitcode")
    assert code == 0 and "No changes." in output, output


MIRROR = "us-central1-docker.pkg.dev/demo-project/mirror/tensorflow-serving:2.17.0"


@pytest.mark.slow
def test_tensorflow_serving_set_once_in_the_stack_serves_every_version_after_the_images_end(
    fake: FakeGcp, example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After 2027-01-14 no prebuilt TensorFlow prediction image is left: the Stack names
    TensorFlow Serving in the user's registry once, and mlapply fills the container
    (servers.py, with its sources) and copies the SavedModel, in Cloud Storage, into
    the numbered folder TF Serving loads from AIP_STORAGE_URI."""
    monkeypatch.setenv("MLAPPLY_TODAY", "2027-02-01")
    code, output = _run("validate", str(example))
    assert code == 1 and "tf2-cpu.2-15" in output and "2027-01-14" in output, output
    assert "server: tensorflow-serving" in output, output
    stack = example / "stack.yaml"
    stack.write_text(
        stack.read_text().replace(
            "  defaults:\n",
            "  defaults:\n    servingContainer:\n      server: tensorflow-serving\n"
            f"      image: {MIRROR}\n",
        )
    )
    fake.faults.rewrite_in_steps = True  # Cloud Storage may copy an object in steps
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    (versions,) = fake.models.values()
    (version,) = versions
    assert version["containerSpec"] == {
        "imageUri": MIRROR,
        "command": ["/usr/bin/tensorflow_model_server"],
        "args": [
            "--rest_api_port=8501",
            "--model_name=model",
            "--model_base_path=$(AIP_STORAGE_URI)",
        ],
        "ports": [{"containerPort": 8501}],
        "predictRoute": "/v1/models/model:predict",
        "healthRoute": "/v1/models/model",
    }
    bucket, _, base = version["artifactUri"].removeprefix("gs://").partition("/")
    served = {
        name.removeprefix(base.rstrip("/") + "/"): stored["data"]
        for (held, name), stored in fake.objects.items()
        if held == bucket and name.startswith(base.rstrip("/") + "/")
    }
    assert served == {
        "1/saved_model.pb": b"a SavedModel",
        "1/variables/variables.index": b"variables",
    }, served
    assert "storage.objects.rewrite" in fake.calls
    code, output = _run("plan", str(example), "--detailed-exitcode")
    assert code == 0 and "No changes." in output, output


@pytest.mark.slow
def test_the_fake_refuses_an_undeploy_that_leaves_traffic_on_the_model(
    fake: FakeGcp, example: Path
) -> None:
    from reconciler.backends.google.client import Caller, build_service
    from reconciler.backends.google.errors import GoogleApiError

    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    (endpoint,) = fake.endpoints.values()
    (deployed,) = endpoint["deployedModels"]
    # A second deployment with no traffic, then an undeploy of the one holding it all.
    second = {**deployed, "id": "77"}
    endpoint["deployedModels"].append(second)
    ai = build_service("aiplatform", "v1", AnonymousCredentials())  # type: ignore[no-untyped-call]
    request = (
        ai.projects()
        .locations()
        .endpoints()
        .undeployModel(
            endpoint=endpoint["name"], body={"deployedModelId": deployed["id"], "trafficSplit": {}}
        )
    )
    with pytest.raises(GoogleApiError) as refused:
        Caller(attempts=1).execute(request, "undeploy")
    assert "still has traffic" in str(refused.value)
    fake.violations.clear()  # sent on purpose
    code, output = _run("destroy", str(example), "--auto-approve")
    assert code == 0, output  # zero-traffic deployments go first, then the last one
    assert fake.endpoints == {}


@pytest.mark.slow
@pytest.mark.parametrize("first", [True, False], ids=["new-model", "new-version"])
def test_an_upload_whose_answer_is_lost_while_it_runs_leaves_one_version(
    fake: FakeGcp, example: Path, first: bool
) -> None:
    """A lost answer while the upload still runs: the model's first upload is sent again
    and told the model exists (then waited for); a later one makes a second copy, whose
    alias moves to it (as Vertex moves a reused alias), and the stray copy is deleted."""
    upload = "aiplatform.projects.locations.models.upload"
    if not first:
        code, output = _run("apply", str(example), "--auto-approve")
        assert code == 0, output
    fake.faults.lose[upload] = 1
    more = [] if first else ["--var", "train_steps=50"]
    code, output = _run("apply", str(example), "--auto-approve", *more)
    assert code == 0, output
    (versions,) = fake.models.values()
    assert len(versions) == 1, versions
    code, output = _run("plan", str(example), "--detailed-exitcode", *more)
    assert code == 0 and "No changes." in output, output


ROLLOUT = """  rollout:
    steps:
      - {traffic: 10, hold: 0s}
      - {traffic: 50, hold: 0s}
      - {traffic: 100, hold: 0s}
    gates:
      maxErrorRate: 0.05
      maxLatencyMs: {p99: 500}
      minRequests: 20
"""


STEPS_50 = ("--var", "train_steps=50")


def _split(fake: FakeGcp) -> dict[str, int]:
    """The endpoint's split by version (deployment display name)."""
    (endpoint,) = fake.endpoints.values()
    names = {d["id"]: d["displayName"] for d in endpoint["deployedModels"]}
    return {names[k]: v for k, v in endpoint["trafficSplit"].items() if v}


@pytest.mark.slow
def test_a_rollout_moves_the_endpoints_traffic_in_steps_and_a_failed_gate_sends_it_back(
    fake: FakeGcp, example: Path
) -> None:
    """Vertex AI's side of a rollout: the trafficSplit sent at each step and on a
    rollback, and the Cloud Monitoring reads behind each gate (the fake checks both
    against their discovery documents and rules)."""
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    (first,) = _split(fake)
    serving = example / "serving.yaml"
    serving.write_text(serving.read_text() + ROLLOUT)

    code, output = _run("apply", str(example), "--auto-approve", *STEPS_50)
    assert code == 0, output
    assert "rolls out: 10 % for 0 s -> 50 % for 0 s -> 100 % for 0 s" in output, output
    split = _split(fake)
    (second,) = set(split) - {first}
    assert split == {first: 90, second: 10}, "the first step: 10 % to the new version"
    assert len(fake.models[next(iter(fake.models))]) == 2, "the old version still serves"

    code, output = _run("plan", str(example), "--detailed-exitcode", *STEPS_50)
    assert code == 2, output
    assert "traffic 10 % -> 50 %: step 1 of 3" in output
    assert "0 of 20 requests the gates need: apply waits for it" in output, output

    fake.served("taxifare", second, 40, 0, [30.0] * 40)
    code, output = _run("status", str(example), *STEPS_50)
    assert code == 0, output
    assert f"{second} READY 10 % of traffic" in output, output
    assert f"rolling out from {first}: step 1 for" in output, output
    assert "40 requests, errors 0 %, p99 32 ms" in output, output  # (16, 32] ms bucket
    code, output = _run("apply", str(example), "--auto-approve", *STEPS_50)
    assert code == 0, output
    assert _split(fake) == {first: 50, second: 50}
    fake.served("taxifare", second, 40, 1, [30.0] * 40)
    code, output = _run("apply", str(example), "--auto-approve", *STEPS_50)
    assert code == 0, output
    assert _split(fake) == {second: 100}
    code, output = _run("plan", str(example), *STEPS_50)
    assert "traffic 100 %: step 3 of 3, the last" in output, output
    fake.served("taxifare", second, 40, 0, [30.0] * 40)
    code, output = _run("apply", str(example), "--auto-approve", *STEPS_50)
    assert code == 0, output
    assert "rolled out: it serves all the traffic (default)" in output, output
    (versions,) = fake.models.values()
    assert len(versions) == 1, "the older version goes once the new one has all the traffic"
    code, output = _run("plan", str(example), "--detailed-exitcode", *STEPS_50)
    assert code == 0 and "No changes." in output, output

    # A version whose errors pass the gate is sent back, and stays so.
    code, output = _run("apply", str(example), "--auto-approve", "--var", "train_steps=60")
    assert code == 0, output
    split = _split(fake)
    (third,) = set(split) - {second}
    fake.served("taxifare", third, 40, 9, [30.0] * 40)
    code, output = _run("apply", str(example), "--auto-approve", "--var", "train_steps=60")
    assert code == 1, output
    assert "rolled back at traffic 10 % -> 50 %: step 1 of 3: errors 22.5 % > 5 %" in output
    assert _split(fake) == {second: 100}
    code, output = _run("plan", str(example), "--var", "train_steps=60", "--detailed-exitcode")
    assert code == 2, output
    assert f"{third} was rolled back" in output and "mlapply rollout retry taxifare-v1" in output
    before = len(fake.calls)
    code, output = _run("apply", str(example), "--auto-approve", "--var", "train_steps=60")
    assert _split(fake) == {second: 100}, "the next apply keeps the rollback"
    assert "endpoints.patch" not in " ".join(fake.calls[before:])

    # Every Monitoring read named one metric of the endpoint, aligned over >= 60 s.
    assert fake.monitoring.requests
    for query in fake.monitoring.requests:
        assert 'resource.labels.endpoint_id = "taxifare"' in query["filter"]
        assert int(query["aggregation.alignmentPeriod"][:-1]) >= 60
        assert query["aggregation.groupByFields"] == "metric.label.deployed_model_id"
