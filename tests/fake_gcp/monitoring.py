"""A fake Cloud Monitoring (``monitoring`` v3) answering ``projects.timeSeries.list``
for the Vertex AI endpoint metrics a rollout reads, strict about the request.

Discovery checks the path and the query's names; this checks what the
discovery document's descriptions of ListTimeSeries say in words (monitoring v3
document in google-api-python-client, revision 20260129, checked 2026-12-07):
``filter`` and ``interval.endTime`` are required; the filter names one metric
type ("The filter must specify a single metric type"); a per-series aligner
other than ALIGN_NONE needs ``aggregation.alignmentPeriod`` of at least 60
seconds; a cross-series reducer needs an aligner; the enums are the document's.
The metrics are the ones Vertex AI writes for endpoints
(cloud.google.com/monitoring/api/metrics_gcp_a_b#gcp-aiplatform, checked
2026-12-07): prediction_count and error_count are DELTA INT64 series,
prediction_latencies a DELTA DISTRIBUTION (milliseconds) with a latency_type
label; every series is labelled by deployed_model_id on the monitored resource
aiplatform.googleapis.com/Endpoint (labels endpoint_id, location). An unknown
metric type is refused, as the service answers a type it has no descriptor of.

A test says what each deployment served with :meth:`Monitoring.record`; the
latency is written with exponential buckets (scale 1 ms, growth 2), a bucket
layout Cloud Monitoring uses for latency distributions.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from reconciler.backends.google.times import rfc3339, seconds
from tests.fake_gcp.common import ApiError

PREFIX = "aiplatform.googleapis.com/prediction/online/"
KINDS = {
    "prediction_count": "INT64",
    "error_count": "INT64",
    "prediction_latencies": "DISTRIBUTION",
}
RESOURCE = "aiplatform.googleapis.com/Endpoint"
TERM = re.compile(r'\s*([a-z_.]+)\s*=\s*"([^"]*)"\s*')
GROWTH, SCALE, FINITE = 2.0, 1.0, 20


@dataclass
class Point:
    at: float
    endpoint: str
    deployed: str
    requests: int
    errors: int
    latency_ms: list[float]


@dataclass
class Monitoring:
    points: list[Point] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        document = json.loads(_document())
        params = document["resources"]["projects"]["resources"]["timeSeries"]["methods"]["list"]
        self.enums = {
            name: set(spec.get("enum", []))
            for name, spec in params["parameters"].items()
            if "enum" in spec
        }

    def record(
        self, endpoint: str, deployed: str, requests: int, errors: int, latency_ms: list[float]
    ) -> None:
        """What a deployment served now: ``endpoint`` is the endpoint's id."""
        self.points.append(Point(time.time(), endpoint, deployed, requests, errors, latency_ms))

    def list(self, project: str, query: dict[str, str]) -> dict[str, Any]:
        self.requests.append(dict(query))
        for name, allowed in self.enums.items():
            if name in query and query[name] not in allowed:
                raise ApiError(
                    400, f"timeSeries.list: {name} {query[name]!r} is not one of {sorted(allowed)}"
                )
        text = query.get("filter")
        if not text:
            raise ApiError(400, "timeSeries.list: filter is required")
        terms = {}
        for part in re.split(r"\bAND\b", text):
            found = TERM.fullmatch(part)
            if found is None:
                raise ApiError(
                    400, f"timeSeries.list: the fake cannot read the filter term {part!r}"
                )
            key = found.group(1).replace("resource.label.", "resource.labels.")
            key = key.replace("metric.label.", "metric.labels.")
            if key in terms:
                raise ApiError(400, f"timeSeries.list: {key} is given twice in the filter")
            terms[key] = found.group(2)
        metric = terms.get("metric.type")
        if metric is None:
            raise ApiError(400, "timeSeries.list: the filter must specify a single metric type")
        kind = metric.removeprefix(PREFIX)
        if not metric.startswith(PREFIX) or kind not in KINDS:
            raise ApiError(400, f"timeSeries.list: cannot find a metric of type {metric}")
        if terms.get("resource.type", RESOURCE) != RESOURCE:
            raise ApiError(400, f"timeSeries.list: {metric} is written for {RESOURCE}")
        end = seconds(query.get("interval.endTime"))
        if end is None:
            raise ApiError(400, "timeSeries.list: interval.endTime is required")
        start = seconds(query.get("interval.startTime")) or end
        if start > end:
            raise ApiError(400, "timeSeries.list: interval.startTime is after interval.endTime")
        aligner = query.get("aggregation.perSeriesAligner", "ALIGN_NONE")
        reducer = query.get("aggregation.crossSeriesReducer", "REDUCE_NONE")
        period = query.get("aggregation.alignmentPeriod")
        if aligner != "ALIGN_NONE":
            if not period or not re.fullmatch(r"[0-9]+(\.[0-9]+)?s", period):
                raise ApiError(400, "timeSeries.list: an aligner needs aggregation.alignmentPeriod")
            if float(period[:-1]) < 60:
                raise ApiError(
                    400, "timeSeries.list: the alignment period must be at least 60 seconds"
                )
        if reducer != "REDUCE_NONE" and aligner == "ALIGN_NONE":
            raise ApiError(
                400, "timeSeries.list: a cross-series reducer needs a per-series aligner"
            )
        if kind == "prediction_latencies" and aligner not in ("ALIGN_DELTA", "ALIGN_NONE"):
            raise ApiError(400, f"timeSeries.list: {aligner} does not keep a distribution here")
        endpoint = terms.get("resource.labels.endpoint_id")
        latency_type = terms.get("metric.labels.latency_type")
        if latency_type not in (None, "model", "overhead", "total"):
            raise ApiError(400, f"timeSeries.list: latency_type {latency_type} is not written")
        chosen = [
            p
            for p in self.points
            if start <= p.at <= end and (endpoint is None or p.endpoint == endpoint)
        ]
        series = []
        for deployed in sorted({p.deployed for p in chosen}):
            mine = [p for p in chosen if p.deployed == deployed]
            series.append(
                {
                    "metric": {"type": metric, "labels": {"deployed_model_id": deployed}},
                    "resource": {
                        "type": RESOURCE,
                        "labels": {"endpoint_id": mine[0].endpoint, "resource_container": project},
                    },
                    "metricKind": "DELTA",
                    "valueType": KINDS[kind],
                    "points": [
                        {
                            "interval": {"startTime": rfc3339(start), "endTime": rfc3339(end)},
                            "value": _value(kind, mine),
                        }
                    ],
                }
            )
        return {"timeSeries": series}


def _value(kind: str, points: list[Point]) -> dict[str, Any]:
    if kind == "prediction_count":
        return {"int64Value": str(sum(p.requests for p in points))}
    if kind == "error_count":
        return {"int64Value": str(sum(p.errors for p in points))}
    latencies = [ms for p in points for ms in p.latency_ms]
    counts = [0] * (FINITE + 2)
    for ms in latencies:
        index = 0
        while index <= FINITE and ms > SCALE * GROWTH**index:
            index += 1
        counts[index] += 1
    while counts and counts[-1] == 0:
        counts.pop()  # trailing zeros left out, as the API may
    return {
        "distributionValue": {
            "count": str(len(latencies)),
            "mean": sum(latencies) / len(latencies) if latencies else 0,
            "bucketOptions": {
                "exponentialBuckets": {
                    "numFiniteBuckets": FINITE,
                    "growthFactor": GROWTH,
                    "scale": SCALE,
                }
            },
            "bucketCounts": [str(c) for c in counts],
        }
    }


def _document() -> str:
    from googleapiclient.discovery_cache import get_static_doc

    return get_static_doc("monitoring", "v3") or "{}"
