"""Local jobs in real detached processes, recorded in the real store: success with the
trainer contract, failure with the log tail, cancel, timeout, a dead supervisor,
and a chief with two workers wired with TF_CONFIG."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.backends.base import JobState, LiveJob
from reconciler.backends.local import LocalDriver, LocalStore, runtimes
from reconciler.backends.packaging import build_sdist
from tests.conftest import dead_pid

# Jobs here wait with deadlines: the runtime is built first.
pytestmark = pytest.mark.usefixtures("default_runtime")
STACK = "runner-test"
TASK = """
import json, os, sys, time
out = os.environ.get("OUT_DIR", ".")
role = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("type", "chief")
with open(os.path.join(out, role + ".json"), "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "tf_config": os.environ.get("TF_CONFIG"),
                        "pid": os.getpid(),
                        "trial": os.environ.get("CLOUD_ML_TRIAL_ID"),
                        "metric_file": os.environ.get("CLOUD_ML_HP_METRIC_FILE")}) + "\\n")
mode = os.environ.get("MODE", "ok")
if mode == "spawn":  # a child in its own session, left behind when the trainer exits
    import subprocess
    child = subprocess.Popen(["sleep", "300"], start_new_session=True)
    with open(os.path.join(out, "child.pid"), "w") as f:
        f.write(str(child.pid))
if mode == "fail" and role == "chief":
    print("about to fail", flush=True)
    raise SystemExit("ValueError: the trainer failed on purpose")
if mode == "sleep" or role != "chief":
    time.sleep(float(os.environ.get("SLEEP", "60")))
print("trained", flush=True)
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    source = tmp_path_factory.mktemp("tiny")
    (source / "trainer").mkdir()
    (source / "trainer" / "__init__.py").write_text("")
    (source / "trainer" / "task.py").write_text(TASK)
    staged = build_sdist(source, "tiny", tmp_path_factory.mktemp("staging"))
    return staged.path, staged.digest


def runtime_request(version: str) -> dict[str, Any]:
    found = runtimes.resolve(version, runtimes.this_python())
    assert not isinstance(found, str), found
    return found._asdict()


def _submit(
    home: Path,
    package: tuple[Path, str],
    name: str,
    out: Path,
    *,
    args: list[str] | None = None,
    processes: dict[str, int] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> LocalDriver:
    backend = LocalDriver(home)
    labels = {"mlapply-stack": STACK, "mlapply-name": name, "mlapply-hash": "x"}
    request: dict[str, Any] = {
        "module": "trainer.task",
        "args": args or [],
        "package": str(package[0]),
        "digest": package[1],
        "processes": processes or {"chief": 1},
        "runtime": runtime_request("2.17"),
        "timeout_seconds": timeout,
        "env": {"OUT_DIR": str(out), **(env or {})},
    }
    backend.start_job(LiveJob(name, labels, JobState.QUEUED), request)
    return backend


def _wait(backend: LocalDriver, name: str, until: float = 90) -> LiveJob:
    deadline = time.time() + until
    while time.time() < deadline:
        job = next(j for j in backend.read_live(STACK).jobs if j.name == name)
        if job.state.finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"{name} did not finish: {job.state}")


def test_a_job_runs_with_the_trainer_contract(tmp_path: Path, package: tuple[Path, str]) -> None:
    tricky = ["--note=a b 'c' \"d\" $(touch /tmp/pwned) ; rm -rf /", "--steps=3"]
    backend = _submit(tmp_path / "home", package, "ok_1", tmp_path, args=tricky)
    job = _wait(backend, "ok_1")
    assert job.state is JobState.SUCCEEDED, job.error
    (seen,) = [json.loads(line) for line in (tmp_path / "chief.json").read_text().splitlines()]
    assert seen["argv"] == tricky
    assert seen["tf_config"] is None and seen["trial"] is None  # one process, not a trial
    assert seen["metric_file"].endswith("hypertune/0/output.metrics")
    runtime = LocalStore(tmp_path / "home").job_runtime("ok_1")
    assert runtime["exit_code"] == 0 and runtime["pid"]
    log = Path(runtime["job_dir"]) / "logs" / "chief-0.log"
    assert "trained" in log.read_text()


def test_a_failing_trainer_fails_with_its_log_tail(
    tmp_path: Path, package: tuple[Path, str]
) -> None:
    backend = _submit(tmp_path / "home", package, "bad_1", tmp_path, env={"MODE": "fail"})
    job = _wait(backend, "bad_1")
    assert job.state is JobState.FAILED
    assert "exit code 1" in (job.error or "") and "failed on purpose" in (job.error or "")


def test_what_a_trainer_leaves_running_ends_with_its_job(
    tmp_path: Path, package: tuple[Path, str]
) -> None:
    backend = _submit(tmp_path / "home", package, "spawn_1", tmp_path, env={"MODE": "spawn"})
    job = _wait(backend, "spawn_1")
    assert job.state is JobState.SUCCEEDED, job.error
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.time() + 15
    while _alive(child) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the trainer's orphaned child outlived its job"


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_cancel_ends_the_process_group(tmp_path: Path, package: tuple[Path, str]) -> None:
    backend = _submit(tmp_path / "home", package, "slow_1", tmp_path, env={"MODE": "sleep"})
    deadline = time.time() + 60
    while not (tmp_path / "chief.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    backend.cancel_job("slow_1")
    job = _wait(backend, "slow_1")
    assert job.state is JobState.CANCELLED


def test_timeout_fails_the_job(tmp_path: Path, package: tuple[Path, str]) -> None:
    backend = _submit(
        tmp_path / "home", package, "late_1", tmp_path, env={"MODE": "sleep"}, timeout=3
    )
    job = _wait(backend, "late_1")
    assert job.state is JobState.FAILED and "timed out after 3 s" in (job.error or "")


def test_a_dead_supervisor_reads_as_failed(tmp_path: Path, package: tuple[Path, str]) -> None:
    backend = _submit(tmp_path / "home", package, "orphan_1", tmp_path, env={"MODE": "sleep"})
    store = LocalStore(tmp_path / "home")
    pid = store.job_runtime("orphan_1")["pid"]
    store.close()
    deadline = time.time() + 60
    while not (tmp_path / "chief.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)  # the supervisor only: its trainer goes on, orphaned
    time.sleep(0.5)
    job = next(j for j in backend.read_live(STACK).jobs if j.name == "orphan_1")
    assert job.state is JobState.FAILED and "supervisor" in (job.error or "") and job.lost
    (recorded,) = LocalStore(tmp_path / "home").read_all_jobs()
    assert recorded.state is JobState.FAILED and recorded.lost  # never RUNNING in the store
    trainer = json.loads((tmp_path / "chief.json").read_text().splitlines()[0])["pid"]
    deadline = time.time() + 10
    while _alive(trainer) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(trainer), "the lost supervisor's trainer was left running"


def test_a_chief_and_two_workers_get_one_cluster(tmp_path: Path, package: tuple[Path, str]) -> None:
    backend = _submit(
        tmp_path / "home",
        package,
        "dist_1",
        tmp_path,
        processes={"chief": 1, "worker": 2},
        env={"SLEEP": "1"},
    )
    job = _wait(backend, "dist_1")
    assert job.state is JobState.SUCCEEDED, job.error
    chief = json.loads((tmp_path / "chief.json").read_text().splitlines()[0])["tf_config"]
    workers = [
        json.loads(line)["tf_config"]
        for line in (tmp_path / "worker.json").read_text().splitlines()
    ]
    cluster = json.loads(chief)["cluster"]
    assert len(cluster["chief"]) == 1 and len(cluster["worker"]) == 2
    assert sorted(json.loads(w)["task"]["index"] for w in workers) == [0, 1]
    assert all(json.loads(w)["cluster"] == cluster for w in workers)


KERAS_2_TASK = """
import os, sys
import pandas, scipy, sklearn, tensorboard, hypertune
import keras
import tensorflow as tf
print("tensorflow", tf.__version__, "keras", keras.__version__,
      "estimator", hasattr(tf, "estimator"), "legacy", os.environ.get("TF_USE_LEGACY_KERAS"),
      "trial", os.environ.get("CLOUD_ML_TRIAL_ID"), flush=True)
sys.exit(0 if keras.__version__.startswith("2.15") else 3)
"""


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None,
    reason="needs TensorFlow (make test installs it)",
)
def test_runtime_2_15_is_real_tensorflow_2_15_with_keras_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runtime's own TensorFlow, Keras and image packages, whatever the shell says."""
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")
    monkeypatch.setenv("CLOUD_ML_TRIAL_ID", "7")
    source = tmp_path / "src"
    (source / "trainer").mkdir(parents=True)
    (source / "trainer" / "__init__.py").write_text("")
    (source / "trainer" / "task.py").write_text(KERAS_2_TASK)
    staged = build_sdist(source, "keras2", tmp_path / "staging")
    backend = LocalDriver(tmp_path / "home")
    labels = {"mlapply-stack": STACK, "mlapply-name": "k2", "mlapply-hash": "x"}
    request = {
        "module": "trainer.task",
        "args": [],
        "package": str(staged.path),
        "digest": staged.digest,
        "processes": {"chief": 1},
        "runtime": runtime_request("2.15"),
        "timeout_seconds": 900,
    }
    backend.start_job(LiveJob("k2_1", labels, JobState.QUEUED), request)
    job = _wait(backend, "k2_1", until=900)
    log = (tmp_path / "home" / "jobs" / "k2_1" / "logs" / "chief-0.log").read_text()
    assert job.state is JobState.SUCCEEDED, (job.error, log[-2000:])
    assert "tensorflow 2.15." in log and "estimator True" in log
    assert "legacy None" in log and "trial None" in log


def test_runtime_versions_resolve_to_real_releases() -> None:
    python = runtimes.this_python()
    exact = runtimes.resolve("2.15", python)
    assert not isinstance(exact, str) and exact.keras == 2 and not exact.mapped
    # 2.1-2.11 run on the oldest release that keeps their APIs and works on Python 3.11:
    # 2.12's and 2.13's tf.estimator call inspect.getargspec, which 3.11 removed.
    old = runtimes.resolve("2.3", "3.11")
    assert not isinstance(old, str) and old.tensorflow == (2, 14) and old.keras == 2
    assert "runs on TensorFlow 2.14" in old.describe()
    passed_over = runtimes.resolve("2.12", "3.11")
    assert not isinstance(passed_over, str) and passed_over.tensorflow == (2, 14)
    assert "TensorFlow 2.12: its tf.estimator calls inspect.getargspec" in passed_over.describe()
    on_3_10 = runtimes.resolve("2.12", "3.10")
    assert isinstance(on_3_10, str) or on_3_10.tensorflow == (2, 12)  # when 3.10 is here
    newer = runtimes.resolve("2.17", python)
    assert not isinstance(newer, str) and newer.keras == 3
    assert "tensorflow-cpu==2.17.*" in newer.requirements()
    assert "TensorFlow 1" in str(runtimes.resolve("1.15", python))
    assert "newer than" in str(runtimes.resolve("2.99", python))
    assert "not on this machine" in str(runtimes.resolve("2.17", "3.1"))


def test_a_job_recorded_before_its_supervisor_started_is_starting_not_lost(
    tmp_path: Path,
) -> None:
    """apply records a job, then starts its supervisor: a read in between (another
    job's wait, a parallel plan) sees no pid yet, and must not record it lost."""
    home = tmp_path / "home"
    labels = {"mlapply-stack": STACK, "mlapply-name": "n", "mlapply-hash": "x"}
    store = LocalStore(home, create=True)
    now = time.time()
    store.put_job(LiveJob("new_1", labels, JobState.QUEUED, create_time=now), job_dir="/x/1")
    store.put_job(LiveJob("old_1", labels, JobState.QUEUED, create_time=now - 3600), job_dir="/x/2")
    store.close()
    jobs = {j.name: j for j in LocalDriver(home).read_live(STACK).jobs}
    assert jobs["new_1"].state is JobState.QUEUED and not jobs["new_1"].lost
    assert jobs["old_1"].state is JobState.FAILED and jobs["old_1"].lost  # an apply died there


def test_a_job_whose_starting_apply_died_before_its_supervisor_is_lost_at_once(
    tmp_path: Path,
) -> None:
    """Killed between recording the job and starting its supervisor, apply leaves a job
    with no pid: the next apply must resubmit it, not wait a minute for a supervisor
    that will never start (tests/test_chaos.py met it, killing apply at 0.25 s)."""
    home = tmp_path / "home"
    labels = {"mlapply-stack": STACK, "mlapply-name": "n", "mlapply-hash": "x"}
    now = time.time()
    for name, starter in (("orphan_1", dead_pid()), ("starting_1", os.getpid())):
        folder = tmp_path / name
        folder.mkdir()
        request = {"job": name, "submitted": now, "starter": starter}
        (folder / "request.json").write_text(json.dumps(request))
        store = LocalStore(home, create=True)
        store.put_job(LiveJob(name, labels, JobState.QUEUED, create_time=now), job_dir=str(folder))
        store.close()
    jobs = {j.name: j for j in LocalDriver(home).read_live(STACK).jobs}
    assert jobs["orphan_1"].lost and jobs["orphan_1"].state is JobState.FAILED
    assert "ended before its supervisor started" in str(jobs["orphan_1"].error)
    assert jobs["starting_1"].state is JobState.QUEUED and not jobs["starting_1"].lost
