"""CPU and memory of a job's tasks over time, as the cloud console charted them.

What runs a task samples it (``chief-0``, ``worker-1`` ...) every few
seconds: the CPUs it used since the last sample (1.0 is one core busy) and
its resident memory, each counting the task's whole process tree (a data
loader's workers are the task's, as they were on the task's VM). psutil
reads the trees. The local backend's supervisor puts the samples in its store,
the Ray launcher in a file per task in the shared storage (it ships this module
to the cluster), as they are taken, so that ``status``, ``apply`` and the console
see a running job.

A series is bounded: past ``MAX_SAMPLES`` points a task's series is thinned
to half (each pair merged: mean CPU, peak memory) and the interval doubles,
so a week-long job keeps a chart of the whole run in a few hundred points.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import psutil

FIRST_INTERVAL_SECONDS = 2.0
MAX_SAMPLES = 600
"""Points kept per task; past this the series is thinned to half."""


class Sample(NamedTuple):
    task: str
    time: float
    cpu: float
    """CPUs used since the task's previous sample (1.0: one core busy)."""
    rss_bytes: int


def tree_usage(pid: int) -> tuple[float, int] | None:
    """CPU seconds and resident bytes of a process and its descendants, or None when
    the process is gone."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    cpu, rss = 0.0, 0
    for process in processes:
        try:
            times = process.cpu_times()
            cpu += times.user + times.system + times.children_user + times.children_system
            rss += process.memory_info().rss
        except psutil.Error:
            continue  # it ended between the listing and the read
    return cpu, rss


def reaped_cpu_seconds() -> float:
    """CPU seconds of this process's children that have ended and been waited for (the
    tasks, and the orphans a subreaper collects)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Sampler:
    """The running figures of a job's tasks: the series, the mean CPU and the peak."""

    started: float = field(default_factory=time.time)
    reaped_before: float = field(default_factory=reaped_cpu_seconds)
    """What this process's earlier children used (preparing the environment, say)."""
    interval: float = FIRST_INTERVAL_SECONDS
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    peak_rss: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def sample(self, tasks: Iterable[tuple[str, int]], now: float | None = None) -> list[Sample]:
        """One sample of each live task (name, pid); the peak is of all tasks together."""
        now = time.time() if now is None else now
        taken: list[Sample] = []
        for task, pid in tasks:
            used = tree_usage(pid)
            if used is None:
                continue
            cpu_seconds, rss = used
            before = self.cpu_seconds.get(task, 0.0)
            since = self.last.get(task, self.started)
            cpu = max(0.0, cpu_seconds - before) / max(now - since, 1e-3)
            self.cpu_seconds[task], self.last[task] = max(cpu_seconds, before), now
            self.counts[task] = self.counts.get(task, 0) + 1
            taken.append(Sample(task, now, round(cpu, 3), rss))
        self.peak_rss = max(self.peak_rss, sum(s.rss_bytes for s in taken))
        return taken

    def over_bound(self) -> list[str]:
        """The tasks whose series must be thinned now; the interval doubles with them."""
        full = [task for task, n in self.counts.items() if n >= MAX_SAMPLES]
        for task in full:
            self.counts[task] = (self.counts[task] + 1) // 2
        if full:
            self.interval *= 2
        return full

    def mean_cpu(self, now: float | None = None) -> float | None:
        """CPUs used on average since the tasks started. Once they have ended and been
        waited for, their whole use is known (rusage), not only up to the last sample."""
        used = max(sum(self.cpu_seconds.values()), reaped_cpu_seconds() - self.reaped_before)
        if not self.cpu_seconds and used <= 0:
            return None
        elapsed = max((time.time() if now is None else now) - self.started, 1e-6)
        return used / elapsed


def thinned(points: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """A series at half resolution: each pair of (time, cpu, rss) points merged into one
    at the later time, with the pair's mean CPU and peak memory (an odd last one stays)."""
    merged = [
        (b[0], (a[1] + b[1]) / 2, max(a[2], b[2]))
        for a, b in zip(points[0::2], points[1::2], strict=False)
    ]
    if len(points) % 2:
        merged.append(points[-1])
    return merged
