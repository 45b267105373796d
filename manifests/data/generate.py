"""Deterministic synthetic taxi rides for the example stack and the tests.

    python manifests/data/generate.py [--rows N] [--out DIR]

Writes taxi-train.csv and taxi-valid.csv: pickups and dropoffs in a city box,
passenger count, hour and weekday, and a fare from the trip's distance, the
time (rush hour and night surcharges) and noise. Same seed, same files. The
rides come from mlapply's own generator (``reconciler.sampledata``), the one
``mlapply init`` writes a new project's data with: run it with the Python
mlapply is installed in (``make example`` does).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reconciler.sampledata import TAXI_HEADER, taxi_ride, write_csv


def generate(out: Path, rows: int = 20_000, seed: int = 42) -> None:
    write_csv(out / "taxi-train.csv", TAXI_HEADER, taxi_ride, rows, seed)
    write_csv(out / "taxi-valid.csv", TAXI_HEADER, taxi_ride, max(rows // 5, 100), seed + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    generate(args.out, args.rows, args.seed)


if __name__ == "__main__":
    main()
