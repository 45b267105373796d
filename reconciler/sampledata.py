"""Deterministic synthetic data and a sample request for each trainer template.

``mlapply init`` writes them into a new project so that it trains and predicts
as made; the example stack (``manifests/data/generate.py``) and the template
tests use the same generators. Same seed, same files. Standard library only:
``init`` must not import TensorFlow.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Row = list[float | int | str]
Instance = dict[str, float | int | str]

TAXI_HEADER = (
    "fare_amount",
    "pickup_longitude",
    "pickup_latitude",
    "dropoff_longitude",
    "dropoff_latitude",
    "passenger_count",
    "hour_of_day",
    "day_of_week",
)
_LON, _LAT = (-74.05, -73.75), (40.60, 40.90)


def taxi_ride(rng: random.Random) -> Row:
    """A ride in a city box: the fare from the distance, rush hour, night and noise."""
    plon, plat = rng.uniform(*_LON), rng.uniform(*_LAT)
    # Most trips are short; some cross the city.
    reach = rng.expovariate(1 / 0.03)
    angle = rng.uniform(0, 2 * math.pi)
    dlon = min(max(plon + reach * math.cos(angle), _LON[0]), _LON[1])
    dlat = min(max(plat + reach * math.sin(angle), _LAT[0]), _LAT[1])
    km = math.hypot((dlon - plon) * 84.3, (dlat - plat) * 111.0)
    hour, day = rng.randrange(24), rng.randrange(7)
    passengers = rng.choice([1, 1, 1, 1, 2, 2, 3, 4, 5, 6])
    rush = 1.25 if day < 5 and (7 <= hour <= 9 or 16 <= hour <= 19) else 1.0
    night = 0.8 if hour >= 20 or hour < 6 else 0.0
    fare = 2.5 + 1.75 * km * rush + night + (0.5 if passengers > 4 else 0.0)
    fare = max(2.5, fare + rng.gauss(0, 0.8))
    return [
        round(fare, 2),
        round(plon, 6),
        round(plat, 6),
        round(dlon, 6),
        round(dlat, 6),
        passengers,
        hour,
        day,
    ]


INCOME_HEADER = (
    "income_over_50k",
    "age",
    "hours_per_week",
    "capital_gain",
    "education",
    "occupation",
)
_EDUCATION = {"hs": -1.0, "some-college": -0.3, "bachelors": 0.6, "masters": 1.1, "phd": 1.5}
_OCCUPATION = {"service": -0.8, "sales": 0.0, "craft": -0.2, "tech": 0.7, "exec": 1.2}


def income_person(rng: random.Random) -> Row:
    """A person: whether they earn over 50k, drawn from a logistic score of the rest."""
    age, hours = rng.randint(18, 75), max(5.0, rng.gauss(40, 10))
    gain = rng.expovariate(1 / 800) if rng.random() < 0.2 else 0.0
    education, occupation = rng.choice(list(_EDUCATION)), rng.choice(list(_OCCUPATION))
    score = (
        -1.0
        + 0.03 * (age - 40)
        + 0.05 * (hours - 40)
        + gain / 2000
        + _EDUCATION[education]
        + _OCCUPATION[occupation]
    )
    label = int(rng.random() < 1 / (1 + math.exp(-2 * score)))
    return [label, age, round(hours, 1), round(gain, 2), education, occupation]


def write_csv(
    path: Path, header: tuple[str, ...], row: Callable[[random.Random], Row], rows: int, seed: int
) -> None:
    rng = random.Random(seed)  # noqa: S311 (synthetic data, reproducible by seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(header)
        for _ in range(rows):
            out.writerow(row(rng))


_TAXI_REQUEST: list[Instance] = [
    {
        "pickup_longitude": -73.99,
        "pickup_latitude": 40.75,
        "dropoff_longitude": -73.90,
        "dropoff_latitude": 40.80,
        "passenger_count": 1,
        "hour_of_day": 8,
        "day_of_week": 2,
    },
    {
        "pickup_longitude": -73.98,
        "pickup_latitude": 40.76,
        "dropoff_longitude": -73.97,
        "dropoff_latitude": 40.77,
        "passenger_count": 2,
        "hour_of_day": 23,
        "day_of_week": 5,
    },
]
_INCOME_REQUEST: list[Instance] = [
    {
        "age": 52,
        "hours_per_week": 55.0,
        "capital_gain": 4000.0,
        "education": "masters",
        "occupation": "exec",
    },
    {
        "age": 23,
        "hours_per_week": 20.0,
        "capital_gain": 0.0,
        "education": "hs",
        "occupation": "service",
    },
]


@dataclass(frozen=True)
class SampleData:
    """What a template trains on and is asked: its CSV columns, a row generator,
    and two instances for ``mlapply predict``."""

    header: tuple[str, ...]
    row: Callable[[random.Random], Row]
    instances: list[Instance]
    train_rows: int = 8000
    eval_rows: int = 2000

    def write(self, data: Path, request: Path, seed: int = 42) -> list[Path]:
        """``data/train-1.csv``, ``data/eval-1.csv`` and the request; the files written."""
        train, valid = data / "train-1.csv", data / "eval-1.csv"
        write_csv(train, self.header, self.row, self.train_rows, seed)
        write_csv(valid, self.header, self.row, self.eval_rows, seed + 1)
        request.write_text(json.dumps({"instances": self.instances}, indent=1) + "\n")
        return [train, valid, request]


TAXI = SampleData(TAXI_HEADER, taxi_ride, _TAXI_REQUEST)
INCOME = SampleData(INCOME_HEADER, income_person, _INCOME_REQUEST)
# By template name (trainer_templates/<name>).
BY_TEMPLATE = {"regression": TAXI, "estimator": TAXI, "classification": INCOME}
