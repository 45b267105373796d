"""The chaos harness: apply a stack, kill apply, the supervisor or the trainer at a
random moment, apply once more, and check what a crash must never leave behind.

`tests/test_chaos.py` runs a few trials in CI; `bench/chaos.py` runs 50 or more
and prints figures. Every trial gives the job a new seed, so an apply trains,
deploys a new version, makes it the default and deletes the old one: a kill can
land in any of those steps. The trainer is written as people write them: argparse
with the flags it expects, a data-loader process it never waits for, an export
under its output dir.

After the recovering apply, a trial checks: that apply succeeded with no human
step (no unlock, no --retrain); `plan --detailed-exitcode` finds nothing to do;
no lock is left; no job is active and no identity succeeded twice; the model has
one version and it is the default; no process of the stack is left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from reconciler.backends.local import LocalStore

REPO = Path(__file__).resolve().parent.parent
TARGETS = ("apply", "supervisor", "trainer", "everything")
APPLY_TIMEOUT = 300.0
RUNNER_MODULE = "reconciler.backends.local.runner"

TASK = """
import argparse, os, subprocess, sys, time

parser = argparse.ArgumentParser()
parser.add_argument("--train_data_paths", required=True)
parser.add_argument("--eval_data_paths", required=True)
parser.add_argument("--output_dir", required=True)
parser.add_argument("--job-dir", dest="job_dir", required=True)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--seconds", type=float, default=2.0)
parser.add_argument("--width", type=int, default=1)
args = parser.parse_args()

# A data loader, as a multiprocessing pool or a tf.data service would start one.
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", args.job_dir])
time.sleep(args.seconds)
export = os.path.join(args.output_dir, "export", str(int(time.time() * 1000)))
os.makedirs(export)
with open(os.path.join(export, "saved_model.pb"), "wb") as model:
    model.write(b"seed %d" % args.seed)
import hypertune  # a tuning study ranks its trials by this
hypertune.HyperTune().report_hyperparameter_tuning_metric("loss", float(args.width), 1)
"""

STUDY = """
  hyperparameterTuning:
    metric: loss
    goal: MINIMIZE
    maxTrials: 3
    maxParallelTrials: 2
    params: [{name: width, type: DISCRETE, values: [1, 2, 3, 4]}]
"""

MANIFESTS = """
apiVersion: mlapply/v1
kind: Stack
metadata: {{name: chaos}}
---
apiVersion: mlapply/v1
kind: Dataset
metadata: {{name: rides}}
spec: {{train: ../data/train.csv, eval: ../data/eval.csv}}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {{name: fares}}
spec: {{source: ../trainer}}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {{name: fares-job}}
spec:
  trainer: fares
  dataset: rides
  hyperparameters: {{seed: {seed}, seconds: {seconds}}}{study}
---
apiVersion: mlapply/v1
kind: Model
metadata: {{name: fares}}
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata: {{name: fares-latest}}
spec: {{model: fares, source: {{job: fares-job}}, default: true}}
"""


@dataclass
class Trial:
    number: int
    target: str
    delay: float
    killed: list[str] = field(default_factory=list)  # what was there to kill, and was
    first_exit: int | None = None  # the disturbed apply's exit code (None: it was killed)
    recovery_seconds: float = 0.0
    recovery_output: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


class ChaosStack:
    """A throwaway repository with the stack, and the trials run against it."""

    def __init__(self, root: Path, seconds: float = 2.0, *, study: bool = False) -> None:
        self.root = root
        self.seconds = seconds
        self.study = study
        self.manifests = root / "manifests"
        self.home = self.manifests / ".mlapply"
        (root / ".git").mkdir(parents=True, exist_ok=True)
        package = root / "trainer" / "trainer"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
        (package / "task.py").write_text(TASK.lstrip())
        (root / "data").mkdir(exist_ok=True)
        (root / "data" / "train.csv").write_text("km,fare\n1,3.5\n2,5.0\n")
        (root / "data" / "eval.csv").write_text("km,fare\n3,6.5\n")
        self.manifests.mkdir(exist_ok=True)
        self.set_seed(0)

    def set_seed(self, seed: int) -> None:
        study = STUDY if self.study else ""
        text = MANIFESTS.format(seed=seed, seconds=self.seconds, study=study.rstrip())
        (self.manifests / "stack.yaml").write_text(textwrap.dedent(text).lstrip())

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "reconciler", *args, str(self.manifests)]

    def run(self, verb: str, option: str) -> tuple[int, str, float]:
        """``mlapply VERB MANIFESTS OPTION`` to its end: (exit code, output, seconds)."""
        started = time.monotonic()
        done = subprocess.run(
            [*self.command(verb), option],
            capture_output=True,
            text=True,
            timeout=APPLY_TIMEOUT,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr, time.monotonic() - started

    def apply(self) -> tuple[int, str, float]:
        """An undisturbed apply."""
        return self.run("apply", "--auto-approve")

    # Trials ---------------------------------------------------------------------------

    def trial(self, number: int, target: str, delay: float, *, aim: bool = False) -> Trial:
        """Apply with seed ``number``, kill ``target`` after ``delay`` seconds, apply again.

        ``aim``: count the delay from when the target's process first appears, so
        the kill lands (else it may come after the apply ended, or before a trainer)."""
        trial = Trial(number, target, delay)
        self.set_seed(number)
        first = subprocess.Popen(
            [*self.command("apply"), "--auto-approve"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if aim:
            self._wait_for(target, first)
        time.sleep(delay)
        trial.killed = self._kill(target, first)
        try:
            first.wait(timeout=APPLY_TIMEOUT)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait()
            trial.problems.append(f"the disturbed apply did not end within {APPLY_TIMEOUT:g} s")
        trial.first_exit = None if "apply" in trial.killed else first.returncode
        code, output, seconds = self.apply()
        trial.recovery_seconds, trial.recovery_output = seconds, output
        if code != 0:
            trial.problems.append(f"the next apply exited {code}:\n{_last_lines(output)}")
        if "mlapply unlock" in output or "--retrain" in output:
            trial.problems.append(f"the next apply asked for a human step:\n{_last_lines(output)}")
        trial.problems.extend(self.check(number))
        return trial

    def _wait_for(self, target: str, apply: subprocess.Popen[bytes]) -> None:
        role = "trainer" if target == "everything" else target
        deadline = time.monotonic() + APPLY_TIMEOUT
        while role != "apply" and apply.poll() is None and time.monotonic() < deadline:
            if any(_role(p) == role for p in self.processes()):
                return
            time.sleep(0.05)

    def _kill(self, target: str, apply: subprocess.Popen[bytes]) -> list[str]:
        wanted = ("apply", "supervisor", "trainer") if target == "everything" else (target,)
        killed = []
        for what in wanted:
            if what == "apply":
                pids = [apply.pid] if apply.poll() is None else []
            else:
                pids = [p.pid for p in self.processes() if _role(p) == what]
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                killed.append(what)
        return killed

    def processes(self) -> list[psutil.Process]:
        """This stack's processes: supervisors, trainers and what they started."""
        home, found = str(self.home), []
        for process in psutil.process_iter(["cmdline"]):
            cmdline = process.info["cmdline"] or []
            if process.pid != os.getpid() and any(home in part for part in cmdline):
                found.append(process)
        return found

    # Checks ---------------------------------------------------------------------------

    def check(self, seed: int) -> list[str]:
        problems = []
        code, output, _ = self.run("plan", "--detailed-exitcode")
        if code != 0:
            problems.append(f"plan after it exited {code}:\n{_last_lines(output)}")
        store = LocalStore(self.home)
        try:
            lock = store.lock_info("chaos")
            snapshot = store.read("chaos")
        finally:
            store.close()
        if lock is not None:
            problems.append(f"a lock is left: pid {lock.pid} ({lock.holder})")
        active = [j.name for j in snapshot.jobs if not j.state.finished]
        if active:
            problems.append(f"jobs still active: {active}")
        succeeded = Counter(j.hash for j in snapshot.jobs if j.state.value == "SUCCEEDED")
        twice = [h for h, n in succeeded.items() if n > 1]
        if twice:
            problems.append(f"an identity trained twice: {twice}")
        for job in snapshot.jobs:
            counted = [t.id for t in job.trials if not t.lost]
            if self.study and job.state.value == "SUCCEEDED" and len(counted) != 3:
                problems.append(f"study {job.name} ran trials {counted}, not 3")
        versions = [v.name for v in snapshot.versions]
        defaults = [m.default_version for m in snapshot.models]
        if len(versions) != 1 or defaults != versions:
            problems.append(f"versions {versions}, defaults {defaults}: want one, the default")
        elif not _serves_seed(snapshot.versions[0].deployment_uri, seed):
            problems.append(f"the default version is not seed {seed}'s export")
        left = self._left_running()
        if left:
            problems.append(f"processes left: {left}")
        return problems

    def _left_running(self, patience: float = 10.0) -> list[str]:
        deadline = time.monotonic() + patience  # a supervisor that recorded its end exits
        while True:
            left = []
            for process in self.processes():
                try:
                    if process.status() != psutil.STATUS_ZOMBIE:
                        left.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
                except psutil.Error:
                    continue
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.2)

    def cleanup(self) -> None:
        for process in self.processes():
            try:
                process.kill()
            except psutil.Error:
                continue


def _role(process: psutil.Process) -> str:
    try:
        cmdline = " ".join(process.cmdline())
    except psutil.Error:
        return ""
    if RUNNER_MODULE in cmdline:
        return "supervisor"
    if "trainer.task" in cmdline:
        return "trainer"
    return "other"


def _serves_seed(uri: str | None, seed: int) -> bool:
    if not uri:
        return False
    try:
        return (Path(uri) / "saved_model.pb").read_bytes() == b"seed %d" % seed
    except OSError:
        return False


def _last_lines(text: str, count: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-count:])
