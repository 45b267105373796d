"""How well the plan's forecast of a job's running time holds on this machine.

Run: `.venv/bin/python bench/forecast_accuracy.py [--runs ROWS:STEPS ...]
[--forecast ROWS:STEPS ...] [--trials N]`.

The regression template trains generated taxi data through `mlapply apply`
(the local backend, real TensorFlow). Each run first asks `mlapply plan
--format json` for the job's forecast, then applies it and reads how long the
job ran (start to end, as the store records it). The `--runs` sizes (training
rows and train_steps) make the history; the `--forecast` sizes are then
forecast from it before they run. Last, a tuning study of `--trials` trials
(2 at a time) is forecast from the same history and run. A warm-up job of
another manifest builds the package's environment first (not timed: a job's
running time starts once its environment is ready). Prints each forecast
(expected, range, basis) beside what happened, and the error.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

STACK = """
apiVersion: mlapply/v1
kind: Stack
metadata: {name: accuracy}
spec:
  variables: {steps: {type: integer, default: 100}, trials: {type: integer, default: 2}}
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
metadata: {name: warm}
spec: {trainer: taxifare, dataset: taxi, hyperparameters: {train_steps: 20}}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {name: fit}
spec:
  trainer: taxifare
  dataset: taxi
  hyperparameters: {train_steps: "${var.steps}"}
"""

STUDY = """
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {name: tune}
spec:
  trainer: taxifare
  dataset: taxi
  hyperparameters: {train_steps: "${var.steps}"}
  hyperparameterTuning:
    metric: rmse
    goal: MINIMIZE
    maxTrials: "${var.trials}"
    maxParallelTrials: 2
    params:
      - {name: learning_rate, type: DOUBLE, min: 0.001, max: 0.1, scale: UNIT_LOG_SCALE}
"""


def mlapply(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    if done.returncode not in (0, 2):
        raise SystemExit(f"mlapply {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def write_data(root: Path, rows: int) -> None:
    from reconciler.sampledata import TAXI_HEADER, taxi_ride, write_csv

    write_csv(root / "data" / "taxi-train.csv", TAXI_HEADER, taxi_ride, rows, 42)
    write_csv(root / "data" / "taxi-valid.csv", TAXI_HEADER, taxi_ride, 1000, 43)


def forecast_and_run(root: Path, address: str, steps: int, trials: int = 2) -> dict[str, Any]:
    """The plan's forecast for ``address``, then the job run and how long it ran."""
    from reconciler.backends.local import LocalStore

    manifests = str(root / "m")
    variables = ["--var", f"steps={steps}", "--var", f"trials={trials}", "--target", address]
    plan = json.loads(mlapply("plan", manifests, "--format", "json", *variables))
    change = next(c for c in plan["changes"] if c["address"] == address)
    mlapply("apply", manifests, "--auto-approve", *variables)
    store = LocalStore(root / "m" / ".mlapply")
    try:
        job = next(j for j in store.read("accuracy").jobs if j.name == change["live_name"])
    finally:
        store.close()
    assert job.start_time is not None and job.end_time is not None, job
    return {"forecast": change.get("forecast") or {}, "actual": job.end_time - job.start_time}


def line(label: str, found: dict[str, Any]) -> str:
    said, actual = found["forecast"], found["actual"]
    if said.get("seconds") is None:
        return f"  {label:<26} forecast: {said.get('basis_text', '-'):<40} actual {actual:6.1f} s"
    error = (actual - said["seconds"]) / said["seconds"]
    return (
        f"  {label:<26} forecast {said['seconds']:6.1f} s ({said['low']:.1f} to "
        f"{said['high']:.1f}){' weak' if said['weak'] else '     '}  actual {actual:6.1f} s  "
        f"error {error:+6.1%}   basis: {said['basis_text']}"
    )


def size(text: str) -> tuple[int, int]:
    rows, steps = text.split(":")
    return int(rows), int(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--runs",
        type=size,
        nargs="+",
        default=[(2000, 200), (4000, 500), (8000, 900), (16000, 1400)],
    )
    parser.add_argument("--forecast", type=size, nargs="+", default=[(6000, 1100), (24000, 2000)])
    parser.add_argument("--trials", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / ".git").mkdir()
        shutil.copytree(REPO / "trainer_templates" / "regression", root / "trainer")
        (root / "m").mkdir()
        (root / "m" / "stack.yaml").write_text(textwrap.dedent(STACK).lstrip())
        write_data(root, 1000)
        forecast_and_run(root, "job.warm", 20)
        print("history (each forecast from the runs before it):")
        for rows, steps in args.runs:
            write_data(root, rows)
            print(line(f"{rows} rows, {steps} steps", forecast_and_run(root, "job.fit", steps)))
        print("forecast before running:")
        for rows, steps in args.forecast:
            write_data(root, rows)
            print(line(f"{rows} rows, {steps} steps", forecast_and_run(root, "job.fit", steps)))
        (root / "m" / "study.yaml").write_text(textwrap.dedent(STUDY).lstrip())
        rows, steps = args.runs[1]
        write_data(root, rows)
        print("studies, 2 trials at a time (the first is the second's history):")
        for trials in (2, args.trials):
            found = forecast_and_run(root, "job.tune", steps, trials)
            print(line(f"{trials}-trial study, {steps} steps", found))


if __name__ == "__main__":
    main()
