"""A real Ray cluster for the tests: a head and more nodes on this machine, on loopback.

Ray rewrites 127.0.0.1 to the machine's routable address unless that address is
all it has, so the tests run inside a network namespace whose only interface is
``lo`` (``make test`` starts them under ``unshare -n``); :func:`loopback_only`
says whether this process is in one. Each node is ``ray start --block`` in a
process group of its own, and :meth:`RayCluster.stop` ends exactly those groups
(never a stop by name, which would end every Ray process on the machine).
Usage reporting is off.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

START_SECONDS = 90.0
STOP_SECONDS = 15.0
GCS_PORT = 6380
DASHBOARD_PORT = 8265
# Small object stores: the tests move no data through Ray, and /dev/shm may be small.
OBJECT_STORE_BYTES = 100 * 1024 * 1024


def loopback_only() -> bool:
    """Whether this process's network namespace has only the loopback interface."""
    # /proc/net/dev is this namespace's (/sys/class/net is the mount's, not ours).
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return [line.split(":")[0].strip() for line in lines] == ["lo"]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    # As `ray start` from an activated environment: jobs' `python` is the cluster's.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("RAY_ADDRESS", None)
    return env


class RayCluster:
    """``nodes`` nodes of ``cpus`` CPUs each; the first is the head."""

    def __init__(self, nodes: int = 2, cpus: int = 2) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mlray-"))  # short: Ray's socket paths
        self.nodes, self.cpus = nodes, cpus
        self.processes: list[subprocess.Popen[bytes]] = []
        self.address = f"http://127.0.0.1:{DASHBOARD_PORT}"
        self.start_seconds = 0.0

    def _ray(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        command = [str(Path(sys.executable).with_name("ray")), "start", "--block", *args]
        common = [
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={self.cpus}",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
        ]
        with (self.root / log).open("wb") as out:
            process = subprocess.Popen(
                [*command, *common],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=environment(),
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def start(self) -> RayCluster:
        began = time.monotonic()
        self._ray(
            "--head",
            f"--port={GCS_PORT}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={DASHBOARD_PORT}",
            f"--temp-dir={self.root / 't'}",
            "--disable-usage-stats",
            log="head.log",
        )
        self._wait(lambda: self._get("/api/version") is not None, "the head's dashboard")
        for index in range(1, self.nodes):
            self._ray(f"--address=127.0.0.1:{GCS_PORT}", log=f"node{index}.log")
        self._wait(lambda: self.alive_nodes() == self.nodes, f"{self.nodes} nodes")
        self.start_seconds = time.monotonic() - began
        return self

    def _get(self, path: str) -> object | None:
        try:
            with urllib.request.urlopen(self.address + path, timeout=5) as answer:
                found: object = json.loads(answer.read())
                return found
        except (OSError, ValueError):
            return None

    def alive_nodes(self) -> int:
        found = self._get("/nodes?view=summary")
        if not isinstance(found, dict):
            return 0
        summary = found.get("data", {}).get("summary", [])
        return sum(1 for node in summary if node.get("raylet", {}).get("state") == "ALIVE")

    def _wait(self, ready: object, what: str) -> None:
        deadline = time.monotonic() + START_SECONDS
        while not ready():  # type: ignore[operator]
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a Ray node ended while starting: {self.logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not up in {START_SECONDS:.0f} s: {self.logs()}")
            time.sleep(0.5)

    def kill_node(self, index: int) -> None:
        """End node ``index`` (not the head) at once, as a lost machine ends."""
        os.killpg(self.processes[index].pid, signal.SIGKILL)
        self.processes[index].wait()

    def add_node(self) -> None:
        self._ray(f"--address=127.0.0.1:{GCS_PORT}", log=f"node{len(self.processes)}.log")

    def logs(self) -> str:
        return "\n".join(
            f"{p.name}: {p.read_text(errors='replace')[-2000:]}" for p in self.root.glob("*.log")
        )

    def memory_bytes(self) -> int:
        """The resident memory of every process of the cluster's groups (Linux /proc)."""
        groups = {p.pid for p in self.processes if p.poll() is None}
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getpgid(int(entry.name)) not in groups:
                    continue
                fields = (entry / "statm").read_text().split()
            except (OSError, ProcessLookupError):
                continue
            total += int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
        return total

    def stop(self) -> None:
        """End each node's process group: politely, then at once."""
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
