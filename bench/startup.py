"""Start-up time of the CLI next to the floor (`python -c pass`).

Run: `make bench` or `.venv/bin/python bench/startup.py [--runs N]`. Prints the
median and best wall time of each command over N runs, from the repository root.
The example's data is generated first where a checkout lacks it (as `make
example` does), since `plan` checks that a dataset's files exist.

Commands run as an installed mlapply does, with bytecode caches: the first
(unmeasured) run writes them even where PYTHONDONTWRITEBYTECODE is set, which
would otherwise make every run compile every module it imports.

`--baseline DIR` compares with another checkout (for example
`git worktree add /tmp/base HEAD~5`): each command runs from DIR and from here
in turn, so both see the same machine load, and the table shows both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MLAPPLY = [sys.executable, "-m", "reconciler"]
COMMANDS = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "python -c 'import click'": [sys.executable, "-c", "import click"],
    "mlapply --help": [*MLAPPLY, "--help"],
    "mlapply validate manifests/": [*MLAPPLY, "validate", str(REPO / "manifests")],
    "mlapply plan manifests/": [*MLAPPLY, "plan", str(REPO / "manifests")],
}


def run_once(command: list[str], where: Path) -> float:
    """Milliseconds of one run; ``where`` is the checkout whose code runs (``-m``
    imports from the working directory first)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    subprocess.run(command, cwd=where, capture_output=True, check=True, env=env)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    args = parser.parse_args()
    trees = [("", REPO)] if args.baseline is None else [("base", args.baseline), ("this", REPO)]
    head = f"{'command':34} " + " ".join(
        f"{label + ' median':>12} {label + ' best':>10}"
        if label
        else f"{'median ms':>10} {'best ms':>8}"
        for label, _ in trees
    )
    for _, where in trees:  # plan checks that the example's data files exist
        if not (where / "manifests" / "data" / "taxi-train.csv").exists():
            generate = [sys.executable, str(where / "manifests" / "data" / "generate.py")]
            subprocess.run(generate, cwd=where, capture_output=True, check=True)
    print(f"{head}   ({args.runs} runs, {sys.version.split()[0]})")
    for name, command in COMMANDS.items():
        times: dict[str, list[float]] = {label: [] for label, _ in trees}
        for _, where in trees:
            run_once(command, where)  # warm the file cache
        for _ in range(args.runs):
            for label, where in trees:
                times[label].append(run_once(command, where))
        cells = " ".join(
            f"{statistics.median(times[label]):12.1f} {min(times[label]):10.1f}"
            if label
            else f"{statistics.median(times[label]):10.1f} {min(times[label]):8.1f}"
            for label, _ in trees
        )
        print(f"{name:34} {cells}")


if __name__ == "__main__":
    main()
