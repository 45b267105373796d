"""The detached supervisor of one local job.

    python -m reconciler.backends.local.runner JOB_DIR HOME

It outlives the command that started it. It reads ``JOB_DIR/request.json``,
makes the job's environments (PREPARING: the runtime's, built once per
machine, then the trainer's, its output in ``logs/prepare.log``), starts one
process per task of the cluster with the TF_CONFIG the cloud would set
(RUNNING), samples their CPU and memory, and records the end in the stack's
SQLite store (a trial of a study: in its trials table) with the figures the
trainer reported (``reports``): SUCCEEDED when the chief exits 0, FAILED with the chief's last
meaningful log lines otherwise (``logtext``) or on timeout, CANCELLED on
SIGTERM. Every task process, and every process they started, is ended with
it, on a normal end too: the supervisor is the subreaper of its tasks, so a
trainer's orphaned children come back to it. Arguments are lists; no shell
ever sees them.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from reconciler import diskspace
from reconciler.backends import logtext, telemetry
from reconciler.backends.local import reports
from reconciler.backends.local.runtime import ensure_env, ensure_runtime, env_python
from reconciler.backends.local.runtimes import Runtime
from reconciler.backends.local.store import LocalStore
from reconciler.diagnostics import MlapplyError
from reconciler.diskspace import DiskFull

POLL_SECONDS = 0.05
LOG_TAIL_LINES = 20
PREPARE_LOG = "prepare.log"
CRASH_LOG = "supervisor-crash.log"
# The shell's Keras choice and trial are not the job's: the runtime and the request decide.
_NOT_INHERITED = frozenset({"TF_USE_LEGACY_KERAS", "CLOUD_ML_TRIAL_ID", "TF_CONFIG"})


PR_SET_CHILD_SUBREAPER = 36  # prctl(2): orphaned descendants reparent to this process
STOP_GRACE_SECONDS = 10.0
# A chief ended by one of these was stopped from outside (the kernel's OOM killer
# sends SIGKILL, a shutdown or preemption SIGTERM, an operator either): the job is
# lost to the machinery and resubmitted within retry.maxResubmits. A signal of
# the trainer's own making (SIGSEGV, SIGABRT from a failed check) is its failure.
ENDED_FROM_OUTSIDE = frozenset({signal.SIGKILL, signal.SIGTERM, signal.SIGHUP, signal.SIGINT})
OUTSIDE_CAUSES = "out of memory, a shutdown, or another process"
# What a trainer's log says when a write failed for space (strerror of ENOSPC and
# EDQUOT, SQLite's and TensorFlow's own words): a failure of the machine, not its code.
DISK_FULL_WORDS = ("No space left on device", "Disk quota exceeded", "disk is full")
DISK_FULL_RETRY_SECONDS = 5.0
DISK_FULL_PATIENCE_SECONDS = 24 * 3600.0


def become_subreaper() -> None:
    """Have the trainers' orphaned children reparent to this supervisor (Linux), so
    none outlives its job; elsewhere the tasks' own process groups are all it ends."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def end_descendants(grace: float = STOP_GRACE_SECONDS) -> None:
    """Terminate every process below this one, then kill what is left after ``grace``."""
    found = psutil.Process().children(recursive=True)
    for process in found:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(found, timeout=grace)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=grace)


def request_runtime(request: dict[str, Any]) -> Runtime:
    """The runtime the driver resolved for this job (request.json's ``runtime``)."""
    found = request["runtime"]
    return Runtime(found["asked"], tuple(found["tensorflow"]), found["python"], found["executable"])


@dataclass
class Task:
    role: str
    index: int
    process: subprocess.Popen[bytes]
    log: Path


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def cluster_spec(processes: dict[str, int]) -> dict[str, list[str]]:
    """The TF_CONFIG cluster: chief, workers and parameter servers on free local ports."""
    roles = [(role, processes.get(role, 0)) for role in ("chief", "worker", "ps")]
    ports = iter(free_ports(sum(n for _, n in roles)))
    return {role: [f"localhost:{next(ports)}" for _ in range(n)] for role, n in roles if n}


def task_env(
    request: dict[str, Any], cluster: dict[str, list[str]], role: str, index: int, job_dir: Path
) -> dict[str, str]:
    task: dict[str, Any] = {"type": role, "index": index}
    trial = request.get("trial")
    if trial:
        task["trial"] = str(trial)
    inherited = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env = {**inherited, **request.get("env", {})}
    # Like Vertex AI, a single-process job gets no TF_CONFIG (gcp-api.md, corrections
    # checked 2026-12-01); tf.estimator refuses a chief without a cluster. A trial
    # still needs it for its trial id, so it gets a cluster of its one chief.
    if cluster or trial:
        env["TF_CONFIG"] = json.dumps(
            {
                "cluster": cluster or {"chief": [f"localhost:{free_ports(1)[0]}"]},
                "task": task,
                "environment": "cloud",
                "job": {"job_name": request["module"], "args": request["args"]},
            }
        )
    if trial:
        env["CLOUD_ML_TRIAL_ID"] = str(trial)
    # cloudml-hypertune writes here (its default is /tmp); kept inside the job's folder.
    env["CLOUD_ML_HP_METRIC_FILE"] = str(reports.hypertune_file(job_dir, trial, f"{role}-{index}"))
    return env


class Supervisor:
    def __init__(self, job_dir: Path, home: Path) -> None:
        self.job_dir = job_dir
        self.request: dict[str, Any] = json.loads((job_dir / "request.json").read_text())
        self.name: str = self.request["job"]
        # A trial of a study records itself in the trials table, by its own name.
        self.trial: str | None = self.request.get("trial_name")
        self.store = LocalStore(home)
        self.home = home
        self.tasks: list[Task] = []
        self.cancelled = False
        self.sampler = telemetry.Sampler()
        # Samples are kept under the name the job (or the trial) is recorded by.
        self.series_name = self.trial or self.name

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_term)
        become_subreaper()
        self._record(state="PREPARING", pid=os.getpid())
        logs = self.job_dir / "logs"
        logs.mkdir(exist_ok=True)
        try:
            runtime = request_runtime(self.request)
            with (logs / PREPARE_LOG).open("a", encoding="utf-8") as log:
                runtime_env = ensure_runtime(runtime, log)
                env = ensure_env(
                    self.home,
                    Path(self.request["package"]),
                    self.request["digest"],
                    runtime,
                    runtime_env,
                    log,
                )
        except Exception as exc:  # every failure becomes the job's error
            text = exc.with_hint() if isinstance(exc, MlapplyError) else str(exc)
            return self._finish("FAILED", f"preparing the environment failed: {text}", 1)
        if self.cancelled:
            return self._finish("CANCELLED", None, None)
        self._record(state="RUNNING", start_time=time.time())
        self.sampler = telemetry.Sampler()
        self._start(env_python(env))
        return self._watch()

    def _start(self, python: Path) -> None:
        processes: dict[str, int] = self.request.get("processes", {"chief": 1})
        cluster = cluster_spec(processes) if sum(processes.values()) > 1 else {}
        work = self.job_dir / "work"
        work.mkdir(exist_ok=True)
        logs = self.job_dir / "logs"
        logs.mkdir(exist_ok=True)
        # The chief starts last, as gcloud's local train did.
        order = [(r, i) for r in ("ps", "worker", "evaluator") for i in range(processes.get(r, 0))]
        order.append(("chief", 0))
        for role, index in order:
            log = logs / f"{role}-{index}.log"
            with log.open("ab") as out:
                process = subprocess.Popen(
                    [str(python), "-m", self.request["module"], *self.request["args"]],
                    cwd=work,
                    env=task_env(self.request, cluster, role, index, self.job_dir),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            self.tasks.append(Task(role, index, process, log))

    def _watch(self) -> int:
        chief = self.tasks[-1]
        deadline = time.time() + float(self.request.get("timeout_seconds", 7 * 24 * 3600))
        next_sample = 0.0
        while True:
            code = chief.process.poll()  # before the cancel check: a cancel ends the chief too
            if self.cancelled:
                self._stop_all()
                return self._finish("CANCELLED", None, None)
            if code is not None:
                self._stop_all()
                if code == 0:
                    return self._finish("SUCCEEDED", None, 0)
                error, full = self._failure(chief, code), self._disk_was_full(chief)
                if full:
                    error = f"{full}\n{error}"
                lost = bool(full) or -code in ENDED_FROM_OUTSIDE
                return self._finish("FAILED", error, code, lost=lost)
            if time.time() > deadline:
                self._stop_all()
                limit = self.request.get("timeout_seconds")
                return self._finish("FAILED", f"timed out after {limit:g} s", None)
            if time.time() >= next_sample:
                self._sample()
                next_sample = time.time() + self.sampler.interval
            time.sleep(POLL_SECONDS)

    def _failure(self, task: Task, code: int) -> str:
        text = logtext.read_tail(task.log)
        if -code in ENDED_FROM_OUTSIDE:
            name = signal.Signals(-code).name
            how = f"the {task.role} was ended by {name} from outside mlapply: {OUTSIDE_CAUSES}"
        elif code < 0:
            how = f"the {task.role} ended with signal {-code} ({signal.Signals(-code).name})"
        else:
            how = f"the {task.role} ended with exit code {code}"
        found = f"{how}:\n" + logtext.tail(text, LOG_TAIL_LINES)
        hint = logtext.runtime_hint(text, request_runtime(self.request).keras)
        return found + (f"\nhint: {hint}" if hint else "")

    def _disk_was_full(self, task: Task) -> str | None:
        """Why a failure is the machine's when the trainer's disk was full: its log
        says so, or its job dir's disk is (nearly) full now."""
        folder = str(self.request.get("job_dir", self.job_dir))
        free = diskspace.free_bytes(folder)
        text = logtext.read_tail(task.log)
        said = any(words in text for words in DISK_FULL_WORDS)
        if not said and (free is None or free >= diskspace.NEEDED_BYTES):
            return None
        shown = f"{free / 2**20:.1f} MiB free now" if free is not None else "free space unknown"
        return (
            f"the disk of {folder} was full when the {task.role} failed ({shown}); "
            "free space there and apply again"
        )

    def _sample(self) -> None:
        """CPU and memory of every task's process tree, recorded as a point of its series
        (best effort: a full disk loses a point, never the job)."""
        running = [(f"{t.role}-{t.index}", t.process.pid) for t in self.tasks]
        taken = self.sampler.sample(running)
        try:
            if taken:
                self.store.add_samples(self.series_name, taken)
            for task in self.sampler.over_bound():
                self.store.thin_samples(self.series_name, task)
        except DiskFull:
            pass

    def _stop_all(self) -> None:
        for task in self.tasks:
            if task.process.poll() is None:
                task.process.terminate()
        end = time.time() + STOP_GRACE_SECONDS
        for task in self.tasks:
            try:
                task.process.wait(timeout=max(0.1, end - time.time()))
            except subprocess.TimeoutExpired:
                task.process.kill()
                task.process.wait()
        end_descendants()  # what the tasks started and left behind

    def _finish(
        self, state: str, error: str | None, code: int | None, *, lost: bool = False
    ) -> int:
        self._sample()
        figures = reports.job_figures(self.job_dir, self.request)
        self._record(
            state=state,
            end_time=time.time(),
            error=error,
            exit_code=code,
            lost=int(lost),
            peak_rss_bytes=self.sampler.peak_rss or None,
            mean_cpu=self.sampler.mean_cpu(),
            metrics=json.dumps(figures) if figures else None,
        )
        self.store.close()
        return 0

    def crashed(self, text: str) -> int:
        """This supervisor's own code failed: its tasks end, and the job fails with the
        error ``crash_report`` writes (not lost: nothing outside mlapply caused it)."""
        error = crash_report(self.job_dir, text)
        with contextlib.suppress(Exception):
            self._stop_all()
        with contextlib.suppress(Exception):
            end_descendants()
        try:
            return self._finish("FAILED", error, None)
        except Exception:  # the figures' reading may be what failed: the state first
            self._record(state="FAILED", end_time=time.time(), error=error, lost=0)
            return 1

    def _record(self, **columns: Any) -> None:
        """Write the job's state; on a full disk, wait for space and write it again
        (meanwhile the job reads as it was, and this supervisor as alive), so a job
        that succeeded is never recorded as anything else."""
        deadline = time.monotonic() + DISK_FULL_PATIENCE_SECONDS
        while True:
            try:
                if self.trial is not None:
                    self.store.update_trial(self.trial, **columns)
                else:
                    self.store.update_job(self.name, **columns)
                return
            except DiskFull:
                if time.monotonic() > deadline:
                    raise
                time.sleep(DISK_FULL_RETRY_SECONDS)

    def _on_term(self, *_: Any) -> None:
        self.cancelled = True


def crash_report(job_dir: Path, text: str) -> str:
    """Keep a supervisor's traceback in its job's logs; the job's error, saying so."""
    path = job_dir / "logs" / CRASH_LOG
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    last = next((line for line in reversed(text.splitlines()) if line.strip()), "an error")
    return (
        f"mlapply's supervisor failed: {last.strip()[:300]}. This is a bug in mlapply, not "
        f"the trainer's or the machine's, so it is not retried: the traceback is in {path}; "
        "please report it"
    )


def main(argv: list[str]) -> int:
    job_dir, home = Path(argv[1]), Path(argv[2])
    if "study" in json.loads((job_dir / "request.json").read_text()):
        from reconciler.backends.local.study import StudySupervisor

        supervisor: Supervisor | StudySupervisor = StudySupervisor(job_dir, home)
    else:
        supervisor = Supervisor(job_dir, home)
    try:
        return supervisor.run()
    except Exception:  # mlapply's own code failed: said as such, never as a lost machine
        return supervisor.crashed(traceback.format_exc())


if __name__ == "__main__":
    sys.exit(main(sys.argv))
