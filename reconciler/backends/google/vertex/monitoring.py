"""What Vertex AI endpoints served, from Cloud Monitoring (``monitoring`` v3,
``projects.timeSeries.list``), for a rollout's gates.

Vertex AI writes each endpoint's online predictions as metrics of the monitored
resource ``aiplatform.googleapis.com/Endpoint`` (labelled ``endpoint_id``), each
series labelled by ``deployed_model_id``: ``prediction/online/prediction_count``
and ``prediction/online/error_count`` (DELTA, INT64) and
``prediction/online/prediction_latencies`` (DELTA, DISTRIBUTION, milliseconds)
(cloud.google.com/monitoring/api/metrics_gcp_a_b#gcp-aiplatform and
cloud.google.com/vertex-ai/docs/general/monitoring-metrics, checked 2026-12-07
as far as their pages could be read: the metric and label names, not every
column). One list per metric over the step's time: aligned by ``ALIGN_DELTA``
over one period as long as the step (at least the 60 s the API requires of
``aggregation.alignmentPeriod``), summed per deployment by ``REDUCE_SUM`` grouped
by ``metric.label.deployed_model_id`` (the discovery document's Aggregation).
Cloud Monitoring counts predictions (instances), so the error rate is errors per
prediction, as the console's "prediction error percentage" is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.backends.google.paging import list_all
from reconciler.backends.google.times import rfc3339, seconds
from reconciler.backends.google.vertex import bodies
from reconciler.backends.google.vertex.endpoints import VertexEndpoints
from reconciler.backends.served import Served, total

METRIC = "aiplatform.googleapis.com/prediction/online/"
RESOURCE = "aiplatform.googleapis.com/Endpoint"
LATENCY_KIND = "total"  # prediction_latencies' latency_type: model, overhead or total
MIN_ALIGNMENT_SECONDS = 60


class VertexMonitoring(VertexEndpoints):
    """The endpoints' traffic (``set_traffic``) and what their deployments served."""

    def monitoring(self) -> Any:
        return self.service("monitoring", version="v3")

    def served(
        self, stack: str, model: str, versions: Sequence[str], since: float
    ) -> Mapping[str, Served]:
        """One period as long as the step so far: its points, added up."""
        series = self.served_series(stack, model, versions, since, time.time() - since)
        found = {name: total([f for _, f in points]) for name, points in series.items()}
        return {name: f for name, f in found.items() if f.requests}

    def served_series(
        self, stack: str, model: str, versions: Sequence[str], since: float, step: float
    ) -> Mapping[str, Sequence[tuple[float, Served]]]:
        """Aligned by ``step`` (at least the 60 s the API allows): a point per step and
        deployment, each metric's points added into it."""
        endpoint = self._endpoint(model) or {}
        names = {
            str(d.get("id")): str(d.get("displayName"))
            for d in endpoint.get("deployedModels", [])
            if d.get("displayName") in versions
        }
        if not names:
            return {}
        period = max(MIN_ALIGNMENT_SECONDS, math.ceil(step))
        end = time.time()
        slots: dict[str, dict[float, Served]] = {}
        for kind, figures in KINDS.items():
            for deployed, points in self._series(model, kind, since, end, period).items():
                name = names.get(deployed)
                if name is None:
                    continue
                mine = slots.setdefault(name, {})
                for point in points:
                    at = seconds(point.get("interval", {}).get("startTime")) or since
                    mine[at] = mine.get(at, Served()) + figures(point)
        return {name: sorted(found.items()) for name, found in slots.items()}

    def _series(
        self, model: str, kind: str, start: float, end: float, period: int
    ) -> dict[str, list[Mapping[str, Any]]]:
        """Points of one metric of the model's endpoint, by deployed model id."""
        terms = [
            f'metric.type = "{METRIC}{kind}"',
            f'resource.type = "{RESOURCE}"',
            f'resource.labels.endpoint_id = "{bodies.endpoint_id(model)}"',
        ]
        if kind == "prediction_latencies":
            terms.append(f'metric.labels.latency_type = "{LATENCY_KIND}"')
        series = list_all(
            self.caller,
            self.monitoring().projects().timeSeries(),
            f"read {kind} of endpoint {model}",
            "timeSeries",
            name=f"projects/{self.project}",
            filter=" AND ".join(terms),
            **{
                "interval_startTime": rfc3339(start),
                "interval_endTime": rfc3339(end),
                "aggregation_alignmentPeriod": f"{period}s",
                "aggregation_perSeriesAligner": "ALIGN_DELTA",
                "aggregation_crossSeriesReducer": "REDUCE_SUM",
                "aggregation_groupByFields": "metric.label.deployed_model_id",
            },
        )
        found: dict[str, list[Mapping[str, Any]]] = {}
        for one in series:
            deployed = str(one.get("metric", {}).get("labels", {}).get("deployed_model_id", ""))
            found.setdefault(deployed, []).extend(one.get("points", []))
        return found


def _integer(point: Mapping[str, Any]) -> int:
    value = point.get("value", {})
    return int(value.get("int64Value", 0) or value.get("doubleValue", 0) or 0)


def _distribution(point: Mapping[str, Any]) -> Served:
    """A Distribution point as a latency histogram (``Served.latency``): its bucket
    options' upper bounds, the underflow bucket folded into the first."""
    value = point.get("value", {}).get("distributionValue", {})
    counts = [int(c) for c in value.get("bucketCounts", [])]
    bounds = _bounds(value.get("bucketOptions", {}))
    if not counts or not bounds:
        return Served()
    # Buckets: underflow (< bounds[0]), then [bounds[i-1], bounds[i]), then overflow;
    # bucketCounts may leave trailing zeros out.
    counts += [0] * (len(bounds) + 1 - len(counts))
    return Served(latency=tuple(counts[: len(bounds) + 1]), bounds=tuple(bounds))


def _bounds(options: Mapping[str, Any]) -> list[float]:
    """The finite bucket bounds of a Distribution's BucketOptions (discovery document)."""
    if "explicitBuckets" in options:
        return [float(b) for b in options["explicitBuckets"].get("bounds", [])]
    if "exponentialBuckets" in options:
        spec = options["exponentialBuckets"]
        count = int(spec.get("numFiniteBuckets", 0))
        scale, growth = float(spec.get("scale", 1)), float(spec.get("growthFactor", 2))
        return [scale * growth**i for i in range(count + 1)]
    if "linearBuckets" in options:
        spec = options["linearBuckets"]
        count = int(spec.get("numFiniteBuckets", 0))
        offset, width = float(spec.get("offset", 0)), float(spec.get("width", 1))
        return [offset + width * i for i in range(count + 1)]
    return []


KINDS: dict[str, Callable[[Mapping[str, Any]], Served]] = {
    "prediction_count": lambda point: Served(requests=_integer(point)),
    "error_count": lambda point: Served(errors=_integer(point)),
    "prediction_latencies": _distribution,
}
"""The metrics read, and what a point of each adds to a version's figures."""
