"""The Cloud ML Engine backend (``ml`` v1) against the fake Google server: the
example stack's cycle, the request bodies ML Engine documented (the tier, CUSTOM
machines, runtime and Python versions, jobDir without a second --job-dir,
tuning), versions and their default, and what validate and plan say of a
shut-down API. The fake checks every request against the ml v1 discovery
document and the service's rules; a refused one fails the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import cli
from tests.conftest import copy_example
from tests.fake_gcp.scale import ML_ENGINE
from tests.fake_gcp.server import FakeGcp, output_dir_trainer, pointed_at

SHUT_DOWN = "Google shut the Cloud ML Engine API (ml v1) down on 2025-01-31"


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    server = FakeGcp()
    with pointed_at(server, poll_seconds=0.1):
        yield server
    assert server.violations == [], server.violations


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The example stack, moved to ML Engine: its trainer package on runtime 2.11."""
    manifests = copy_example(tmp_path / "repo", rows=200)
    stack = manifests / "stack.yaml"
    text = stack.read_text()
    stack.write_text(text.replace("  backend: local\n  local:\n    home: .mlapply\n", ML_ENGINE))
    return manifests


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.cli, list(args))
    return result.exit_code, result.output


def test_validate_and_plan_say_the_api_is_shut_down(fake: FakeGcp, example: Path) -> None:
    code, output = _run("validate", str(example))
    assert code == 0, output
    assert f"stack.yaml:10:12: warning: backend mlengine: {SHUT_DOWN}" in output
    assert "use backend: vertex" in output
    code, output = _run("plan", str(example))
    assert code == 0, output
    assert f'stack "taxifare" (backend mlengine)\nNote: {SHUT_DOWN}' in output
    assert "Cloud ML Engine runtime 2.11, Python 3.7" in output
    code, output = _run("plan", str(example), "--format", "markdown")
    assert f"> [!NOTE]\n> {SHUT_DOWN}" in output


@pytest.mark.slow
def test_the_example_stack_trains_deploys_replans_and_destroys(
    fake: FakeGcp, example: Path
) -> None:
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    (body,) = fake.mlengine.created
    job_id = body["jobId"]
    assert job_id.startswith("taxifare_dnn_") and body["labels"]["mlapply-stack"] == "taxifare"
    spec = body["trainingInput"]
    job_dir = f"gs://demo-staging/mlapply/taxifare/jobs/{job_id}"
    assert {k: v for k, v in spec.items() if k not in ("args", "packageUris")} == {
        "scaleTier": "BASIC",
        "pythonModule": "trainer.task",
        "region": "us-central1",
        "jobDir": job_dir,
        "runtimeVersion": "2.11",
        "pythonVersion": "3.7",
    }
    (package,) = spec["packageUris"]
    assert package.startswith("gs://demo-staging/mlapply/taxifare/packages/")
    # The service passes jobDir as --job-dir: the args must not (the fake records a
    # violation if they do).
    assert [a.split("=")[0] for a in spec["args"]] == [
        "--train_data_paths",
        "--eval_data_paths",
        "--output_dir",
        "--train_steps",
        "--hidden_units",
        "--learning_rate",
    ]
    ((model_name, model),) = fake.mlengine.models.items()
    assert model_name == "projects/demo-project/models/taxifare"
    assert model["regions"] == ["us-central1"]
    (version,) = fake.mlengine.versions[model_name]
    assert version["isDefault"] and version["state"] == "READY"
    assert version["deploymentUri"].startswith(f"{job_dir}/output/export/")
    assert (version["runtimeVersion"], version["pythonVersion"]) == ("2.11", "3.7")
    assert version["autoScaling"] == {"minNodes": 1}

    code, output = _run("status", str(example))
    assert code == 0, output
    assert f"https://console.cloud.google.com/mlengine/jobs/{job_id}?project=demo-project" in output
    code, output = _run("logs", "taxifare-dnn", str(example))
    assert code == 1 and "gcloud ai-platform jobs stream-logs JOB_ID" in output

    calls = len(fake.calls)
    code, output = _run("plan", str(example), "--detailed-exitcode")
    assert code == 0 and "No changes." in output, output
    assert not [c for c in fake.calls[calls:] if not c.endswith((".list", ".get"))]

    # New hyperparameters: a new job, a new version made the default, the old one
    # deleted only then (ML Engine refuses to delete the default while others remain).
    code, output = _run("apply", str(example), "--auto-approve", "--var", "train_steps=50")
    assert code == 0, output
    assert len(fake.mlengine.created) == 2
    (version,) = fake.mlengine.versions[model_name]
    assert version["isDefault"] and model["defaultVersion"] == {"name": version["name"]}

    code, output = _run("destroy", str(example), "--auto-approve")
    assert code == 0, output
    assert fake.mlengine.models == {}
    # ml v1 cannot delete jobs: they stay in the project's history, no longer labelled.
    assert all("mlapply-stack" not in j.resource["labels"] for j in fake.mlengine.jobs.values())
    assert not [name for _, name in fake.objects if name.startswith("mlapply/taxifare/")]


@pytest.mark.slow
def test_custom_machines_and_tuning_are_sent_as_ml_engine_reads_them(
    fake: FakeGcp, example: Path
) -> None:
    fake.trainer = output_dir_trainer  # trials export under <output_dir>/<trial>/
    training = example / "training.yaml"
    training.write_text(
        training.read_text().replace(
            "  scaleTier: BASIC\n",
            "  scaleTier: CUSTOM\n"
            "  machines:\n"
            "    master: {type: complex_model_m}\n"
            "    worker: {type: complex_model_m, count: 2}\n"
            "  hyperparameterTuning:\n"
            "    goal: MINIMIZE\n"
            "    metric: rmse\n"
            "    maxTrials: 3\n"
            "    params:\n"
            "      - {name: batch_size, type: DISCRETE, values: [32, 64]}\n",
        )
    )
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    (body,) = fake.mlengine.created
    spec = body["trainingInput"]
    assert (spec["scaleTier"], spec["masterType"], spec["workerType"]) == (
        "CUSTOM",
        "complex_model_m",
        "complex_model_m",
    )
    assert spec["workerCount"] == "2"  # int64 travels as a string
    assert spec["hyperparameters"] == {
        "goal": "MINIMIZE",
        "hyperparameterMetricTag": "rmse",
        "maxTrials": 3,
        "maxParallelTrials": 1,
        "algorithm": "ALGORITHM_UNSPECIFIED",
        "params": [
            {"parameterName": "batch_size", "type": "DISCRETE", "discreteValues": [32.0, 64.0]}
        ],
    }
    (version,) = next(iter(fake.mlengine.versions.values()))
    # The fake's trial 2 is the best when minimising; it exported under output/2/.
    assert f"/jobs/{body['jobId']}/output/2/export/" in version["deploymentUri"]
    code, output = _run("status", str(example))
    assert code == 0 and "deployed with rmse 0.5" in output, output
    assert "* trial 2    SUCCEEDED         rmse 0.5" in output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("  scaleTier: BASIC\n", "  scaleTier: BASIC\n  runtimeVersion: '2.15'\n"),
            "Cloud ML Engine has no runtime version 2.15",
        ),
        (
            ("  scaleTier: BASIC\n", "  scaleTier: BASIC\n  pythonVersion: '3.10'\n"),
            "Cloud ML Engine runtime 2.11 runs Python 3.7, not 3.10",
        ),
        (
            (
                "  scaleTier: BASIC\n",
                "  scaleTier: CUSTOM\n  machines: {master: {type: e2-standard-4}}\n",
            ),
            "Cloud ML Engine training has no machine type e2-standard-4",
        ),
    ],
)
def test_validate_refuses_what_ml_engine_never_offered(
    example: Path, change: tuple[str, str], message: str
) -> None:
    training = example / "training.yaml"
    training.write_text(training.read_text().replace(*change))
    code, output = _run("validate", str(example))
    assert code == 1, output
    assert f"error: {message}" in output
    assert "Traceback" not in output


def test_the_fakes_regional_endpoint_refuses_a_legacy_machine_type(fake: FakeGcp) -> None:
    """mlapply serves on the regional endpoint, which takes no MLS1 machine type
    (.../ai-platform/prediction/docs/regional-endpoints); validate says so first."""
    from google.auth.credentials import AnonymousCredentials

    from reconciler.backends.google.client import Caller, build_service
    from reconciler.backends.google.errors import GoogleApiError
    from reconciler.backends.google.storage import Bucket

    caller = Caller(attempts=1)
    anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
    storage = build_service("storage", "v1", anonymous)
    Bucket(caller, storage, "demo-staging").upload("m/saved_model.pb", data=b"a SavedModel")
    models = build_service("ml", "v1", anonymous).projects().models()
    model = {"name": "m", "regions": ["us-central1"]}
    caller.execute(models.create(parent="projects/demo-project", body=model), "create")
    version = {
        "name": "v1",
        "deploymentUri": "gs://demo-staging/m",
        "runtimeVersion": "2.11",
        "pythonVersion": "3.7",
        "machineType": "mls1-c4-m2",
    }
    parent = "projects/demo-project/models/m"
    with pytest.raises(GoogleApiError) as refused:
        caller.execute(models.versions().create(parent=parent, body=version), "create")
    assert refused.value.status == 400 and "mls1-c4-m2" in str(refused.value)
    fake.violations.clear()  # sent on purpose
    version["machineType"] = "n1-standard-2"
    caller.execute(models.versions().create(parent=parent, body=version), "create")
