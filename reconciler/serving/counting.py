"""What `mlapply serve` counts per version: requests, the version's failures, and
latency in buckets; shown on ``/metrics`` for Prometheus and kept in the store,
where a rollout's gates read it.

``/metrics`` is Prometheus's text exposition format, version 0.0.4
(prometheus.io/docs/instrumenting/exposition_formats/, checked 2026-12-07):
counters ``mlapply_predict_requests_total`` and ``mlapply_predict_errors_total``,
the histogram ``mlapply_predict_latency_seconds`` (cumulative ``le`` buckets,
``_sum`` and ``_count``) and the gauge ``mlapply_traffic_percent``, each labelled
by model and version. Written here rather than through prometheus-client: the
figures are needed as plain numbers for the store as well, and a request's count
is then three additions with no lock (the event loop is the only writer);
tests/test_rollout.py parses the page with prometheus-client's own parser.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.backends.served import LATENCY_BOUNDS_MS, Served

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Tally:
    """One version's figures since the server started."""

    __slots__ = ("errors", "latency", "requests", "seconds")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.seconds = 0.0
        self.latency = [0] * (len(LATENCY_BOUNDS_MS) + 1)

    def add(self, seconds: float, failed: bool) -> None:
        self.requests += 1
        self.errors += failed
        self.seconds += seconds
        self.latency[bisect_left(LATENCY_BOUNDS_MS, seconds * 1000.0)] += 1

    def served(self) -> Served:
        return Served(self.requests, self.errors, tuple(self.latency))


@dataclass
class Counters:
    """Every version's tally, and what of them the store has been given."""

    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    _kept: dict[tuple[str, str], Served] = field(default_factory=dict)

    def tally(self, model: str, version: str) -> Tally:
        key = (model, version)
        found = self.tallies.get(key)
        if found is None:
            found = self.tallies[key] = Tally()
        return found

    def unkept(self) -> list[tuple[str, str, Served]]:
        """What each version served since the last call: (model, version, figures),
        versions that served nothing since left out."""
        rows = []
        for key, tally in self.tallies.items():
            now = tally.served()
            before = self._kept.get(key, Served())
            if now.requests == before.requests:
                continue
            width = len(now.latency)
            old = before.latency or (0,) * width
            rows.append(
                (
                    *key,
                    Served(
                        now.requests - before.requests,
                        now.errors - before.errors,
                        tuple(a - b for a, b in zip(now.latency, old, strict=True)),
                    ),
                )
            )
            self._kept[key] = now
        return rows

    def exposition(self, traffic: Mapping[str, Mapping[str, int]]) -> str:
        """The ``/metrics`` page; ``traffic``: model -> version -> percent served now."""
        lines: list[str] = []
        ordered = sorted(self.tallies.items())
        _family(
            lines,
            "mlapply_predict_requests_total",
            "counter",
            "Prediction requests a version answered (or failed).",
            ((key, tally.requests) for key, tally in ordered),
        )
        _family(
            lines,
            "mlapply_predict_errors_total",
            "counter",
            "Requests a version failed: its model raised, or the server did.",
            ((key, tally.errors) for key, tally in ordered),
        )
        name = "mlapply_predict_latency_seconds"
        lines.append(f"# HELP {name} Time from a request's route to its answer.")
        lines.append(f"# TYPE {name} histogram")
        for (model, version), tally in ordered:
            labels = _labels(model, version)
            running = 0
            for bound, count in zip(LATENCY_BOUNDS_MS, tally.latency, strict=False):
                running += count
                lines.append(f'{name}_bucket{{{labels},le="{bound / 1000:g}"}} {running}')
            lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {tally.requests}')
            lines.append(f"{name}_sum{{{labels}}} {tally.seconds!r}")
            lines.append(f"{name}_count{{{labels}}} {tally.requests}")
        _family(
            lines,
            "mlapply_traffic_percent",
            "gauge",
            "The share of a model's requests that name no version which a version answers.",
            (
                ((model, version), percent)
                for model, split in sorted(traffic.items())
                for version, percent in sorted(split.items())
            ),
        )
        return "\n".join(lines) + "\n"


def _family(
    lines: list[str],
    name: str,
    kind: str,
    help_text: str,
    samples: Iterable[tuple[tuple[str, str], float]],
) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    lines.extend(f"{name}{{{_labels(*key)}}} {value}" for key, value in samples)


def _labels(model: str, version: str) -> str:
    return f'model="{_escape(model)}",version="{_escape(version)}"'


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
