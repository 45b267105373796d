"""`mlapply import`: gcloud ML Engine runbooks as manifests that validate and plan
to the same job. The round trip: a script's ``jobs submit training`` imported,
applied on the mlengine backend against the fake, sends the ``jobs.create`` body
the command described (but for what mlapply owns: the job id, its labels, the
job dir and the staged package)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler import cli
from tests.fake_gcp.server import FakeGcp, pointed_at

HPTUNING = """
trainingInput:
  hyperparameters:
    goal: MINIMIZE
    hyperparameterMetricTag: rmse
    maxTrials: 2
    maxParallelTrials: 1
    params:
      - parameterName: hidden_units
        type: CATEGORICAL
        categoricalValues: ["64,32", "128,64"]
"""
# Written as the ML Engine samples wrote them: variables, continued lines, a
# shell-made job id, flags gcloud takes that mlapply does not need.
SCRIPT = """
#!/bin/bash
set -e
PROJECT=demo-project
BUCKET=gs://demo-staging
REGION=us-central1
JOB_NAME=taxi_$(date +%Y%m%d_%H%M%S)

gcloud ai-platform jobs submit training $JOB_NAME \\
  --staging-bucket $BUCKET \\
  --job-dir $BUCKET/runs/$JOB_NAME \\
  --project $PROJECT --region $REGION \\
  --scale-tier custom \\
  --master-machine-type n1-standard-8 \\
  --worker-machine-type n1-standard-8 --worker-count 2 \\
  --runtime-version 2.11 --python-version 3.7 \\
  --module-name trainer.task --package-path trainer/ \\
  --config hptuning_config.yaml \\
  --master-image-uri gcr.io/demo-project/taxi:1 \\
  --stream-logs \\
  -- \\
  --train_data_paths=gs://demo-data/train.csv \\
  --eval_data_paths=gs://demo-data/eval.csv \\
  --output_dir=gs://demo-staging/taxi/out \\
  --train_steps=1000 --learning_rate=0.01
"""
# The trainingInput that command sends (gcloud: flags over the --config file;
# int64 counts as strings), but for jobDir and packageUris, which mlapply owns.
DESCRIBED: dict[str, Any] = {
    "scaleTier": "CUSTOM",
    "masterType": "n1-standard-8",
    "workerType": "n1-standard-8",
    "workerCount": "2",
    "pythonModule": "trainer.task",
    "region": "us-central1",
    "runtimeVersion": "2.11",
    "pythonVersion": "3.7",
    "args": [
        "--train_data_paths=gs://demo-data/train.csv",
        "--eval_data_paths=gs://demo-data/eval.csv",
        "--output_dir=gs://demo-staging/taxi/out",
        "--train_steps=1000",
        "--learning_rate=0.01",
    ],
    "hyperparameters": {
        "goal": "MINIMIZE",
        "hyperparameterMetricTag": "rmse",
        "maxTrials": 2,
        "maxParallelTrials": 1,
        "algorithm": "ALGORITHM_UNSPECIFIED",
        "params": [
            {
                "parameterName": "hidden_units",
                "type": "CATEGORICAL",
                "categoricalValues": ["64,32", "128,64"],
            }
        ],
    },
}


@pytest.fixture
def runbook(tmp_path: Path) -> Path:
    """A repository with a trainer package and its gcloud runbook."""
    (tmp_path / ".git").mkdir()
    package = tmp_path / "taxi" / "trainer"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text("import argparse\n")
    (tmp_path / "taxi" / "hptuning_config.yaml").write_text(HPTUNING)
    script = tmp_path / "taxi" / "train.sh"
    script.write_text(textwrap.dedent(SCRIPT).lstrip())
    return script


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    server = FakeGcp(job_seconds=0.2)
    with pointed_at(server, poll_seconds=0.1):
        server.put_object("gs://demo-data/train.csv", b"fare,distance\n1,2\n")
        server.put_object("gs://demo-data/eval.csv", b"fare,distance\n3,4\n")
        yield server
    assert server.violations == [], server.violations


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.cli, list(args))
    return result.exit_code, result.output


def test_an_imported_job_sends_the_body_its_gcloud_command_described(
    fake: FakeGcp, runbook: Path
) -> None:
    out = runbook.parent / "manifests"
    code, output = _run("import", str(runbook), "--out", str(out))
    assert code == 0, output
    assert "Valid. Next: mlapply plan" in output
    assert "To try the jobs on this machine first" in output  # not only the cloud
    # Each flag it did not translate is named with its line; none silently dropped.
    assert "train.sh:8: warning: --master-image-uri gcr.io/demo-project/taxi:1: not " in output
    assert "train.sh:8: warning: --stream-logs: not needed" in output
    assert "train.sh:8: warning: the job id taxi_$(date +%Y%m%d_%H%M%S) is made by the shell" in (
        output
    )
    code, output = _run("plan", str(out))
    assert code == 0, output
    assert "chief: 1x n1-standard-8, worker: 2x n1-standard-8" in output
    code, output = _run("apply", str(out), "--auto-approve")
    assert code == 0, output
    (body,) = fake.mlengine.created
    sent = dict(body["trainingInput"])
    assert sent.pop("jobDir").startswith("gs://demo-staging/mlapply/taxi/jobs/taxi_")
    (package,) = sent.pop("packageUris")
    assert package.startswith("gs://demo-staging/mlapply/taxi/packages/")
    assert sent == DESCRIBED
    assert body["jobId"].startswith("taxi_")


def test_models_versions_and_a_standalone_config_are_imported(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "task.py").write_text("")
    script = tmp_path / "deploy.sh"
    script.write_text(
        "gcloud ml-engine jobs submit training census_1 --region europe-west1 "
        "--module-name trainer.task --package-path trainer --job-dir gs://b/census_1 "
        "--runtime-version 2.8 --python-version 3.7 -- --train-files gs://b/data/*.csv\n"
        "gcloud ml-engine models create census_model --regions europe-west1 --enable-logging\n"
        "gcloud ml-engine versions create v1 --model census_model "
        "--origin gs://b/census_1/export/123 --runtime-version 2.8 --python-version 3.7 "
        "--machine-type mls1-c4-m2 --accelerator type=nvidia-tesla-t4\n"
        "gcloud ml-engine versions create v2 --model census_model --origin gs://elsewhere/m "
        "--runtime-version 2.8 --python-version 3.7 --min-nodes 2 --max-nodes 4\n"
        "gcloud ml-engine versions set-default v2 --model census_model\n"
        "gcloud ml-engine local train --module-name trainer.task\n"
    )
    config = tmp_path / "tune.json"
    config.write_text('{"trainingInput": {"scaleTier": "STANDARD_1", "network": "vpc-1"}}')
    code, output = _run("import", str(script), str(config))
    assert code == 0, output
    assert "gcloud ml-engine local train: not a command mlapply imports; skipped" in output
    assert "deploy.sh:3: warning: --accelerator: not translated" in output
    assert 'deploy.sh:1: warning: trainingInput.network "vpc-1": not translated' in output
    assert "deploy.sh:3: warning: --origin gs://b/census_1/export/123: deployed from job" in output
    manifests = CliRunner().invoke(cli.cli, ["import", str(script), str(config)]).stdout
    assert "stagingBucket: gs://b\n" in manifests
    assert "scaleTier: STANDARD_1" in manifests
    assert "  train: gs://b/data/*.csv\n" in manifests
    assert "    train: --train-files\n    eval: null\n    output: null\n" in manifests
    version_one = manifests[manifests.index("name: census-model-v1") :]
    assert "    job: census-1\n" in version_one and "machineType: mls1-c4-m2" in version_one
    version_two = manifests[manifests.index("name: census-model-v2") :]
    assert "uri: gs://elsewhere/m" in version_two and "default: true" in version_two
    assert "scaling:\n    minNodes: 2\n    maxNodes: 4" in version_two
    assert "default: true" not in version_one[: version_one.index("---")]


def test_a_file_with_no_ml_engine_command_is_one_error(tmp_path: Path) -> None:
    script = tmp_path / "build.sh"
    script.write_text("echo hello\ngsutil cp a gs://b/a\n")
    code, output = _run("import", str(script))
    assert code == 1
    assert "error: no gcloud ml-engine or ai-platform command to import" in output
    assert "Traceback" not in output
    code, output = _run("import", str(tmp_path / "missing.sh"))
    assert code == 1 and "cannot read" in output and "Traceback" not in output
