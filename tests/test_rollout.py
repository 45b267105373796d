"""Rollouts: the judgement of a step, what `mlapply serve` counts (and its Prometheus
page, read by prometheus-client's own parser), validation, the plan of a rollout
that starts, runs and was rolled back, on the local backend's real store."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
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
from tests.conftest import REPO
from tests.plan_scenarios import NOW, Scenario, rollout_started
from tests.plan_scenarios import ROLLOUT as ROLLOUT_TEXT

ROLLOUT = Rollout(
    (RolloutStep(10, 60.0), RolloutStep(50, 60.0), RolloutStep(100, 60.0)),
    RolloutGates(max_error_rate=0.01, max_latency_ms=(("p99", 200.0),), min_requests=100),
)


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
    s = Scenario(tmp_path, version_extra=ROLLOUT_TEXT)
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
    s = Scenario(tmp_path)
    old, new = rollout_started(s, now=NOW, served=_served(400, 2, 30))
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
        version = next(v for v in store.read("demo").versions if v.name == new)
        back = RolloutState(ROLLING, 0, NOW - 90, old)._replace(
            state=ROLLED_BACK,
            why="errors 9 % > 1 % over 400 requests",
            at=NOW - 60,
            by="apply (a gate failed)",
        )
        store.put_version(dataclasses.replace(version, spec=with_rollout(version.spec or {}, back)))
        store.set_traffic(version.model, {old: 100})
    finally:
        store.close()
    planned = s.plan()
    change = _change(planned.plan, "version.taxifare-v1")
    assert change is not None and change.action is Action.BLOCKED
    text = render_text(plan_to_json(planned.plan))
    assert f"{new} was rolled back 1 min ago by apply (a gate failed)" in text
    assert "errors 9 % > 1 %" in text and "mlapply rollout retry taxifare-v1" in text
    assert not planned.plan.converged, "a rolled-back version is not converged"


# End to end: real training, a real `mlapply serve` under load, real applies.

E2E_STACK = """
apiVersion: mlapply/v1
kind: Stack
metadata: {name: fares}
spec:
  backend: local
  local: {home: .mlapply}
  variables:
    steps: {default: 20}
    refuse: {default: 0}
---
apiVersion: mlapply/v1
kind: Dataset
metadata: {name: taxi}
spec: {train: data/taxi-train.csv, eval: data/taxi-valid.csv}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {name: fare}
spec: {source: ../trainer}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {name: fare-job}
spec:
  trainer: fare
  dataset: taxi
  hyperparameters: {train_steps: "${var.steps}", refuse_passengers_over: "${var.refuse}"}
---
apiVersion: mlapply/v1
kind: Model
metadata: {name: fare}
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata: {name: fare-v}
spec:
  model: fare
  source: {job: fare-job}
  default: true
  rollout:
    steps:
      - {traffic: 20, hold: 1s}
      - {traffic: 50, hold: 1s}
      - {traffic: 100, hold: 1s}
    gates: {maxErrorRate: 0.02, maxLatencyMs: {p99: 5000}, minRequests: 30}
"""
LOAD_SECONDS = 600  # the load generator's bound, whatever happens


@dataclasses.dataclass
class Answer:
    status: int
    version: str
    predictions: int


class LoadGenerator:
    """Clients on loopback sending predictions to the model's default route (no
    version named), one instance each, passengers 1 to 6; every answer is kept."""

    def __init__(self, url: str, clients: int = 3) -> None:
        self.url = f"{url}/v1/models/fare:predict"
        self.answers: list[Answer] = []
        self.failures: list[str] = []  # no HTTP answer at all: a lost request
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(clients)]
        self.started = time.monotonic()

    def __enter__(self) -> LoadGenerator:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _run(self, index: int) -> None:
        sent = 0
        while not self.stop.is_set() and time.monotonic() - self.started < LOAD_SECONDS:
            sent += 1
            passengers = 1 + (sent * 7 + index) % 6
            body = {
                "instances": [
                    {
                        "pickup_longitude": -73.98,
                        "pickup_latitude": 40.75,
                        "dropoff_longitude": -73.96,
                        "dropoff_latitude": 40.77,
                        "passenger_count": float(passengers),
                    }
                ]
            }
            request = urllib.request.Request(
                self.url,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    got = json.loads(response.read())
                    version = response.headers.get("X-Mlapply-Model-Version", "")
                    self.answers.append(Answer(200, version, len(got["predictions"])))
            except urllib.error.HTTPError as error:
                error.read()
                version = error.headers.get("X-Mlapply-Model-Version", "")
                self.answers.append(Answer(error.code, version, 0))
            except OSError as error:
                self.failures.append(repr(error))
            time.sleep(0.01)

    def since(self, mark: int) -> list[Answer]:
        return self.answers[mark:]


def _apply(manifests: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.cli, ["apply", str(manifests), "--auto-approve", *args])
    return result.exit_code, result.output


@pytest.mark.tensorflow
@pytest.mark.slow
def test_a_healthy_version_rolls_out_under_load_and_a_failing_one_is_rolled_back(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "tests" / "cases" / "refusing_trainer", repo / "trainer")
    manifests = repo / "manifests"
    (manifests / "data").mkdir(parents=True)
    for name in ("generate.py",):
        shutil.copy(REPO / "manifests" / "data" / name, manifests / "data" / name)
    subprocess.run(
        [sys.executable, str(manifests / "data" / "generate.py"), "--rows", "400"], check=True
    )
    (repo / ".git").mkdir()
    (manifests / "stack.yaml").write_text(E2E_STACK)
    code, output = _apply(manifests)
    assert code == 0, output

    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "reconciler.cli", "serve", str(manifests), "--port", "0"),
            *("--refresh-seconds", "0.2", "--figures-seconds", "0.3"),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
    )
    log.close()
    try:
        assert server.stdout is not None
        first_line = server.stdout.readline()
        assert first_line.startswith("Serving stack 'fares' on http://127.0.0.1:"), first_line
        url = first_line.split(" on ")[1].split()[0]
        with LoadGenerator(url) as load:
            deadline = time.monotonic() + 120
            while not load.answers and time.monotonic() < deadline:
                time.sleep(0.1)
            (v1,) = {a.version for a in load.answers}

            # A healthy version walks its steps to all the traffic in one apply.
            mark = len(load.answers)
            code, output = _apply(manifests, "--var", "steps=30", "--rollout-wait", "240s")
            assert code == 0, output
            assert "rolled out: it serves all the traffic (default)" in output, output
            time.sleep(1.0)  # the server follows the store within --refresh-seconds
            during = load.since(mark)
            v2 = during[-1].version
            assert v2 not in ("", v1)
            assert {a.version for a in during} == {v1, v2}
            assert all(a.status == 200 and a.predictions == 1 for a in during), [
                a for a in during if a.status != 200
            ][:3]
            # Once the default moved, only v2 answers.
            tail = load.since(len(load.answers) - 10)
            assert {a.version for a in tail} == {v2}

            # A version that fails trips with more than 4 passengers is sent back.
            mark = len(load.answers)
            code, output = _apply(
                manifests, "--var", "steps=30", "--var", "refuse=4", "--rollout-wait", "240s"
            )
            assert code == 1, output
            assert "rolled back at traffic 20 % -> 50 %: step 1 of 3: errors" in output, output
            time.sleep(1.0)
            during = load.since(mark)
            v3 = next(a.version for a in during if a.version not in (v2, ""))
            assert {a.version for a in during} == {v2, v3}
            assert all(a.status == 200 for a in during if a.version == v2)
            refused = [a for a in during if a.version == v3 and a.status != 200]
            assert refused and all(a.status == 400 for a in refused)
            tail = load.since(len(load.answers) - 10)
            assert {a.version for a in tail} == {v2}, "all traffic is back on v2"

            # The next apply keeps the rollback: the plan says so, and v2 keeps it all.
            mark = len(load.answers)
            code, output = _apply(manifests, "--var", "steps=30", "--var", "refuse=4")
            assert code == 1 and f"{v3} was rolled back" in output, output
            time.sleep(1.0)
            assert {a.version for a in load.since(mark)} == {v2}
        assert load.failures == [], load.failures[:3]
        assert len(load.answers) > 200
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
            families = {f.name: f for f in text_string_to_metric_families(response.read().decode())}
        errors = {s.labels["version"]: s.value for s in families["mlapply_predict_errors"].samples}
        assert errors[v3] > 0 and errors[v2] == 0 and errors[v1] == 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_rollout_undo_and_retry_are_shown_confirmed_and_kept(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    old, new = rollout_started(s, now=time.time(), served=_served(50, 0, 5))
    paths = str(s.root / "m")
    runner = CliRunner()
    refused = runner.invoke(cli.cli, ["rollout", "undo", "taxifare", paths])
    assert refused.exit_code == 1 and "--auto-approve" in refused.output, refused.output
    done = runner.invoke(cli.cli, ["rollout", "undo", "taxifare", paths, "--auto-approve"])
    assert done.exit_code == 0, done.output
    assert f"traffic {new} 10 %, {old} 90 % -> {old} 100 %" in done.output, done.output
    store = s.store
    try:
        snapshot = store.read("demo")
    finally:
        store.close()
    (model,) = snapshot.models
    assert model.traffic == {} and model.default_version == old, "all back on the default"
    rolled = next(v for v in snapshot.versions if v.name == new).rollout
    assert rolled is not None and rolled.state == ROLLED_BACK
    assert rolled.by is not None and rolled.by.startswith("mlapply rollout undo (")
    planned = s.plan(now=time.time())
    change = _change(planned.plan, "version.taxifare-v1")
    assert change is not None and change.action is Action.BLOCKED, "the next plan keeps it"

    again = runner.invoke(cli.cli, ["rollout", "undo", "taxifare", paths, "--auto-approve"])
    assert again.exit_code == 1 and f"{new} of model taxifare is rolled back already" in (
        again.output
    )
    retried = runner.invoke(cli.cli, ["rollout", "retry", "taxifare-v1", paths, "--auto-approve"])
    assert retried.exit_code == 0, retried.output
    store = s.store
    try:
        snapshot = store.read("demo")
    finally:
        store.close()
    assert snapshot.models[0].traffic == {new: 10, old: 90}
    state = next(v for v in snapshot.versions if v.name == new).rollout
    assert state is not None and state.state == ROLLING and state.step == 0
    change = _change(s.plan(now=time.time()).plan, "version.taxifare-v1")
    assert change is not None and change.action is Action.UPDATE and change.rollout is not None
