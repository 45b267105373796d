"""How planning scales: stacks of N TrainingJobs (each deployed as a ModelVersion,
ten versions per Model) whose live records are all in the local store.

Run: `.venv/bin/python bench/plan_scale.py [--sizes 100 1000 10000] [--changed]`.
Each size runs in its own process (so peak memory is its own); setup is not
timed. The timed `plan` is what `mlapply plan` does: load and validate the
manifests, fingerprint, read the live state, diff, forecast; plus rendering the
text. With `--changed`, every job's hyperparameters change after the stack is
recorded as converged, so the plan retrains every job (and forecasts each from
its past run).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

NOW = 1_800_000_000.0


def write_stack(root: Path, jobs: int, lr: str = "0.01") -> None:
    (root / ".git").mkdir(exist_ok=True)
    trainer = root / "trainer" / "trainer"
    trainer.mkdir(parents=True, exist_ok=True)
    (trainer / "__init__.py").write_text("")
    (trainer / "task.py").write_text("print('train')\n")
    (root / "data").mkdir(exist_ok=True)
    for i in range(3):
        (root / "data" / f"train-{i}.csv").write_text(f"fare,km\n{i},{i * 2}\n")
    docs = [
        "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: scale}\n",
        "apiVersion: mlapply/v1\nkind: Trainer\nmetadata: {name: t}\nspec: {source: ../trainer}\n",
        "apiVersion: mlapply/v1\nkind: Dataset\nmetadata: {name: d}\n"
        "spec: {train: ../data/train-*.csv}\n",
    ]
    for m in range(max(1, jobs // 10)):
        docs.append(f"apiVersion: mlapply/v1\nkind: Model\nmetadata: {{name: model-{m}}}\n")
    for j in range(jobs):
        docs.append(
            "apiVersion: mlapply/v1\nkind: TrainingJob\n"
            f"metadata: {{name: job-{j}}}\n"
            f"spec: {{trainer: t, dataset: d, hyperparameters: {{seed: {j}, lr: {lr}}}}}\n"
        )
        default = "true" if j % 10 == 0 else "false"
        docs.append(
            "apiVersion: mlapply/v1\nkind: ModelVersion\n"
            f"metadata: {{name: version-{j}}}\n"
            f"spec: {{model: model-{j // 10}, source: {{job: job-{j}}}, default: {default}}}\n"
        )
    manifests = root / "m"
    manifests.mkdir(exist_ok=True)
    # Many files, as a real repository of this size would have.
    per_file = 200
    for start in range(0, len(docs), per_file):
        (manifests / f"part-{start // per_file:04d}.yaml").write_text(
            "---\n".join(docs[start : start + per_file])
        )


def measure(jobs: int, changed: bool = False) -> dict[str, float]:
    from reconciler import gcpause
    from reconciler.apply.planning import make_plan
    from reconciler.backends.local import LocalDriver, LocalStore
    from reconciler.kinds import load_stack

    gcpause.freeze_when_resumed(True)  # as `mlapply plan` does (cli/common.LOAD_ONCE)
    from reconciler.render.jsonplan import plan_to_json
    from reconciler.render.text import render_text
    from tests.live_world import record_converged

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_stack(root, jobs)
        setup = load_stack([str(root / "m")])
        assert setup.stack is not None, [d.render() for d in setup.diagnostics[:5]]
        home = setup.stack.settings.home
        planned = make_plan(setup.stack, LocalDriver(home), now=NOW)
        store = LocalStore(home, create=True)
        record_converged(store, planned.desired, now=NOW)
        store.close()
        if changed:
            write_stack(root, jobs, lr="0.02")
        del setup, planned  # measure from a clean heap, as a new `mlapply plan` process has
        gc.collect()

        start = time.perf_counter()
        loaded = load_stack([str(root / "m")])
        assert loaded.stack is not None
        loaded_at = time.perf_counter()
        again = make_plan(loaded.stack, LocalDriver(home), now=NOW + 60)
        planned_at = time.perf_counter()
        text = render_text(plan_to_json(again.plan))
        end = time.perf_counter()
        assert again.plan.has_changes == changed, text[:2000]
        resources = len(loaded.stack.everything())
        live = len(again.live.jobs) + len(again.live.versions) + len(again.live.models)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "jobs": jobs,
        "resources": resources,
        "live": live,
        "load_s": loaded_at - start,
        "plan_s": planned_at - loaded_at,
        "render_s": end - planned_at,
        "total_s": end - start,
        "peak_mib": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--changed", action="store_true", help="every job retrains")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.changed)))
        return
    print(
        f"{'jobs':>6} {'resources':>9} {'live':>6} {'load s':>7} {'identity+read+diff s':>21} "
        f"{'render s':>8} {'total s':>8} {'peak MiB':>8}"
    )
    previous = None
    for size in args.sizes:
        done = subprocess.run(
            [sys.executable, __file__, "--one", str(size), *(["--changed"] * args.changed)],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        row = json.loads(done.stdout)
        growth = ""
        if previous:
            factor = row["total_s"] / previous["total_s"]
            growth = f"  x{factor:.1f} for x{row['jobs'] / previous['jobs']:.0f} jobs"
        print(
            f"{row['jobs']:>6} {row['resources']:>9} {row['live']:>6} {row['load_s']:>7.2f} "
            f"{row['plan_s']:>21.2f} {row['render_s']:>8.2f} {row['total_s']:>8.2f} "
            f"{row['peak_mib']:>8.0f}{growth}"
        )
        previous = row


if __name__ == "__main__":
    main()
