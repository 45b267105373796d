"""apply and destroy end to end on the local backend: real builds, real detached
job processes, the real store. The tiny trainer here needs no TensorFlow; the
example-stack test trains the real template."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.backends.base import JobState
from reconciler.backends.local import LocalStore
from reconciler.backends.local.lock import stack_lock
from tests.conftest import REPO, WriteFiles, copy_example

pytestmark = pytest.mark.tensorflow

TASK = """
import argparse, json, os, sys, time
parser = argparse.ArgumentParser()
parser.add_argument("--train_data_paths"); parser.add_argument("--eval_data_paths")
parser.add_argument("--output_dir"); parser.add_argument("--job-dir")
parser.add_argument("--rate"); parser.add_argument("--mode", default="ok")
parser.add_argument("--sleep", type=float, default=0)
args, extra = parser.parse_known_args()
time.sleep(args.sleep)
if args.mode == "fail":
    raise SystemExit("ValueError: this trainer fails on purpose")
export = os.path.join(args.output_dir, "export", "1")
os.makedirs(export, exist_ok=True)
open(os.path.join(export, "saved_model.pb"), "wb").write(b"not really a model")
with open(os.path.join(args.output_dir, "seen.json"), "w") as seen:
    json.dump({"argv": sys.argv[1:], "extra": extra}, seen)
"""

MANIFESTS = """
apiVersion: mlapply/v1
kind: Stack
metadata: {{name: applied}}
---
apiVersion: mlapply/v1
kind: Dataset
metadata: {{name: d}}
spec: {{train: ../data/train.csv, eval: ../data/eval.csv}}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {{name: tiny}}
spec: {{source: ../trainer}}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {{name: tiny-job}}
spec:
  trainer: tiny
  dataset: d
  hyperparameters: {{rate: {rate}, mode: {mode}, sleep: {sleep}}}
  args: ["--note=a b 'c' $(touch /tmp/pwned)"]
---
apiVersion: mlapply/v1
kind: Model
metadata: {{name: m}}
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata: {{name: m-v1}}
spec: {{model: m, source: {{job: tiny-job}}, default: true}}
"""


def _stack(root: Path, rate: float = 0.1, mode: str = "ok", sleep: float = 0) -> Path:
    (root / ".git").mkdir(exist_ok=True)
    (root / "trainer" / "trainer").mkdir(parents=True, exist_ok=True)
    (root / "trainer" / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "trainer" / "task.py").write_text(TASK)
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "train.csv").write_text("a\n1\n")
    (root / "data" / "eval.csv").write_text("a\n2\n")
    (root / "m").mkdir(exist_ok=True)
    text = MANIFESTS.format(rate=rate, mode=mode, sleep=sleep)
    (root / "m" / "stack.yaml").write_text(textwrap.dedent(text).lstrip())
    return root / "m"


def _apply(manifests: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.cli, ["apply", str(manifests), "--auto-approve", *extra])
    return result.exit_code, result.output


def _store(manifests: Path) -> LocalStore:
    return LocalStore(manifests / ".mlapply")


def test_apply_converges_reapplies_as_no_op_replaces_and_destroys(tmp_path: Path) -> None:
    manifests = _stack(tmp_path)
    code, output = _apply(manifests)
    assert code == 0, output
    assert "Apply complete: 3 change(s)." in output
    snapshot = _store(manifests).read("applied")
    (job,) = snapshot.jobs
    assert job.state is JobState.SUCCEEDED
    (version,) = snapshot.versions
    assert snapshot.models[0].default_version == version.name
    seen = json.loads(
        (manifests / ".mlapply" / "outputs" / job.name / "output" / "seen.json").read_text()
    )
    assert seen["argv"][-1] == "--note=a b 'c' $(touch /tmp/pwned)"
    assert f"--train_data_paths={tmp_path / 'm' / '..' / 'data' / 'train.csv'}" in seen["argv"]
    assert "--rate=0.1" in seen["argv"]

    code, output = _apply(manifests)
    assert code == 0 and "No changes." in output

    _stack(tmp_path, rate=0.2)
    code, output = _apply(manifests)
    assert code == 0, output
    snapshot = _store(manifests).read("applied")
    assert len(snapshot.jobs) == 2  # the old job stays as history
    (new_version,) = snapshot.versions  # the old version is gone, after the new one served
    assert new_version.name != version.name
    assert snapshot.models[0].default_version == new_version.name

    # The destroy's plan lists every run it removes with its outputs, before asking.
    old_run, new_run = sorted(snapshot.jobs, key=lambda j: j.create_time or 0)
    result = CliRunner().invoke(cli.cli, ["destroy", str(manifests), "--auto-approve"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Removed with the stack (each run's record, outputs,")[1]
    assert f"  - {old_run.name} of job.tiny-job (succeeded)\n" in listed
    assert f"  - {new_run.name} of job.tiny-job (succeeded)\n" in listed
    assert "2 job run(s) removed with their outputs." in result.output
    snapshot = _store(manifests).read("applied")
    assert (snapshot.jobs, snapshot.models, snapshot.versions, snapshot.packages) == ((),) * 4
    assert not any((manifests / ".mlapply" / "models").iterdir())
    assert not any((manifests / ".mlapply" / "jobs").iterdir())
    assert not any((manifests / ".mlapply" / "outputs").iterdir())
    assert not any((manifests / ".mlapply" / "packages").iterdir())


def test_a_failing_trainer_fails_the_apply_and_skips_its_version(tmp_path: Path) -> None:
    manifests = _stack(tmp_path, mode="fail")
    code, output = _apply(manifests)
    assert code == 1
    assert "this trainer fails on purpose" in output
    assert "version.m-v1: skipped: it depends on job.tiny-job, which failed" in output
    assert "model.m: finished" in output  # an independent branch goes on
    (job,) = _store(manifests).read("applied").jobs
    assert job.state is JobState.FAILED


def test_no_wait_submits_and_a_later_apply_deploys(tmp_path: Path) -> None:
    manifests = _stack(tmp_path, sleep=2)
    code, output = _apply(manifests, "--no-wait")
    assert code == 0, output
    assert "submitted" in output and "not deployed yet" in output
    assert "Apply complete" not in output and "Apply submitted: " in output  # not deployed
    assert _store(manifests).read("applied").versions == ()
    code, output = _apply(manifests)
    assert code == 0, output
    assert len(_store(manifests).read("applied").versions) == 1
    assert len(_store(manifests).read("applied").jobs) == 1  # waited for, not resubmitted


def test_a_second_apply_fails_with_the_lock_holder(tmp_path: Path) -> None:
    manifests = _stack(tmp_path)
    with stack_lock(manifests / ".mlapply", "applied", timeout=1) as holder:
        code, output = _apply(manifests, "--lock-timeout", "0.5")
    assert code == 1
    assert f'stack "applied" is locked by pid {os.getpid()}' in output and holder in output


def test_killing_the_cli_mid_apply_then_applying_again_converges(tmp_path: Path) -> None:
    manifests = _stack(tmp_path, sleep=4)
    env = {**os.environ}
    first = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(manifests), "--auto-approve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        jobs = (
            _store(manifests).read("applied").jobs
            if (manifests / ".mlapply" / "state.db").exists()
            else ()
        )
        if jobs and jobs[0].state in (JobState.PREPARING, JobState.RUNNING):
            break
        time.sleep(0.2)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    code, output = _apply(manifests)  # no human step: the dead holder's lock is taken over
    assert code == 0, output
    assert f"from pid {first.pid} on" in output and "that process is gone" in output
    snapshot = _store(manifests).read("applied")
    assert len(snapshot.jobs) == 1 and snapshot.jobs[0].state is JobState.SUCCEEDED
    assert len(snapshot.versions) == 1


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None,
    reason="needs TensorFlow (make test installs it)",
)
def test_the_example_stack_trains_deploys_and_beats_the_baseline(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    copy_example(repo, rows=4000)
    code, output = _apply(repo / "manifests", "--var", "train_steps=300")
    assert code == 0, output
    snapshot = _store(repo / "manifests").read("taxifare")
    (job,) = snapshot.jobs
    metrics = json.loads(
        (
            repo / "manifests" / ".mlapply" / "outputs" / job.name / "output" / "metrics.json"
        ).read_text()
    )
    assert metrics["rmse"] < 0.5 * metrics["baseline_rmse"], metrics
    (version,) = snapshot.versions
    assert (Path(version.deployment_uri or "") / "saved_model.pb").exists()

    runner = CliRunner()
    request = repo / "manifests" / "sample-request.json"
    answer = runner.invoke(
        cli.cli, ["predict", "taxifare", str(repo / "manifests"), "--json-instances", str(request)]
    )
    assert answer.exit_code == 0, answer.output
    far, near = json.loads(answer.output)["predictions"]  # one output: bare values, as ML Engine
    assert far > near > 2  # 11 km in the rush hour costs more than 1.5 km at night
    bad = runner.invoke(
        cli.cli,
        [
            "predict",
            "taxifare",
            str(repo / "manifests"),
            "--instances",
            '{"pickup_longitude": -73.9, "colour": "red"}',
        ],
    )
    assert bad.exit_code == 1 and "instance 0: unknown feature 'colour'" in bad.output


def test_a_saved_plan_applies_only_while_it_is_not_stale(tmp_path: Path) -> None:
    manifests = _stack(tmp_path)
    saved = tmp_path / "p.plan"  # any name: apply knows a saved plan by its content
    made = CliRunner().invoke(cli.cli, ["plan", str(manifests), "-o", str(saved)])
    assert made.exit_code == 0, made.output
    _stack(tmp_path, rate=0.3)  # the manifests change after the plan was made
    code, output = _apply(saved)
    assert code == 3 and "the saved plan is stale: the manifests" in output
    _stack(tmp_path)
    code, output = _apply(saved)
    assert code == 0 and "Apply complete" in output, output
    code, output = _apply(saved)  # the live world has changed since
    assert code == 3 and "the saved plan is stale: the live resources changed" in output


def test_a_job_that_exports_nothing_fails_its_version_clearly(tmp_path: Path) -> None:
    manifests = _stack(tmp_path)
    task = tmp_path / "trainer" / "trainer" / "task.py"
    task.write_text(
        task.read_text().replace(
            'open(os.path.join(export, "saved_model.pb")',
            'open(os.path.join(export, "nothing.txt")',
        )
    )
    code, output = _apply(manifests)
    assert code == 1
    assert "version.m-v1: failed: job tiny_job_" in output
    assert "exported no SavedModel (no saved_model.pb) in:" in output
    assert "/.mlapply/outputs/tiny_job_" in output  # each folder searched is named


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None,
    reason="needs TensorFlow (make test installs it)",
)
def test_a_chief_and_two_workers_train_through_apply(tmp_path: Path) -> None:
    import shutil

    (tmp_path / ".git").mkdir()
    shutil.copytree(REPO / "trainer_templates" / "regression", tmp_path / "trainer")
    subprocess.run(
        [
            sys.executable,
            str(REPO / "manifests" / "data" / "generate.py"),
            "--rows",
            "3000",
            "--out",
            str(tmp_path / "data"),
        ],
        check=True,
    )
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "stack.yaml").write_text(
        textwrap.dedent("""
        apiVersion: mlapply/v1
        kind: Stack
        metadata: {name: dist}
        ---
        apiVersion: mlapply/v1
        kind: Dataset
        metadata: {name: taxi}
        spec: {train: ../data/taxi-train.csv, eval: ../data/taxi-valid.csv}
        ---
        apiVersion: mlapply/v1
        kind: Trainer
        metadata: {name: taxifare}
        spec: {source: ../trainer}
        ---
        apiVersion: mlapply/v1
        kind: TrainingJob
        metadata: {name: wide}
        spec:
          trainer: taxifare
          dataset: taxi
          hyperparameters: {train_steps: 200, batch_size: 128}
          scaleTier: CUSTOM
          machines:
            master: {type: n1-standard-4}
            worker: {type: n1-standard-4, count: 2}
        """).lstrip()
    )
    code, output = _apply(tmp_path / "m")
    assert code == 0, output
    (job,) = _store(tmp_path / "m").read("dist").jobs
    folder = tmp_path / "m" / ".mlapply" / "jobs" / job.name
    out_dir = tmp_path / "m" / ".mlapply" / "outputs" / job.name / "output"
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["workers"] == 3 and metrics["rmse"] < 0.6 * metrics["baseline_rmse"]
    assert sorted(p.name for p in (folder / "logs").iterdir()) == [
        "chief-0.log",
        "prepare.log",
        "worker-0.log",
        "worker-1.log",
    ]


def test_ctrl_c_stops_scheduling_leaves_the_job_running_and_releases_the_lock(
    tmp_path: Path,
) -> None:
    manifests = _stack(tmp_path, sleep=3)
    # A test run started in the background (`pytest &`) hands its children SIGINT ignored,
    # and Python then installs no KeyboardInterrupt handler: restore what a terminal gives.
    interruptible = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler);"
        "from reconciler.cli import main; main()"
    )
    first = subprocess.Popen(
        [sys.executable, "-c", interruptible, "apply", str(manifests), "--auto-approve"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        state = manifests / ".mlapply" / "state.db"
        jobs = _store(manifests).read("applied").jobs if state.exists() else ()
        if jobs and jobs[0].state is JobState.RUNNING:
            break
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)
    output, _ = first.communicate(timeout=60)
    assert first.returncode == 130, output
    assert "Interrupted after" in output and "submitted jobs keep running" in output
    (job,) = _store(manifests).read("applied").jobs
    assert job.state in (JobState.RUNNING, JobState.SUCCEEDED)  # not cancelled by Ctrl-C
    code, output = _apply(manifests)  # the lock was released; this apply carries on
    assert code == 0, output
    assert len(_store(manifests).read("applied").jobs) == 1
    assert len(_store(manifests).read("applied").versions) == 1


def test_status_and_logs(tmp_path: Path) -> None:
    manifests = _stack(tmp_path)
    assert _apply(manifests)[0] == 0
    runner = CliRunner()
    shown = runner.invoke(cli.cli, ["status", str(manifests)])
    assert shown.exit_code == 0, shown.output
    assert "SUCCEEDED" in shown.output and "(default)" in shown.output
    data = json.loads(runner.invoke(cli.cli, ["status", str(manifests), "--format", "json"]).output)
    (job,) = data["jobs"]
    assert job["state"] == "SUCCEEDED" and job["duration_seconds"] is not None
    assert data["models"][0]["versions"][0]["default"] is True
    log = runner.invoke(cli.cli, ["logs", "tiny-job", str(manifests)])
    assert log.exit_code == 0
    # TensorFlow's C++ and absl lines are left out unless --all; the file keeps them.
    (name,) = [j.name for j in _store(manifests).read("applied").jobs]
    written = manifests / ".mlapply" / "jobs" / name / "logs" / "chief-0.log"
    native = (
        "I0000 00:00:1796609858.015231   12265 local_rendezvous.cc:404] Local rendezvous "
        "is aborting with status: OUT_OF_RANGE: End of sequence\n"
    )
    written.write_text(written.read_text() + native + "the trainer's own last line\n")
    quiet = CliRunner().invoke(cli.cli, ["logs", "tiny-job", str(manifests)])
    assert quiet.exit_code == 0 and "the trainer's own last line" in quiet.stdout
    assert (
        "rendezvous" not in quiet.stdout and "1 TensorFlow C++ log line(s) left out" in quiet.stderr
    )
    every = runner.invoke(cli.cli, ["logs", "tiny-job", str(manifests), "--all"])
    assert "Local rendezvous is aborting" in every.output
    missing = runner.invoke(cli.cli, ["logs", "nope", str(manifests)])
    assert missing.exit_code == 1 and "no job 'nope'" in missing.output


def test_a_running_job_whose_identity_changed_is_cancelled_and_replaced(tmp_path: Path) -> None:
    manifests = _stack(tmp_path, sleep=30)
    code, output = _apply(manifests, "--no-wait")
    assert code == 0, output
    _stack(tmp_path, sleep=0)  # a new identity while the first job still runs
    code, output = _apply(manifests)
    assert code == 0, output
    assert "will be replaced" in output and "- cancel" in output
    jobs = {j.state for j in _store(manifests).read("applied").jobs}
    assert jobs == {JobState.CANCELLED, JobState.SUCCEEDED}


def test_a_version_from_a_local_uri_is_relative_to_its_manifest_file(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    export = tmp_path / "models" / "exported"
    export.mkdir(parents=True)
    (export / "saved_model.pb").write_bytes(b"a model")
    (tmp_path / "m" / "serving").mkdir(parents=True)
    (tmp_path / "m" / "stack.yaml").write_text(
        "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: uri}\n---\n"
        "apiVersion: mlapply/v1\nkind: Model\nmetadata: {name: m}\n"
    )
    (tmp_path / "m" / "serving" / "version.yaml").write_text(
        "apiVersion: mlapply/v1\nkind: ModelVersion\nmetadata: {name: v}\n"
        "spec: {model: m, source: {uri: ../../models/exported}, default: true}\n"
    )
    code, output = _apply(tmp_path / "m")
    assert code == 0, output
    (version,) = _store(tmp_path / "m").read("uri").versions
    assert (Path(version.deployment_uri or "") / "saved_model.pb").read_bytes() == b"a model"


def test_a_failed_build_shows_its_output_in_the_apply_error(tmp_path: Path) -> None:
    manifests = _stack(tmp_path)
    (tmp_path / "trainer" / "setup.py").write_text(
        "raise SystemExit('error: this setup.py needs a compiler it cannot find')\n"
    )
    code, output = _apply(manifests)
    assert code == 1
    failure = output[output.index("error: job.tiny-job:") :]
    assert "building the trainer package" in failure
    assert "this setup.py needs a compiler it cannot find" in failure
    assert "Traceback" not in output


def test_a_package_that_does_not_build_fails_its_job_and_logs_say_why(
    write_files: WriteFiles,
) -> None:
    root = write_files(
        {
            ".git/HEAD": "",
            "pkg/setup.py": "raise SystemExit('setup.py: this package cannot build here')\n",
            "pkg/trainer/__init__.py": "",
            "m/stack.yaml": """
            apiVersion: mlapply/v1
            kind: Stack
            metadata: {name: unbuilt}
            spec: {backend: local}
            ---
            apiVersion: mlapply/v1
            kind: Trainer
            metadata: {name: t}
            spec: {source: ../pkg}
            ---
            apiVersion: mlapply/v1
            kind: TrainingJob
            metadata: {name: j}
            spec: {trainer: t}
            """,
        }
    )
    code, output = _apply(root / "m")
    assert code == 1 and "this package cannot build here" in output
    logs = CliRunner().invoke(cli.cli, ["logs", "j", str(root / "m")])
    assert logs.exit_code == 0, logs.output
    assert "this package cannot build here" in logs.stdout
    assert "has no chief-0 log; it is failed: building the trainer package" in logs.stderr
    # Not converged, and not "No changes": blocked, with the way forward.
    planned = CliRunner().invoke(cli.cli, ["plan", str(root / "m"), "--detailed-exitcode"])
    assert planned.exit_code == 2, planned.output
    assert "! job.j" in planned.output and "not retried: use --retrain j" in planned.output
    assert "1 blocked." in planned.output and "No changes" not in planned.output
    again = CliRunner().invoke(cli.cli, ["apply", str(root / "m"), "--auto-approve"])
    assert again.exit_code == 1
    assert "Not converged: 1 resource(s) blocked" in again.stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB file system (tmpfs), to fill up."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("needs to mount a tmpfs (root): " + mounted.stderr.decode().strip())
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_is_one_clear_error_and_status_still_works(small_disk: Path) -> None:
    root = small_disk / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "pkg" / "trainer").mkdir(parents=True)
    (root / "pkg" / "trainer" / "__init__.py").write_text("")
    (root / "pkg" / "trainer" / "task.py").write_text("print('trained')\n")
    (root / "m").mkdir()
    (root / "m" / "stack.yaml").write_text(
        "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: full}\nspec: {backend: local}\n"
        "---\napiVersion: mlapply/v1\nkind: Trainer\nmetadata: {name: t}\n"
        "spec: {source: ../pkg}\n---\napiVersion: mlapply/v1\nkind: TrainingJob\n"
        "metadata: {name: j}\nspec: {trainer: t}\n"
    )
    filler = small_disk / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
    code, output = _apply(root / "m")
    assert code == 1 and "no space left on the disk of" in output, output
    assert "free at least 100 MiB" in output and "internal error" not in output
    status = CliRunner().invoke(cli.cli, ["status", str(root / "m")])
    assert status.exit_code == 0, status.output
    filler.unlink()
    code, output = _apply(root / "m")
    assert code == 0, output
    (job,) = _store(root / "m").read("full").jobs
    assert job.state is JobState.SUCCEEDED


FILLING_TASK = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--output_dir"); parser.add_argument("--job-dir")
args, _ = parser.parse_known_args()
if os.path.exists({flag!r}):  # fill the disk, clean up after itself, fail as it would
    os.makedirs(args.output_dir, exist_ok=True)
    junk = os.path.join(args.output_dir, "checkpoint.tmp")
    try:
        with open(junk, "wb") as out:
            while True:
                out.write(b"0" * 65536)
    finally:
        os.remove(junk)
export = os.path.join(args.output_dir, "export", "1")
os.makedirs(export)
open(os.path.join(export, "saved_model.pb"), "wb").write(b"a model")
"""


def test_a_trainer_failing_on_a_full_disk_is_lost_to_the_machine_not_its_own_failure(
    small_disk: Path,
) -> None:
    root = small_disk / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "pkg" / "trainer").mkdir(parents=True)
    (root / "pkg" / "trainer" / "__init__.py").write_text("")
    flag = small_disk / "fill"
    flag.touch()
    (root / "pkg" / "trainer" / "task.py").write_text(FILLING_TASK.format(flag=str(flag)))
    (root / "m").mkdir()
    (root / "m" / "stack.yaml").write_text(
        "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: full}\n"
        "---\napiVersion: mlapply/v1\nkind: Trainer\nmetadata: {name: t}\n"
        "spec: {source: ../pkg}\n---\napiVersion: mlapply/v1\nkind: TrainingJob\n"
        "metadata: {name: j}\nspec: {trainer: t}\n"  # retry.maxAttempts is 1
    )
    code, output = _apply(root / "m")
    assert code == 1, output
    (job,) = _store(root / "m").read("full").jobs
    assert job.state is JobState.FAILED and job.lost, job
    assert "was full when the chief failed" in (job.error or ""), job.error
    assert "No space left on device" in (job.error or "")
    flag.unlink()
    code, output = _apply(root / "m")  # no --retrain: the trainer was not at fault
    assert code == 0, output
    assert "was lost to the machinery (the disk of" in output
    assert "resubmitting, attempt 2 of 3" in output
