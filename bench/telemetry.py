"""What sampling a job's CPU and memory costs its supervisor.

Run: `.venv/bin/python bench/telemetry.py [--tasks N] [--children N] [--samples N]`.
Starts N task processes, each with children (as a data loader's workers), and
samples them as the supervisor does (``telemetry.Sampler`` over each task's
process tree, then one write of the points to a real store), timing the CPU
this process spends per sample. At the supervisor's 2 s interval that is the
share of one CPU that watching a job costs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reconciler.backends import telemetry  # noqa: E402 (after the path)
from reconciler.backends.local.store import LocalStore  # noqa: E402

SLEEPER = (
    "import subprocess, sys, time\n"
    "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])"
    " for _ in range(int(sys.argv[1]))]\n"
    "time.sleep(600)\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=5, help="chief + 2 workers + 2 ps")
    parser.add_argument("--children", type=int, default=2)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    tasks = [
        subprocess.Popen([sys.executable, "-c", SLEEPER, str(args.children)])
        for _ in range(args.tasks)
    ]
    try:
        time.sleep(1.0)  # the children start
        named = [(f"task-{i}", p.pid) for i, p in enumerate(tasks)]
        with tempfile.TemporaryDirectory() as home:
            store = LocalStore(Path(home), create=True)
            sampler = telemetry.Sampler()
            costs = []
            for _ in range(args.samples):
                start = time.process_time()
                store.add_samples("job", sampler.sample(named))
                for task in sampler.over_bound():
                    store.thin_samples("job", task)
                costs.append(time.process_time() - start)
            store.close()
    finally:
        for process in tasks:
            subprocess.run(["pkill", "-P", str(process.pid)], check=False)
            process.kill()
            process.wait()
    per = statistics.median(costs)
    share = per / telemetry.FIRST_INTERVAL_SECONDS
    print(
        f"{args.tasks} tasks of {1 + args.children} processes, {args.samples} samples: "
        f"median {per * 1000:.2f} ms of CPU a sample, p95 "
        f"{statistics.quantiles(costs, n=20)[-1] * 1000:.2f} ms; every "
        f"{telemetry.FIRST_INTERVAL_SECONDS:g} s that is {share:.2%} of one CPU"
    )


if __name__ == "__main__":
    main()
