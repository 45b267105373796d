"""The Vertex AI backend against the fake Vertex + Cloud Storage server
(tests/fake_gcp): the example stack's whole cycle, no duplicate job after a
lost answer or a crash, convergence under injected faults, the cost of a plan
in API calls. Every request is checked against the discovery documents; the
``fake`` fixture fails a test that sent one the real API would refuse."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from google.auth.credentials import AnonymousCredentials

from reconciler import cli
from tests.conftest import REPO
from tests.fake_gcp.server import FakeGcp

GCP = """
  backend: vertex
  gcp:
    project: demo-project
    region: us-central1
    stagingBucket: gs://demo-staging
"""


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGcp]:
    server = FakeGcp()
    with server.running() as url:
        monkeypatch.setenv("MLAPPLY_AIPLATFORM_ENDPOINT", url)
        monkeypatch.setenv("MLAPPLY_STORAGE_ENDPOINT", url)
        monkeypatch.setenv("MLAPPLY_GCP_ANONYMOUS", "1")
        monkeypatch.setenv("MLAPPLY_GCP_RETRY_BASE_SECONDS", "0.01")
        yield server
    assert server.violations == [], server.violations


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The example stack, moved to Vertex AI."""
    repo = tmp_path / "repo"
    shutil.copytree(
        REPO / "manifests", repo / "manifests", ignore=shutil.ignore_patterns(".mlapply", "*.csv")
    )
    shutil.copytree(REPO / "trainer_templates", repo / "trainer_templates")
    (repo / ".git").mkdir()
    subprocess.run(
        [sys.executable, str(repo / "manifests" / "data" / "generate.py"), "--rows", "200"],
        check=True,
    )
    stack = repo / "manifests" / "stack.yaml"
    text = stack.read_text()
    stack.write_text(text.replace("  backend: local\n  local:\n    home: .mlapply\n", GCP))
    return repo / "manifests"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.cli, list(args))
    return result.exit_code, result.output


def test_the_example_stack_applies_reapplies_changes_and_destroys(
    fake: FakeGcp, example: Path
) -> None:
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    (job,) = [j.resource for j in fake.jobs.values()]
    assert job["displayName"].startswith("taxifare_dnn_")
    assert job["labels"]["mlapply-stack"] == "taxifare"
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    (pool,) = job["jobSpec"]["workerPoolSpecs"]
    package = pool["pythonPackageSpec"]
    assert pool["machineSpec"] == {"machineType": "n1-standard-4"}
    assert package["executorImageUri"] == (
        "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"
    )
    assert package["packageUris"][0].startswith(
        "gs://demo-staging/mlapply/taxifare/packages/taxifare-"
    )
    train = next(a for a in package["args"] if a.startswith("--train_data_paths="))
    assert train.startswith("--train_data_paths=gs://demo-staging/mlapply/taxifare/data/")
    (endpoint,) = fake.endpoints.values()
    (deployed,) = endpoint["deployedModels"]
    assert endpoint["trafficSplit"] == {deployed["id"]: 100}
    (versions,) = fake.models.values()
    assert versions[0]["artifactUri"].startswith("gs://demo-staging/mlapply/taxifare/jobs/")

    calls = len(fake.calls)
    code, output = _run("plan", str(example), "--detailed-exitcode")
    assert code == 0 and "No changes." in output, output
    assert not [c for c in fake.calls[calls:] if not c.endswith((".list", ".listVersions", ".get"))]

    code, output = _run("apply", str(example), "--auto-approve", "--var", "train_steps=50")
    assert code == 0, output
    assert len(fake.jobs) == 2
    (versions,) = fake.models.values()
    assert len(versions) == 1, "the old version is deleted once the new one serves"
    (endpoint,) = fake.endpoints.values()
    (deployed,) = endpoint["deployedModels"]
    assert deployed["modelVersionId"] == versions[0]["versionId"]
    assert endpoint["trafficSplit"] == {deployed["id"]: 100}

    code, output = _run("destroy", str(example), "--auto-approve")
    assert code == 0, output
    assert fake.endpoints == {} and fake.models == {}
    assert not [k for k in fake.objects if k[1].startswith("mlapply/taxifare/packages/")]


def test_a_create_whose_answer_is_lost_submits_no_duplicate(fake: FakeGcp, example: Path) -> None:
    fake.faults.lose_create_answers = 1
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    assert len(fake.jobs) == 1


def test_apply_converges_with_a_fifth_of_requests_failing(fake: FakeGcp, example: Path) -> None:
    fake.faults.rate = 0.2
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    fake.faults.rate = 0.0
    code, output = _run("plan", str(example), "--detailed-exitcode")
    assert code == 0 and "No changes." in output, output
    assert len(fake.jobs) == 1
    assert Counter(fake.calls)  # faults were injected on real calls


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
def test_the_fake_refuses_what_the_api_would(
    fake: FakeGcp, body: dict[str, object], refusal: str
) -> None:
    """The fake's strictness is what makes the tests above mean something."""
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

    code, output = _run("apply", str(example), "--auto-approve", "--lock-timeout", "0")
    assert code == 1 and "is locked by" in output, output
    lock_id = re.search(r"lock id (\w+)", output)
    assert lock_id is not None
    code, output = _run("unlock", lock_id.group(1), str(example))
    assert code == 0, output
    code, output = _run("apply", str(example), "--auto-approve")
    assert code == 0, output
    assert "waits for" in output or "no-op" in output or "wait" in output
    assert len(fake.jobs) == 1


def test_a_plan_of_500_jobs_lists_by_pages_and_gets_nothing_per_job(
    fake: FakeGcp, tmp_path: Path
) -> None:
    from reconciler.apply.planning import make_plan
    from reconciler.backends.select import backend_for
    from reconciler.stack import load_stack

    root = tmp_path / "big"
    (root / ".git").mkdir(parents=True)
    (root / "trainer" / "trainer").mkdir(parents=True)
    (root / "trainer" / "trainer" / "task.py").write_text("")
    jobs = "".join(
        f"---\napiVersion: mlapply/v1\nkind: TrainingJob\nmetadata: {{name: job-{i}}}\n"
        f"spec: {{trainer: t, hyperparameters: {{seed: {i}}}}}\n"
        for i in range(500)
    )
    (root / "stack.yaml").write_text(
        "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: big}\nspec:"
        + GCP
        + "---\napiVersion: mlapply/v1\nkind: Trainer\nmetadata: {name: t}\n"
        "spec: {source: trainer}\n" + jobs
    )
    loaded = load_stack([str(root)])
    stack = loaded.stack
    assert stack is not None, loaded.diagnostics
    backend = backend_for(stack.settings)
    first = make_plan(stack, backend)
    assert len(first.plan.changes) == 500
    parent = "projects/demo-project/locations/us-central1"
    for change in first.plan.changes:
        want = first.desired.resources[change.address]
        fake.add_finished_job(parent, str(change.live_name), want.live_labels("big"))
    fake.max_page = 100  # what the backend asks for, as the real API gives
    fake.calls.clear()
    again = make_plan(stack, backend_for(stack.settings))
    assert [c for c in again.plan.changes if c.action.pending] == []
    calls = Counter(fake.calls)
    print("API calls for a plan of 500 jobs:", dict(calls))
    assert calls["aiplatform.projects.locations.customJobs.list"] == 5
    assert sum(calls.values()) <= 12
    assert not [c for c in calls if c.endswith(".get") and "objects" not in c]
