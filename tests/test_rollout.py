"""Rollouts: the judgement of a step, what `mlapply serve` counts (and its Prometheus
page, read by prometheus-client's own parser), validation, the plan of a rollout
that starts, runs and was rolled back, on the local backend's real store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from reconciler import cli
from reconciler.backends.recorded import ROLLED_BACK, ROLLING, RolloutState, with_rollout
from reconciler.backends.served import LATENCY_BOUNDS_MS, Served, bucket_of
from reconciler.kinds.modelversion.rollout import Move, judge
from reconciler.plan.model import Action, Change, Plan
from reconciler.render.jsonplan import plan_to_json
from reconciler.render.text import render_text
from reconciler.serving.catalog import DeployedModel
from reconciler.serving.counting import Counters
from reconciler.stack.resources import Rollout, RolloutGates, RolloutStep
from tests.plan_scenarios import NOW, Scenario

ROLLOUT = Rollout(
    (RolloutStep(10, 60.0), RolloutStep(50, 60.0), RolloutStep(100, 60.0)),
    RolloutGates(max_error_rate=0.01, max_latency_ms=(("p99", 200.0),), min_requests=100),
)
MANIFEST_ROLLOUT = """rollout:
  steps:
    - {traffic: 10, hold: 1m}
    - {traffic: 50, hold: 1m}
    - {traffic: 100, hold: 1m}
  gates: {maxErrorRate: 0.01, maxLatencyMs: {p99: 200}, minRequests: 100}
"""


def _served(requests: int, errors: int, ms: float) -> Served:
    latency = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    latency[bucket_of(ms)] = requests
    return Served(requests, errors, tuple(latency))


def test_a_step_waits_for_requests_then_moves_on_once_held_and_a_failed_gate_rolls_back() -> None:
    state = RolloutState(ROLLING, 0, NOW, "v1")
    few = judge(ROLLOUT, state, _served(30, 10, 5), NOW + 600)
    assert few.move is Move.HOLD, "30 requests prove nothing, even at a third failed"
    assert "30 of 100 requests the gates need" in few.text
    early = judge(ROLLOUT, state, _served(500, 1, 5), NOW + 10)
    assert early.move is Move.HOLD and "held 10 s of 1 min" in early.text
    good = judge(ROLLOUT, state, _served(500, 1, 5), NOW + 61)
    assert good.move is Move.ADVANCE
    assert good.where == "traffic 10 % -> 50 %: step 1 of 3"
    assert "errors 0.2 % <= 1 %" in good.text and "over 500 requests" in good.text
    bad = judge(ROLLOUT, state, _served(500, 50, 5), NOW + 5)
    assert bad.move is Move.ROLL_BACK, "a gate that fails does not wait for the hold"
    assert bad.failed == "errors 10 % > 1 % over 500 requests"
    slow = judge(ROLLOUT, state, _served(500, 0, 400), NOW + 61)
    assert slow.move is Move.ROLL_BACK and slow.failed is not None and "p99" in slow.failed
    last = judge(ROLLOUT, state._replace(step=2), _served(500, 0, 5), NOW + 61)
    assert last.where == "traffic 100 %: step 3 of 3, the last"


def test_percentiles_interpolate_within_their_bucket_as_prometheus_does() -> None:
    # 100 requests, all in the (10, 20] ms bucket: p50 is half way through it.
    figures = _served(100, 0, 15)
    assert figures.percentile("p50") == pytest.approx(15.0)
    assert figures.percentile("p99") == pytest.approx(19.9)
    assert Served().percentile("p99") is None
    both = figures + _served(100, 3, 1500)
    assert both.requests == 200 and both.errors == 3
    assert both.percentile("p99") == pytest.approx(
        1980.0
    )  # rank 198: 98 % of the way through (1000, 2000]


def test_serve_counts_per_version_and_its_metrics_page_parses_as_prometheus() -> None:
    counters = Counters()
    for seconds, failed in [(0.004, False), (0.03, False), (0.03, True)]:
        counters.tally("fare", "fare_v2").add(seconds, failed)
    counters.tally("fare", 'odd"name').add(0.001, False)
    page = counters.exposition({"fare": {"fare_v1": 90, "fare_v2": 10}})
    families = {f.name: f for f in text_string_to_metric_families(page)}
    requests = {s.labels["version"]: s.value for s in families["mlapply_predict_requests"].samples}
    assert requests == {"fare_v2": 3, 'odd"name': 1}
    (errors,) = [
        s.value
        for s in families["mlapply_predict_errors"].samples
        if s.labels["version"] == "fare_v2"
    ]
    assert errors == 1
    buckets = {
        s.labels["le"]: s.value
        for s in families["mlapply_predict_latency_seconds"].samples
        if s.name.endswith("_bucket") and s.labels["version"] == "fare_v2"
    }
    assert buckets["0.005"] == 1 and buckets["0.05"] == 3 and buckets["+Inf"] == 3
    traffic = {s.labels["version"]: s.value for s in families["mlapply_traffic_percent"].samples}
    assert traffic == {"fare_v1": 90, "fare_v2": 10}
    # What the store is given: each version's figures since the last time, once.
    first = {(m, v): f for m, v, f in counters.unkept()}
    assert first[("fare", "fare_v2")].requests == 3 and first[("fare", "fare_v2")].errors == 1
    assert counters.unkept() == []
    counters.tally("fare", "fare_v2").add(0.002, False)
    ((_, _, again),) = counters.unkept()
    assert again.requests == 1 and again.errors == 0 and sum(again.latency) == 1


def test_requests_that_name_no_version_follow_the_split_else_the_default() -> None:
    model = DeployedModel("fare", "fare", "v1", {"v1": "/a", "v2": "/b"}, {"v1": 90, "v2": 10})
    assert model.routes() == (("v1", "/a", 90), ("v2", "/b", 10))
    alone = dataclasses.replace(model, traffic={})
    assert alone.routes() == (("v1", "/a", 100),)
    gone = dataclasses.replace(model, traffic={"v1": 50, "v3": 50})
    assert gone.routes() == (("v1", "/a", 50),), "a version not deployed takes nothing"


@pytest.mark.parametrize(
    ("backend", "extra", "message"),
    [
        (
            "mlengine",
            "",
            "backend mlengine cannot roll out in steps: Cloud ML Engine sends all of a "
            "model's requests to its default version",
        ),
        ("local", "steps50", "a rollout ends with the version taking all of it"),
        ("local", "falling", "no more than the step before (50 %)"),
        ("local", "not-default", "this version is not the default"),
    ],
)
def test_a_rollout_that_cannot_run_is_one_error_at_its_line(
    tmp_path: Path, backend: str, extra: str, message: str
) -> None:
    steps = {
        "steps50": "    - {traffic: 50}\n",
        "falling": "    - {traffic: 50}\n    - {traffic: 20}\n    - {traffic: 100}\n",
    }.get(extra, "    - {traffic: 10}\n    - {traffic: 100}\n")
    stack = {
        "local": "",
        "mlengine": (
            "spec:\n  backend: mlengine\n  gcp: {project: demo-project, region: us-central1, "
            "stagingBucket: gs://demo-staging}\n"
        ),
    }[backend]
    default = "false" if extra == "not-default" else "true"
    (tmp_path / "m.yaml").write_text(
        "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: demo}\n"
        + stack
        + "---\napiVersion: mlapply/v1\nkind: Model\nmetadata: {name: fare}\n"
        + "---\napiVersion: mlapply/v1\nkind: ModelVersion\nmetadata: {name: fare-v1}\n"
        + f"spec:\n  model: fare\n  source: {{uri: ./saved}}\n  default: {default}\n"
        + "  rollout:\n    steps:\n"
        + steps
    )
    result = CliRunner().invoke(cli.cli, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert message in result.output, result.output
    assert "m.yaml:" in result.output and "Traceback" not in result.output


def _change(plan: Plan, address: str) -> Change | None:
    return next((c for c in plan.changes if c.address == address), None)


def _rolling_world(tmp_path: Path) -> Scenario:
    """v1 serves; the manifests now train v2, which rolls out."""
    s = Scenario(tmp_path, version_extra=MANIFEST_ROLLOUT)
    s.apply(now=NOW - 3600)
    s.configure(learning_rate=0.02)
    return s


def test_a_new_default_with_a_rollout_plans_its_steps_and_keeps_the_old_one(
    tmp_path: Path,
) -> None:
    s = _rolling_world(tmp_path)
    planned = s.plan()
    change = _change(planned.plan, "version.taxifare-v1")
    assert change is not None and change.action is Action.REPLACE
    assert change.rollout is not None and change.rollout.state == "planned"
    assert change.rollout.steps == (10, 50, 100)
    text = render_text(plan_to_json(planned.plan))
    assert "rolls out: 10 % for 1 min -> 50 % for 1 min -> 100 % for 1 min" in text
    assert "once the new version holds all the traffic" in text
    assert plan_to_json(planned.plan)["changes"]


def test_a_rollout_under_way_shows_its_step_and_figures_and_a_rollback_blocks(
    tmp_path: Path,
) -> None:
    s = _rolling_world(tmp_path)
    store = s.store
    try:
        (first,) = store.read("demo").versions
    finally:
        store.close()
    s.apply(now=NOW - 120)  # v2 deployed; v1 put back beside it, still the default
    store = s.store
    try:
        store.put_version(first)
        store.set_default(first.model, first.name)
        snapshot = store.read("demo")
        (model,) = snapshot.models
        old = first.name
        new = next(v for v in snapshot.versions if v.name != old)
        state = RolloutState(ROLLING, 0, NOW - 90, old)
        store.put_version(dataclasses.replace(new, spec=with_rollout(new.spec or {}, state)))
        store.set_traffic(model.name, {old: 90, new.name: 10})
        store.add_served("demo", [(model.name, new.name, NOW - 30, _served(400, 2, 30))])
    finally:
        store.close()
    planned = s.plan()
    change = _change(planned.plan, "version.taxifare-v1")
    assert change is not None and change.action is Action.UPDATE
    assert change.rollout is not None and change.rollout.step == 1
    assert change.rollout.requests == 400 and change.rollout.next == "advance"
    text = render_text(plan_to_json(planned.plan))
    assert "rollout traffic 10 % -> 50 %: step 1 of 3; held 2 min of 1 min" in text
    assert "errors 0.5 % <= 1 %, p99 50 ms <= 200 ms over 400 requests" in text
    assert "apply moves it to 50 %" in text
    document = plan_to_json(planned.plan)
    (shown,) = [c for c in document["changes"] if c.get("rollout")]
    assert shown["rollout"]["requests"] == 400 and shown["rollout"]["next"] == "advance"

    store = s.store
    try:
        new = next(v for v in store.read("demo").versions if v.name == new.name)
        back = state._replace(
            state=ROLLED_BACK,
            why="errors 9 % > 1 % over 400 requests",
            at=NOW - 60,
            by="apply (a gate failed)",
        )
        store.put_version(dataclasses.replace(new, spec=with_rollout(new.spec or {}, back)))
        store.set_traffic(model.name, {old: 100})
    finally:
        store.close()
    planned = s.plan()
    change = _change(planned.plan, "version.taxifare-v1")
    assert change is not None and change.action is Action.BLOCKED
    text = render_text(plan_to_json(planned.plan))
    assert f"{new.name} was rolled back 1 min ago by apply (a gate failed)" in text
    assert "errors 9 % > 1 %" in text and "mlapply rollout retry taxifare-v1" in text
    assert not planned.plan.converged, "a rolled-back version is not converged"
