"""What a job through `mlapply apply` on backend ray costs over `ray job submit`.

Run: `.venv/bin/python bench/ray_overhead.py [--runs N] [--nodes N]` (it re-runs
itself in a loopback-only network namespace, as the tests do: root and
`unshare` needed). Starts a real Ray cluster on loopback (tests/raycluster.py),
then alternates, for the same trainer that only writes an export (so the time
is all overhead): the floor (Ray's SDK in this process: submit_job with the
working dir, then its status every 0.1 s until the end), `ray job submit
--working-dir` of `python -m trainer.task` (the CLI, which waits for the end),
and `mlapply apply` of a TrainingJob of that
trainer with a changed hyperparameter (a new job each time: plan, lock, staging,
submission, the launcher's placement group and task, the wait, the record).
Prints the cluster's start time and resident memory (its processes, idle), the
medians, and the time of `mlapply plan` (no changes) against the cluster.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.raycluster import RayCluster, environment, loopback_only  # noqa: E402

TASK = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--output_dir")
args, _ = parser.parse_known_args()
export = os.path.join(args.output_dir, "export", "1")
os.makedirs(export, exist_ok=True)
open(os.path.join(export, "saved_model.pb"), "wb").write(b"")
"""
STACK = """apiVersion: mlapply/v1
kind: Stack
metadata: {{name: overhead}}
spec:
  backend: ray
  ray: {{address: '{address}', storage: ../storage}}
  variables: {{seed: {{type: integer, default: 0}}}}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {{name: t}}
spec: {{source: ../trainer}}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {{name: job}}
spec:
  trainer: t
  hyperparameters: {{seed: "${{var.seed}}"}}
"""


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, check=False, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start


def sdk_floor(address: str, working_dir: Path, output: Path) -> float:
    """Submit with Ray's SDK and poll until the job ends (the client made beforehand)."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    start = time.perf_counter()
    name = client.submit_job(
        entrypoint=f"python -m trainer.task --output_dir={output}",
        runtime_env={"working_dir": str(working_dir)},
    )
    while not client.get_job_status(name).is_terminal():
        time.sleep(0.1)
    took = time.perf_counter() - start
    assert str(client.get_job_status(name).value) == "SUCCEEDED", client.get_job_logs(name)
    return took


def measure(runs: int, nodes: int) -> None:
    cluster = RayCluster(nodes=nodes, cpus=2).start()
    started, held = cluster.start_seconds, cluster.memory_bytes()
    try:
        env = environment()
        bin_dir = Path(sys.executable).parent
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            (root / ".git").mkdir()
            package = root / "trainer" / "trainer"
            package.mkdir(parents=True)
            (package / "__init__.py").write_text("")
            (package / "task.py").write_text(TASK)
            (root / "m").mkdir()
            (root / "m" / "stack.yaml").write_text(STACK.format(address=cluster.address))
            mlapply = [str(bin_dir / "mlapply"), "apply", "m", "--auto-approve", "--var"]
            floor, direct, ours = [], [], []
            # One of each first, not counted: Ray's first job on a node starts its workers.
            timed([*mlapply, "seed=-1"], env, root)
            for run in range(runs + 1):
                submit = [
                    str(bin_dir / "ray"),
                    "job",
                    "submit",
                    "--address",
                    cluster.address,
                    "--working-dir",
                    str(root / "trainer"),
                    "--",
                    "python",
                    "-m",
                    "trainer.task",
                    f"--output_dir={root / 'direct' / str(run)}",
                ]
                took = timed(submit, env, root)
                if run:
                    direct.append(took)
                    floor.append(sdk_floor(cluster.address, root / "trainer", root / "sdk"))
                    ours.append(timed([*mlapply, f"seed={run}"], env, root))
            plan = [
                timed([str(bin_dir / "mlapply"), "plan", "m", "--var", f"seed={runs}"], env, root)
                for _ in range(runs)
            ]
    finally:
        cluster.stop()
    f, d, o, p = (statistics.median(x) for x in (floor, direct, ours, plan))
    print(f"a {nodes}-node cluster started in {started:.1f} s, holding {held / 2**20:.0f} MiB")
    print(f"a trainer that only exports, {nodes}-node cluster, median of {runs} runs")
    print(f"  {'floor: the SDK submits, polls 0.1 s':40} {f:6.2f} s")
    print(f"  {'ray job submit --working-dir (waits)':40} {d:6.2f} s")
    print(f"  {'mlapply apply (a new job)':40} {o:6.2f} s   (+{o - f:.2f} s over the floor)")
    print(f"  {'mlapply plan (no changes)':40} {p:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=1)
    args = parser.parse_args()
    if not loopback_only():
        script = 'ip link set lo up && exec "$0" "$@"'
        here = [sys.executable, __file__, "--runs", str(args.runs), "--nodes", str(args.nodes)]
        os.execvp("unshare", ["unshare", "-n", "sh", "-c", script, *here])
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    measure(args.runs, args.nodes)


if __name__ == "__main__":
    main()
