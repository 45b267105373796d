"""What a local tuning study costs over running its trials by hand.

Run: `.venv/bin/python bench/study.py [--trials N] [--steps N]`.
The regression template tunes learning_rate on generated taxi data. First a
one-trial study warms the package's environment (built once per package
digest, as for any job). Then the same N-trial study runs with
maxParallelTrials 1 and with 2, each through `mlapply apply`, and the trials
it ran are run again by hand, one after the other, with the interpreter of
the job's runtime environment and each trial's own arguments. Prints the wall
times, and the scheduler's overhead per trial: (sequential study's wall time
- the trials by hand) / N.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from job_overhead import runtime_python, timed  # noqa: E402 (after the path)

MANIFEST = """
apiVersion: mlapply/v1
kind: Stack
metadata: {{name: study}}
---
apiVersion: mlapply/v1
kind: Dataset
metadata: {{name: taxi}}
spec: {{train: ../data/taxi-train.csv, eval: ../data/taxi-valid.csv}}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {{name: taxifare}}
spec: {{source: ../trainer}}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {{name: tune}}
spec:
  trainer: taxifare
  dataset: taxi
  hyperparameters: {{train_steps: {steps}, seed: {seed}}}
  hyperparameterTuning:
    metric: rmse
    goal: MINIMIZE
    maxTrials: {trials}
    maxParallelTrials: {parallel}
    params:
      - {{name: learning_rate, type: DOUBLE, min: 0.001, max: 0.1, scale: UNIT_LOG_SCALE}}
"""


def study(root: Path, trials: int, parallel: int, steps: int, seed: int) -> tuple[float, Path]:
    """Apply a study; its wall time and its job's folder."""
    text = MANIFEST.format(trials=trials, parallel=parallel, steps=steps, seed=seed)
    (root / "m" / "stack.yaml").write_text(textwrap.dedent(text).lstrip())
    wall = timed([sys.executable, "-m", "reconciler", "apply", str(root / "m"), "--auto-approve"])
    jobs = sorted((root / "m" / ".mlapply" / "jobs").iterdir(), key=lambda p: p.stat().st_mtime)
    return wall, jobs[-1]


def by_hand(python: Path, job: Path, trainer: Path) -> list[float]:
    """Each trial of a study run again directly, one after the other."""
    times = []
    for folder in sorted((job / "trials").iterdir(), key=lambda p: int(p.name)):
        request = json.loads((folder / "request.json").read_text())
        argv = [a.replace(request["job_dir"], str(folder / "by-hand")) for a in request["args"]]
        env = {**os.environ, "PYTHONPATH": str(trainer)}
        times.append(timed([str(python), "-m", request["module"], *argv], env=env))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    python = runtime_python(build=False)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / ".git").mkdir()
        (root / "m").mkdir()
        shutil.copytree(REPO / "trainer_templates" / "regression", root / "trainer")
        generate = REPO / "manifests" / "data" / "generate.py"
        subprocess.run(
            [sys.executable, str(generate), "--rows", "4000", "--out", str(root / "data")],
            check=True,
        )
        started = time.perf_counter()
        study(root, 1, 1, args.steps, seed=0)  # builds the package's environment
        warm = time.perf_counter() - started
        one, job = study(root, args.trials, 1, args.steps, seed=1)
        hand = by_hand(python, job, root / "trainer")
        two, _ = study(root, args.trials, 2, args.steps, seed=2)
    total = sum(hand)
    print(f"regression template, {args.steps} steps, {args.trials} trials, {os.cpu_count()} CPUs")
    print(f"  {'warm-up (one-trial study, package environment)':48} {warm:7.1f} s")
    print(f"  {'trials by hand, one after the other':48} {total:7.1f} s")
    print(f"  {'study, 1 in parallel (mlapply apply)':48} {one:7.1f} s   x{one / total:.2f}")
    print(f"  {'study, 2 in parallel (mlapply apply)':48} {two:7.1f} s   x{two / total:.2f}")
    print(f"  scheduler overhead per trial: {(one - total) / args.trials:.2f} s")


if __name__ == "__main__":
    main()
