"""The entrypoint of every Ray job mlapply submits: runs a trainer package as Cloud ML
Engine ran one, one task per replica, on distinct nodes where the cluster has them.

It runs on the cluster, not here: the driver copies this file into the job's
working directory (Ray's ``runtime_env``), beside ``job.json`` and the trainer's
files, and submits ``python mlapply_ray_launcher.py``. It imports only Ray and
the standard library, whatever the cluster's Python has.

Each replica is an actor in one placement group (strategy SPREAD: distinct
nodes where there are enough, packed otherwise). Each actor names its node's
address and a free port there; the launcher then gives every actor the whole
TF_CONFIG and starts ``python -m MODULE ARGS`` in each (the trainer in the
task's own process group: it dies with its node). Lines a task prints reach the job's log prefixed
``[role-index]``. The job ends with its chief: parameter servers never end on
their own, so the others are stopped then. A replica whose node was lost ends
the job with ``LOST_MARKER`` in its log and exit code ``LOST_EXIT``: the machine
failed, not the trainer (the driver resubmits it within ``retry.maxResubmits``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, NodeDiedError
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

SPEC = "job.json"
LOST_EXIT = 75
LOST_MARKER = "mlapply: a node under this job was lost"
LOST = (ActorDiedError, ActorUnavailableError, NodeDiedError)
# Inherited from the job's own process: a task gets its own.
NOT_INHERITED = frozenset({"TF_CONFIG", "CLOUD_ML_TRIAL_ID"})


class Replica:
    """One task of the training cluster, in its own worker process on its node."""

    def __init__(self, role: str, index: int) -> None:
        self.task = f"{role}-{index}"
        self.role, self.index = role, index
        self.process: subprocess.Popen[str] | None = None
        self.stopped = threading.Event()

    def address(self) -> str:
        """``host:port`` for TF_CONFIG: this node's address and a port free on it now."""
        host: str = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
        with socket.socket() as probe:
            probe.bind((host, 0))
            return f"{host}:{probe.getsockname()[1]}"

    def run(self, spec: dict[str, Any], cluster: dict[str, list[str]]) -> int:
        """Run the trainer as this task; its exit code (negative: a signal)."""
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        env.update(spec.get("env", {}))
        if cluster:
            task = {"type": self.role, "index": self.index}
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
        node = ray.get_runtime_context().get_node_id()
        print(f"[{self.task}] mlapply: {self.task} runs on node {node}", flush=True)
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
        for line in self.process.stdout:
            print(f"[{self.task}] {line}", end="", flush=True)
        return self.process.wait()

    def stop(self) -> None:
        self.stopped.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()


def tf_types(roles: list[dict[str, Any]]) -> list[tuple[str, int, float]]:
    """(TF_CONFIG task type, index, CPUs) of every replica; the chief last."""
    tasks = [
        (role["type"], index, float(role.get("cpus", 1)))
        for role in roles
        for index in range(int(role["replicas"]))
    ]
    return sorted(tasks, key=lambda task: task[0] == "chief")


def main() -> int:
    with open(SPEC, encoding="utf-8") as handle:
        spec = json.load(handle)
    signal.signal(signal.SIGTERM, _stopped)
    ray.init(log_to_driver=True)
    tasks = tf_types(spec["roles"])
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
        code = _watch(runs)
        if code == LOST_EXIT:
            print(LOST_MARKER, file=sys.stderr, flush=True)
            return LOST_EXIT
        if code != 0:
            ended = f"signal {-code}" if code < 0 else f"exit code {code}"
            print(f"mlapply: the chief ended with {ended}", file=sys.stderr, flush=True)
            return 1
        return 0
    except LOST:
        print(LOST_MARKER, file=sys.stderr, flush=True)
        return LOST_EXIT
    finally:
        # Each trainer is stopped before its actor is killed (SIGTERM first, as the cloud).
        stops = [actor.stop.remote() for actor in actors]
        ray.wait(stops, num_returns=len(stops), timeout=10)
        for actor in actors:
            ray.kill(actor)
        remove_placement_group(group)


def _watch(runs: list[Any]) -> int:
    """The chief's exit code (the last run), or ``LOST_EXIT`` when a node under any task
    was lost first; a task other than the chief that fails ends the job with its code."""
    chief, pending = runs[-1], list(runs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        try:
            code = int(ray.get(ready[0]))
        except LOST:
            return LOST_EXIT
        if ready[0] == chief or code != 0:
            return code
    return 0


def _stopped(signum: int, frame: Any) -> None:
    """``ray job stop`` sends SIGTERM: end the tasks on the way out."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
