"""Start-up time of the CLI next to the floor (`python -c pass`).

Run: `make bench` or `.venv/bin/python bench/startup.py [--runs N]`. Prints the
median and best wall time of each command over N runs, from the repository root.
"""

from __future__ import annotations

import argparse
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
    "mlapply validate manifests/": [*MLAPPLY, "validate", "manifests/"],
    "mlapply plan manifests/": [*MLAPPLY, "plan", "manifests/"],
}


def measure(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, capture_output=True, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    print(
        f"{'command':34} {'median ms':>10} {'best ms':>8}   ({runs} runs, {sys.version.split()[0]})"
    )
    for name, command in COMMANDS.items():
        measure(command, 1)  # warm the file cache
        times = measure(command, runs)
        print(f"{name:34} {statistics.median(times):10.1f} {min(times):8.1f}")


if __name__ == "__main__":
    main()
