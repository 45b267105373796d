"""Deterministic synthetic taxi rides for the example stack and the tests.

    python manifests/data/generate.py [--rows N] [--out DIR]

Writes taxi-train.csv and taxi-valid.csv: pickups and dropoffs in a city box,
passenger count, hour and weekday, and a fare from the trip's distance, the
time (rush hour and night surcharges) and noise. Same seed, same files.
Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
from pathlib import Path

HEADER = [
    "fare_amount", "pickup_longitude", "pickup_latitude", "dropoff_longitude",
    "dropoff_latitude", "passenger_count", "hour_of_day", "day_of_week",
]
LON, LAT = (-74.05, -73.75), (40.60, 40.90)


def ride(rng: random.Random) -> list[float | int]:
    plon, plat = rng.uniform(*LON), rng.uniform(*LAT)
    # Most trips are short; some cross the city.
    reach = rng.expovariate(1 / 0.03)
    angle = rng.uniform(0, 2 * math.pi)
    dlon = min(max(plon + reach * math.cos(angle), LON[0]), LON[1])
    dlat = min(max(plat + reach * math.sin(angle), LAT[0]), LAT[1])
    km = math.hypot((dlon - plon) * 84.3, (dlat - plat) * 111.0)
    hour, day = rng.randrange(24), rng.randrange(7)
    passengers = rng.choice([1, 1, 1, 1, 2, 2, 3, 4, 5, 6])
    rush = 1.25 if day < 5 and (7 <= hour <= 9 or 16 <= hour <= 19) else 1.0
    night = 0.8 if hour >= 20 or hour < 6 else 0.0
    fare = 2.5 + 1.75 * km * rush + night + (0.5 if passengers > 4 else 0.0)
    fare = max(2.5, fare + rng.gauss(0, 0.8))
    return [round(fare, 2), round(plon, 6), round(plat, 6), round(dlon, 6), round(dlat, 6),
            passengers, hour, day]


def write(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for _ in range(rows):
            out.writerow(ride(rng))


def generate(out: Path, rows: int = 20_000, seed: int = 42) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write(out / "taxi-train.csv", rows, seed)
    write(out / "taxi-valid.csv", max(rows // 5, 100), seed + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    generate(args.out, args.rows, args.seed)


if __name__ == "__main__":
    main()
