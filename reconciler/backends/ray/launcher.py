"""The entrypoint of every Ray job mlapply submits: runs a trainer package as Cloud ML
Engine ran one, one task per replica, on distinct nodes where the cluster has them.

It runs on the cluster, not here: the driver copies this file into the job's
working directory (Ray's ``runtime_env``), beside ``job.json`` and the trainer's
files, and submits ``python mlapply_ray_launcher.py``. It imports only Ray and
the standard library, whatever the cluster's Python has.

A job of one replica runs the trainer in this process's child, on the CPUs the
driver gave the entrypoint. Otherwise each replica is an actor in one placement
group (strategy SPREAD: distinct nodes where there are enough, packed
otherwise). Each actor names its node's address and a free port there; the
launcher then gives every actor the whole TF_CONFIG and starts ``python -m
MODULE ARGS`` in each. Lines a task prints reach the job's log prefixed
``[role-index]``. The job ends with its chief: parameter servers never end on
their own, so the others are stopped then. A replica whose node was lost ends
the job with ``LOST_MARKER`` in its log and exit code ``LOST_EXIT``: the machine
failed, not the trainer (the driver resubmits it within ``retry.maxResubmits``).

The trainer runs on the cluster's own TensorFlow. Before anything starts, the
launcher checks the job's ``runtimeVersion`` against it (``runtime_check``) and
ends the job with the reason when that TensorFlow cannot stand in for it.

While a task runs, its replica samples the task's process tree (CPUs used and
resident memory, ``reconciler.backends.telemetry``: shipped beside this file, with
psutil from the cluster's Python or the copy Ray carries) and writes the series,
bounded, to the task's ``usage_file`` in the shared storage, where ``status``,
``apply`` and the console read it (``usage.py``).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib import metadata, util
from typing import Any

# Ray itself is imported where the replicas are spread (0.4 s): a job of one
# replica runs without it.

SPEC = "job.json"
STUDY_MODULE = "mlapply_ray_study"
LOST_EXIT = 75
LOST_MARKER = "mlapply: a node under this job was lost"
# Inherited from the job's own process: a task gets its own.
NOT_INHERITED = frozenset({"TF_CONFIG", "CLOUD_ML_TRIAL_ID"})
WRONG_RUNTIME_EXIT = 78
STOPPED_EXIT = -signal.SIGTERM
"""What a run stopped from outside (``stop`` set) ends with, as a trainer ended by SIGTERM."""
TASK_MARK = "{task}"
"""Stands for a replica's task (``chief-0``) in its metric and usage file paths."""
TELEMETRY = "reconciler.backends.telemetry"
USAGE_LAST_WRITE_SECONDS = 2.0
STOP_WAIT_SECONDS = 8.0
"""How long a stopped replica waits for its trainer (under ``run_replicas``' 10 s)."""
KERAS_3_FROM = (2, 16)
"""``reconciler.stack.releases.KERAS_3_FROM``, written again because this file runs on
the cluster importing only Ray and the standard library (tests/test_ray_settings.py
holds the two equal)."""
# The distributions TensorFlow's wheels come as (pypi.org, checked 2026-12-06).
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly")


def installed_tensorflow() -> tuple[int, int] | None:
    """The (major, minor) of the TensorFlow this Python has, read without importing it."""
    for name in TENSORFLOW_DISTRIBUTIONS:
        try:
            major, minor = metadata.version(name).split(".")[:2]
        except (metadata.PackageNotFoundError, ValueError):
            continue
        if major.isdigit() and minor.isdigit():
            return int(major), int(minor)
    return None


def runtime_check(asked: str, installed: tuple[int, int] | None) -> tuple[bool, str]:
    """Whether a trainer written for ``runtimeVersion`` ``asked`` runs on ``installed``,
    and what to say: the same release, or a newer one with the same Keras and
    tf.estimator (2.x before 2.16, or 2.16 and after); never an older one."""
    if installed is None:
        return False, (
            "the cluster's Python has no TensorFlow: install tensorflow (or tensorflow-cpu) "
            f"{asked} in the cluster's environment"
        )
    have = f"{installed[0]}.{installed[1]}"
    parts = asked.split(".")
    wanted = (
        (int(parts[0]), int(parts[1]))
        if len(parts) == 2 and asked.replace(".", "").isdigit()
        else None
    )
    if wanted == installed:
        return True, f"runtime {asked} runs on the cluster's TensorFlow {have}"
    same_keras = wanted is not None and (wanted >= KERAS_3_FROM) == (installed >= KERAS_3_FROM)
    if wanted is not None and same_keras and wanted < installed:
        return True, f"runtime {asked} runs on the cluster's TensorFlow {have} (newer, same Keras)"
    return False, (
        f"runtimeVersion {asked} cannot run on this cluster's TensorFlow {have}: declare "
        f"runtimeVersion {have}, or install TensorFlow {asked} in the cluster's environment"
    )


class Replica:
    """One task of the training cluster, in its own worker process on its node."""

    def __init__(self, role: str, index: int) -> None:
        self.task = f"{role}-{index}"
        self.role, self.index = role, index
        self.process: subprocess.Popen[str] | None = None
        self.stopped = threading.Event()
        self.ended = threading.Event()
        """Set once the trainer has ended and its last figures are written."""

    def address(self) -> str:
        """``host:port`` for TF_CONFIG: this node's address and a port free on it now."""
        import ray

        host: str = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
        with socket.socket() as probe:
            probe.bind((host, 0))
            return f"{host}:{probe.getsockname()[1]}"

    def run(self, spec: dict[str, Any], cluster: dict[str, list[str]]) -> int:
        """Run the trainer as this task; its exit code (negative: a signal)."""
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        env.update(spec.get("env", {}))
        if spec.get("metric_file"):  # a trial's: where cloudml-hypertune writes
            env["CLOUD_ML_HP_METRIC_FILE"] = spec["metric_file"].replace(TASK_MARK, self.task)
        tag = f"{spec['label']} {self.task}" if spec.get("label") else self.task
        if cluster:
            task: dict[str, Any] = {"type": self.role, "index": self.index}
            if spec.get("trial"):
                task["trial"] = spec["trial"]
            env["TF_CONFIG"] = json.dumps(
                {
                    "cluster": cluster,
                    "task": task,
                    "environment": "cloud",
                    "job": {"job_name": spec["module"], "args": spec["argv"]},
                }
            )
        package = os.path.join(os.getcwd(), "package")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package, env.get("PYTHONPATH")]))
        if self.stopped.is_set():
            return -signal.SIGTERM
        node = _ray_node() if "ray" in sys.modules else local_node()
        print(f"[{tag}] mlapply: {self.task} runs on node {node}", flush=True)
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", spec["module"], *spec["argv"]],
            cwd=package,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        done = threading.Event()
        usage = str(spec.get("usage_file") or "").replace(TASK_MARK, self.task)
        watcher = threading.Thread(
            target=watch_usage, args=(usage, self.process.pid, done), daemon=True
        )
        if usage:
            watcher.start()
        for line in self.process.stdout:
            print(f"[{tag}] {line}", end="", flush=True)
        code = self.process.wait()
        done.set()
        if watcher.is_alive():
            watcher.join(timeout=USAGE_LAST_WRITE_SECONDS)
        self.ended.set()
        return code

    def stop(self) -> None:
        """SIGTERM the trainer, and wait (bounded) for it to end and its figures to be
        written: the actor is killed next."""
        self.stopped.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.ended.wait(STOP_WAIT_SECONDS)


def telemetry() -> Any | None:
    """The shipped sampler, or None where this Python has no psutil: the cluster's own,
    else the copy Ray carries in ``ray/thirdparty_files`` (found without importing Ray,
    which does the same on import)."""
    try:
        import psutil  # noqa: F401
    except ImportError:
        found = util.find_spec("ray")
        places = list(found.submodule_search_locations or []) if found else []
        sys.path.extend(os.path.join(place, "thirdparty_files") for place in places)
    try:
        return importlib.import_module(TELEMETRY)
    except ImportError:
        return None


def watch_usage(path: str, pid: int, done: threading.Event) -> None:
    """Sample a task's process tree until ``done``, writing its series to ``path`` after
    each sample (bounded as telemetry.py bounds it), and at the end the run's mean CPU
    from what its ended processes used (rusage), not only up to the last sample."""
    sampling = telemetry()
    if sampling is None:
        return
    sampler = sampling.Sampler()
    task = os.path.basename(path)
    points: list[tuple[float, float, int]] = []
    while not done.wait(sampler.interval):
        points += [(s.time, s.cpu, s.rss_bytes) for s in sampler.sample([(task, pid)])]
        if sampler.over_bound():
            points = sampling.thinned(points)
        _write_usage(path, sampler, points, None)
    _write_usage(path, sampler, points, time.time())


def _write_usage(path: str, sampler: Any, points: list[Any], ended: float | None) -> None:
    series = {
        "started": sampler.started,
        "ended": ended,
        "points": points,
        "mean_cpu": sampler.mean_cpu(ended),
        "peak_rss_bytes": sampler.peak_rss,
    }
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(f"{path}.partial", "w", encoding="utf-8") as handle:
            json.dump(series, handle)
        os.replace(f"{path}.partial", path)
    except OSError as error:  # the figures are lost, the job is not
        print(f"mlapply: cannot write {path}: {error}", file=sys.stderr, flush=True)


def tf_types(roles: list[dict[str, Any]]) -> list[tuple[str, int, float]]:
    """(TF_CONFIG task type, index, CPUs) of every replica; the chief last."""
    tasks = [
        (role["type"], index, float(role.get("cpus", 1)))
        for role in roles
        for index in range(int(role["replicas"]))
    ]
    return sorted(tasks, key=lambda task: task[0] == "chief")


def _ray_node() -> str:
    import ray

    node: str = ray.get_runtime_context().get_node_id()
    return node


def local_node() -> str:
    """The node of this entrypoint without connecting to Ray (which costs a second):
    its host's name."""
    return f"of host {socket.gethostname()}"


def main() -> int:
    with open(SPEC, encoding="utf-8") as handle:
        spec = json.load(handle)
    runs, said = runtime_check(spec["runtime_version"], installed_tensorflow())
    print(f"mlapply: {said}", file=sys.stdout if runs else sys.stderr, flush=True)
    if not runs:
        return WRONG_RUNTIME_EXIT
    signal.signal(signal.SIGTERM, _stopped)
    tasks = tf_types(spec["roles"])
    if "study" in spec:  # a tuning job: study.py, shipped beside this file
        study: Any = importlib.import_module(STUDY_MODULE)
        code: int = study.Study(spec, tasks).run()
        return code
    if len(tasks) == 1:
        return _alone(spec, tasks[0])
    code = run_replicas(spec, tasks)
    if code == LOST_EXIT:
        print(LOST_MARKER, file=sys.stderr, flush=True)
        return LOST_EXIT
    if code != 0:
        ended = f"signal {-code}" if code < 0 else f"exit code {code}"
        print(f"mlapply: the chief ended with {ended}", file=sys.stderr, flush=True)
        return 1
    return 0


def run_replicas(
    spec: dict[str, Any], tasks: list[tuple[str, int, float]], stop: threading.Event | None = None
) -> int:
    """Each replica an actor of a placement group over the cluster's nodes; the chief's
    exit code, ``LOST_EXIT`` when a node under one was lost, ``STOPPED_EXIT`` when
    ``stop`` was set first."""
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    if not ray.is_initialized():
        ray.init(log_to_driver=True)
    listed: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    nodes = len([node for node in listed if node.get("Alive")])
    # Distinct nodes where the cluster has enough; packed as evenly as it can otherwise.
    strategy = "STRICT_SPREAD" if nodes >= len(tasks) else "SPREAD"
    group = placement_group([{"CPU": cpus} for _, _, cpus in tasks], strategy=strategy)
    ray.get(group.ready())
    decorate: Any = ray.remote
    remote = decorate(max_concurrency=2, max_restarts=0)(Replica)
    actors: list[Any] = [
        remote.options(
            num_cpus=cpus,
            scheduling_strategy=PlacementGroupSchedulingStrategy(group, bundle_index),
        ).remote(role, index)
        for bundle_index, (role, index, cpus) in enumerate(tasks)
    ]
    try:
        addresses = ray.get([actor.address.remote() for actor in actors])
        cluster: dict[str, list[str]] = {}
        for (role, _, _), address in zip(tasks, addresses, strict=True):
            if role != "evaluator":
                cluster.setdefault(role, []).append(address)
        # Like Vertex AI, a single replica gets no TF_CONFIG.
        shared = cluster if len(tasks) > 1 else {}
        runs = [actor.run.remote(spec, shared) for actor in actors]
        return _watch(runs, stop)
    except _lost():
        return LOST_EXIT
    finally:
        # Each trainer is stopped before its actor is killed (SIGTERM first, as the cloud).
        stops = [actor.stop.remote() for actor in actors]
        ray.wait(stops, num_returns=len(stops), timeout=10)
        for actor in actors:
            ray.kill(actor)
        remove_placement_group(group)


def _alone(spec: dict[str, Any], task: tuple[str, int, float]) -> int:
    """One replica: the trainer runs in this entrypoint's own process tree, which the
    driver submitted with the replica's CPUs (no placement group, no actor: the job
    costs what ``ray job submit`` of the trainer costs)."""
    replica = Replica(task[0], task[1])
    try:
        code = replica.run(spec, {})
    finally:
        replica.stop()
    if code != 0:
        ended = f"signal {-code}" if code < 0 else f"exit code {code}"
        print(f"mlapply: the chief ended with {ended}", file=sys.stderr, flush=True)
        return 1
    return 0


def _lost() -> tuple[type[Exception], ...]:
    """What Ray raises for a task whose node was lost."""
    from ray.exceptions import ActorDiedError, ActorUnavailableError, NodeDiedError

    return (ActorDiedError, ActorUnavailableError, NodeDiedError)


def _watch(runs: list[Any], stop: threading.Event | None = None) -> int:
    """The chief's exit code (the last run), or ``LOST_EXIT`` when a node under any task
    was lost first; a task other than the chief that fails ends the job with its code."""
    import ray

    chief, pending = runs[-1], list(runs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
        if not ready:
            if stop is not None and stop.is_set():
                return STOPPED_EXIT
            continue
        try:
            code = int(ray.get(ready[0]))
        except _lost():
            return LOST_EXIT
        if ready[0] == chief or code != 0:
            return code
    return 0


def _stopped(signum: int, frame: Any) -> None:
    """``ray job stop`` sends SIGTERM: end the tasks on the way out."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
