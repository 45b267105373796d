"""Watching jobs: CPU and memory series per task (the sampler, the store's bound), live
figures in `status` and `status --watch`, and apply's progress lines; real jobs in
real processes where a job is needed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.apply.executor import Event, EventKind
from reconciler.backends import telemetry
from reconciler.backends.base import JobState, LiveJob
from reconciler.backends.local import LocalStore
from reconciler.backends.local.store import TrialRow
from reconciler.cli.progress import EventPrinter
from reconciler.kinds.base import JobProgress

# A trainer that keeps a core busy and holds memory, reporting its loss as it goes.
BURN = """
import argparse, time
import hypertune

parser = argparse.ArgumentParser()
for flag in ("--train_data_paths", "--eval_data_paths", "--output_dir", "--job-dir"):
    parser.add_argument(flag)
parser.add_argument("--seconds", type=float, default=3)
args = parser.parse_args()
reporter = hypertune.HyperTune()
held = bytearray(64 * 2**20)  # touched below, so resident
for at in range(0, len(held), 4096):
    held[at] = 1
end, step = time.time() + args.seconds, 0
while time.time() < end:
    sum(range(100000))
    step += 1
    if step % 50 == 0:
        reporter.report_hyperparameter_tuning_metric("loss", 1.0 / step, step)
        print("step", step, flush=True)
"""

STACK = """
apiVersion: mlapply/v1
kind: Stack
metadata: {{name: watched}}
---
apiVersion: mlapply/v1
kind: Dataset
metadata: {{name: d}}
spec: {{train: ../data/t.csv, eval: ../data/t.csv}}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {{name: t}}
spec: {{source: ../trainer}}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {{name: burn}}
spec: {{trainer: t, dataset: d, hyperparameters: {{seconds: {seconds}}}}}
"""


def burn_project(root: Path, seconds: float) -> Path:
    """A repository with the burning trainer and a stack of one job; its manifests."""
    (root / ".git").mkdir(parents=True, exist_ok=True)
    package = root / "trainer" / "trainer"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(BURN)
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "t.csv").write_text("a\n1\n")
    (root / "m").mkdir(exist_ok=True)
    (root / "m" / "stack.yaml").write_text(textwrap.dedent(STACK.format(seconds=seconds)))
    return root / "m"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.cli, list(args))
    return result.exit_code, result.output


# The sampler and the bound -----------------------------------------------------------


def test_a_series_is_thinned_to_half_with_mean_cpu_and_peak_memory() -> None:
    points = [(float(t), float(t % 2), 100 * t) for t in range(1, 6)]
    assert telemetry.thinned(points) == [(2.0, 0.5, 200), (4.0, 0.5, 400), (5.0, 1.0, 500)]
    sampler = telemetry.Sampler(started=0.0)
    sampler.counts = {"chief-0": telemetry.MAX_SAMPLES, "worker-0": 3}
    assert sampler.over_bound() == ["chief-0"]
    assert sampler.interval == 2 * telemetry.FIRST_INTERVAL_SECONDS
    assert sampler.counts["chief-0"] == telemetry.MAX_SAMPLES // 2


def test_the_store_keeps_a_bounded_series_per_task(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, create=True)
    store.add_samples("j", [("chief-0", float(t), 1.0, t) for t in range(10)])
    store.add_samples("j", [("worker-0", 1.0, 0.5, 7)])
    store.thin_samples("j", "chief-0")
    series = store.samples_of("j")
    assert len(series["chief-0"]) == 5 and series["worker-0"] == [(1.0, 0.5, 7)]
    assert store.samples_of("j", since=5.0)["chief-0"] == [(7.0, 1.0, 7), (9.0, 1.0, 9)]
    store.put_trial(TrialRow("j1-trial-1", "j", "s", "1", {}))  # a trial it adopted
    store.add_samples("j1-trial-1", [("chief-0", 1.0, 1.0, 1)])
    store.add_samples("j_x", [("chief-0", 1.0, 1.0, 1)])  # another job's
    store.delete_job("j")
    assert store.samples_of("j") == {} and store.samples_of("j1-trial-1") == {}
    assert store.samples_of("j_x") != {}


def test_a_tasks_figures_count_the_processes_it_started() -> None:
    """A data loader's memory is its task's, as on the task's VM."""
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'b = bytearray(80 * 2**20)\\nfor i in range(0, len(b), 4096): b[i] = 1\\n"
        "import time; time.sleep(30)'])\n"
        "time.sleep(30)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            used = telemetry.tree_usage(parent.pid)
            if used and used[1] > 80 * 2**20:
                break
            time.sleep(0.2)
        assert used is not None and used[1] > 80 * 2**20, used
    finally:
        subprocess.run(["pkill", "-P", str(parent.pid)], check=False)
        parent.kill()
        parent.wait()
    assert telemetry.tree_usage(parent.pid) is None


# Apply's progress ----------------------------------------------------------------------


def _running(
    seconds: float, state: JobState = JobState.RUNNING, usage: dict[str, Any] | None = None
) -> Event:
    job = LiveJob("a", {}, state)
    progress = JobProgress(job, usage or {}, seconds, "")
    return Event(EventKind.PROGRESS, "job.a", progress=progress)


def test_progress_is_redrawn_in_place_on_a_terminal_and_plain_elsewhere() -> None:
    """Apply's steps report progress as events; the command line renders them."""
    live = io.StringIO()
    printer = EventPrinter(live, live=True, colour=False)
    printer(_running(2))
    printer(_running(4))
    printer(Event(EventKind.FINISHED, "job.a", "a succeeded"))
    text = live.getvalue()
    assert text.count("\x1b[1F\x1b[J") == 2  # the block redrawn, then cleared for the line
    assert text.endswith("job.a: finished: a succeeded\n")

    plain = io.StringIO()
    clock = iter([0.0, 10.0, 31.0])
    printer = EventPrinter(plain, live=False, colour=False, clock=lambda: next(clock))
    for seconds in (2, 12, 33):
        printer(_running(seconds))
    lines = plain.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "progress: a running for 2 s",
        "progress: a running for 33 s",
    ]
    assert "\x1b" not in plain.getvalue()

    # What the job can say changes: a line at once (a short job's log shows its figures).
    news = io.StringIO()
    clock = iter([0.0, 1.0, 2.0, 3.0, 4.0])
    printer = EventPrinter(news, live=False, colour=False, clock=lambda: next(clock))
    printer(_running(1, JobState.PREPARING))
    printer(_running(2))
    printer(_running(3, usage={"cpu": 1.0}))
    printer(_running(4, usage={"cpu": 1.0, "reported": {"step": 7}}))
    printer(_running(5, usage={"cpu": 1.0, "reported": {"step": 9}}))
    said = [line.split(": progress: ", 1)[1] for line in news.getvalue().splitlines()]
    assert said == [
        "a preparing for 1 s",
        "a running for 2 s",
        "a running for 3 s · 1.0 CPU, - MiB",
        "a running for 4 s · 1.0 CPU, - MiB · step 7",
    ]


# Real jobs ---------------------------------------------------------------------------


@pytest.mark.usefixtures("default_runtime")
def test_a_running_jobs_figures_reach_status_watch_and_apply(tmp_path: Path) -> None:
    manifests = burn_project(tmp_path, seconds=5)
    code, output = _run("apply", str(manifests), "--auto-approve")
    assert code == 0, output
    # Not a terminal: plain progress lines, no control characters.
    assert "\x1b" not in output
    progress = [line for line in output.splitlines() if ": progress: " in line]
    assert progress and " CPU, " in progress[-1] and "step " in progress[-1], output

    (job,) = LocalStore(manifests / ".mlapply").read("watched").jobs
    # A core busy all along: the whole run counts, not only up to the last sample.
    assert LocalStore(manifests / ".mlapply").job_runtime(job.name)["mean_cpu"] > 0.6
    series = LocalStore(manifests / ".mlapply").samples_of(job.name)
    points = series["chief-0"]
    assert len(points) >= 2, series
    assert max(cpu for _, cpu, _ in points) > 0.5  # a core kept busy
    assert max(rss for _, _, rss in points) > 64 * 2**20  # the memory it holds

    # A second job, watched while it runs.
    (manifests / "stack.yaml").write_text(
        (manifests / "stack.yaml").read_text().replace("seconds: 5", "seconds: 6")
    )
    code, output = _run("apply", str(manifests), "--auto-approve", "--no-wait")
    assert code == 0, output
    code, output = _run("status", str(manifests), "--watch", "--interval", "0.5")
    assert code == 0, output
    assert "\x1b" not in output
    lines = [line for line in output.splitlines() if " RUNNING " in line and " now" in line]
    assert any(" CPU " in line and "step " in line for line in lines), output
    assert output.rstrip().endswith("Models: none")
    assert output.count("SUCCEEDED") >= 2  # the first job, and the second at the end


# TensorBoard ---------------------------------------------------------------------------

SUMMARIES = """
import argparse, os
import hypertune
import tensorflow as tf

parser = argparse.ArgumentParser()
for flag in ("--train_data_paths", "--eval_data_paths", "--output_dir", "--job-dir"):
    parser.add_argument(flag)
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--seconds", type=float, default=0)
args = parser.parse_args()
writer = tf.summary.create_file_writer(os.path.join(args.output_dir, "tensorboard"))
with writer.as_default():
    for step in (1, 2):
        tf.summary.scalar("loss", args.lr / step, step=step)
writer.close()
hypertune.HyperTune().report_hyperparameter_tuning_metric("loss", args.lr / 2, 2)
"""

STUDY = """
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {name: tune}
spec:
  trainer: t
  dataset: d
  hyperparameterTuning:
    metric: loss
    goal: MINIMIZE
    maxTrials: 2
    maxParallelTrials: 2
    algorithm: GRID_SEARCH
    params: [{name: lr, type: DISCRETE, values: [0.1, 0.2]}]
"""


LATER = """
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {name: later}
spec: {trainer: t, dataset: d, hyperparameters: {lr: 0.3}}
"""


@pytest.mark.usefixtures("default_runtime")
def test_tensorboard_serves_each_job_and_trial_as_a_named_run_and_follows_new_jobs(
    tmp_path: Path,
) -> None:
    manifests = burn_project(tmp_path, seconds=1)
    (tmp_path / "trainer" / "trainer" / "task.py").write_text(SUMMARIES)
    stack = manifests / "stack.yaml"
    stack.write_text(stack.read_text() + textwrap.dedent(STUDY))
    code, output = _run("apply", str(manifests), "--auto-approve")
    assert code == 0, output
    jobs = {j.manifest_name: j for j in LocalStore(manifests / ".mlapply").read("watched").jobs}

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "tensorboard", str(manifests), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "MLAPPLY_TENSORBOARD_FOLLOW_SECONDS": "1"},
    )
    try:
        runs = wait_for_json(f"http://127.0.0.1:{port}/data/runs", server, 120)
        # A job applied while TensorBoard runs joins it (it restarts on the same port).
        stack.write_text(stack.read_text() + textwrap.dedent(LATER))
        code, output = _run("apply", str(manifests), "--auto-approve")
        assert code == 0, output
        later = next(
            j.name
            for j in LocalStore(manifests / ".mlapply").read("watched").jobs
            if j.manifest_name == "later"
        )
        joined = wait_for_json(
            f"http://127.0.0.1:{port}/data/runs",
            server,
            120,
            until=lambda found: f"later/{later}/output/tensorboard" in found,
        )
    finally:
        server.terminate()
        said, _ = server.communicate(timeout=30)
    burn, tune = jobs["burn"].name, jobs["tune"].name
    assert isinstance(runs, list)
    assert sorted(runs) == [
        f"burn/{burn}/output/tensorboard",
        f"tune/{tune}/trial-1/output/tensorboard",
        f"tune/{tune}/trial-2/output/tensorboard",
    ], said
    assert isinstance(joined, list) and len(joined) == 4, said
    assert "TensorBoard on http://127.0.0.1:" in said and "over 3 run(s)" in said
    assert f"TensorBoard restarted with later/{later}" in said
    # TensorBoard's own output (its banner, absl lines) is in the stack home, not here.
    assert "absl" not in said and "I0000" not in said and "Serving TensorBoard" not in said, said
    assert (manifests / ".mlapply" / "tensorflow-logs" / "tensorboard.log").stat().st_size > 0


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_json(
    url: str,
    server: subprocess.Popen[str],
    timeout: float,
    until: Callable[[Any], bool] = lambda _: True,
) -> object:
    """GET ``url`` until it answers what ``until`` accepts (the server may take a while
    to start, or restart)."""
    import json
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server ended"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                found = json.load(answer)
            if until(found):
                return found
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer as wanted in {timeout} s")


def test_status_writes_figures_as_people_write_them() -> None:
    from reconciler.render.status import usage_text

    job = {
        "state": "RUNNING",
        "reported": {"step": 60000.0, "train_steps": 60000.0, "rmse": 0.012345},
        "cpu_now": 1.0,
        "memory_bytes_now": 2**20,
    }
    assert usage_text(job).endswith("step 60000 train_steps 60000, rmse 0.01235")


def test_logs_are_printed_whole_lines_at_a_time_across_chunks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A chunk may end inside a line or a character; native lines are left out either
    way, and the count is said on stderr."""
    from reconciler.cli.watching import _LogFilter

    text = "I0000 00:00:1.0  12 port.cc:153] oneDNN\nstep 1 loss 0.5 — ok\ntail"
    data = text.encode()
    shown = _LogFilter(everything=False)
    cut = data.index("—".encode()) + 1  # inside the dash's three bytes
    for chunk in (data[:10], data[10:cut], data[cut:]):
        shown.echo(chunk)
    shown.close()
    said = capsys.readouterr()
    assert said.out == "step 1 loss 0.5 — ok\ntail"
    assert "1 TensorFlow C++ log line(s) left out" in said.err
