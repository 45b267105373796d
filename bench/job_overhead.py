"""What running a job through mlapply costs over running the trainer directly.

Run: `.venv/bin/python bench/job_overhead.py [--steps N] [--runs N] [--build]`.
The same regression template trains the same data: directly (`python -m
trainer.task` with the interpreter of the job's runtime environment, the
default runtime's), through `mlapply apply` cold (a fresh stack home: build
the sdist, make the job's virtualenv on the runtime), and warm (package and
environment cached; a new job each time through a changed seed). Prints
medians and the overhead ratios.

`--build` first builds the runtime environment in a fresh cache and reports
its time and size on disk (a download of about 1.5 GB).
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


def runtime_python(build: bool) -> Path:
    """The interpreter of the default runtime's environment (built first if need be)."""
    from reconciler.backends.local import runtimes
    from reconciler.backends.local.runtime import ensure_runtime, env_python, runtime_cache
    from reconciler.stack.resources import DEFAULT_RUNTIME_VERSION

    runtime = runtimes.resolve(DEFAULT_RUNTIME_VERSION, runtimes.this_python())
    assert not isinstance(runtime, str), runtime
    cache = Path(tempfile.mkdtemp(prefix="mlapply-runtimes-")) if build else runtime_cache()
    started = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as log:
        env = ensure_runtime(runtime, log, cache)
    if build:
        size = subprocess.run(["du", "-sh", str(env)], capture_output=True, text=True, check=True)
        print(
            f"first build of {runtime.key}: {time.perf_counter() - started:.0f} s, "
            f"{size.stdout.split()[0]} on disk"
        )
        os.environ["MLAPPLY_RUNTIMES"] = str(cache)
    return env_python(env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--build", action="store_true", help="time a first runtime build")
    args = parser.parse_args()
    python = runtime_python(args.build)
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
                    str(python),
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
    print(f"regression template, {args.steps} steps, median of {args.runs} runs")
    print(f"  {'direct (the runtime python -m trainer.task)':44} {d:6.2f} s")
    print(f"  {'mlapply apply, cold':44} {c:6.2f} s   x{c / d:.2f}  (+{c - d:.2f} s)")
    print(f"  {'mlapply apply, warm':44} {w:6.2f} s   x{w / d:.2f}  (+{w - d:.2f} s)")


if __name__ == "__main__":
    main()
