"""What running a job through mlapply costs over running the trainer directly.

Run: `.venv/bin/python bench/job_overhead.py [--steps N] [--runs N]`. The same
regression template trains the same data: directly (`python -m trainer.task`),
through `mlapply apply` cold (a fresh stack home: build the sdist, make the
job's virtualenv), and warm (package and environment cached; a new job each
time through a changed seed). Prints medians and the overhead ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MANIFEST = """
apiVersion: mlapply/v1
kind: Stack
metadata: {name: overhead}
spec:
  variables: {seed: {type: integer, default: 0}, steps: {type: integer, default: 200}}
---
apiVersion: mlapply/v1
kind: Dataset
metadata: {name: taxi}
spec: {train: ../data/taxi-train.csv, eval: ../data/taxi-valid.csv}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {name: taxifare}
spec: {source: ../trainer}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {name: job}
spec:
  trainer: taxifare
  dataset: taxi
  hyperparameters: {train_steps: "${var.steps}", seed: "${var.seed}"}
"""


def timed(command: list[str], **kwargs: object) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs
    )  # type: ignore[call-overload]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / ".git").mkdir()
        shutil.copytree(REPO / "trainer_templates" / "regression", root / "trainer")
        subprocess.run(
            [
                sys.executable,
                str(REPO / "manifests" / "data" / "generate.py"),
                "--rows",
                "4000",
                "--out",
                str(root / "data"),
            ],
            check=True,
        )
        (root / "m").mkdir()
        (root / "m" / "stack.yaml").write_text(textwrap.dedent(MANIFEST).lstrip())
        env = {**os.environ, "PYTHONPATH": str(root / "trainer")}
        direct = [
            timed(
                [
                    sys.executable,
                    "-m",
                    "trainer.task",
                    f"--train_data_paths={root / 'data' / 'taxi-train.csv'}",
                    f"--eval_data_paths={root / 'data' / 'taxi-valid.csv'}",
                    f"--output_dir={root / 'direct' / str(run)}",
                    f"--train_steps={args.steps}",
                    f"--seed={run}",
                ],
                env=env,
            )
            for run in range(args.runs)
        ]
        mlapply = [
            sys.executable,
            "-m",
            "reconciler",
            "apply",
            str(root / "m"),
            "--auto-approve",
            "--var",
            f"steps={args.steps}",
        ]
        cold, warm = [], []
        for run in range(args.runs):
            shutil.rmtree(root / "m" / ".mlapply", ignore_errors=True)
            cold.append(timed([*mlapply, "--var", f"seed={100 + run}"], cwd=REPO))
        for run in range(args.runs):
            warm.append(timed([*mlapply, "--var", f"seed={200 + run}"], cwd=REPO))
    d, c, w = (statistics.median(x) for x in (direct, cold, warm))
    print(f"tiny trainer, {args.steps} steps, median of {args.runs} runs")
    print(f"  direct (python -m trainer.task)   {d:6.2f} s")
    print(f"  mlapply apply, cold               {c:6.2f} s   x{c / d:.2f}  (+{c - d:.2f} s)")
    print(f"  mlapply apply, warm               {w:6.2f} s   x{w / d:.2f}  (+{w - d:.2f} s)")


if __name__ == "__main__":
    main()
