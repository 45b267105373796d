"""The plan's forecast: the estimator on recorded histories, prices, the budget at plan
and at apply, and what status says of past forecasts.

Histories are real live records in a real local store (each run a job record with
its start and end), planned by the real planner.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.apply.flow import ApplyOptions, converge
from reconciler.apply.saved import OverBudget, read_saved
from reconciler.backends.base import JobState, LiveJob, LiveTrial
from reconciler.backends.compiled import Pool, Role
from reconciler.backends.google import prices as google_prices
from reconciler.backends.google.tiers import TIERS
from reconciler.backends.local import LocalDriver
from reconciler.backends.local.store import TrialRow
from reconciler.backends.prices import HOURS_PER_MONTH, NodeHourPrices
from reconciler.backends.recorded import Forecasted, with_forecast
from reconciler.backends.registry import profile
from reconciler.cli import cli
from reconciler.kinds import load_stack
from reconciler.kinds.table import LIVE
from reconciler.plan import costing
from reconciler.plan.estimate import Point, estimate
from reconciler.plan.forecast import Basis, JobForecast, ServingForecast
from reconciler.render.annotations import labels
from reconciler.render.jsonplan import plan_to_json
from reconciler.render.status import forecast_errors, render_status, status_view
from tests.plan_scenarios import NOW, Scenario

JOB = "job.taxifare-dnn"


# The estimator ------------------------------------------------------------------------


def test_no_history_is_no_estimate() -> None:
    assert estimate([], 100) is None


def test_one_run_of_the_same_size_is_its_time_with_a_wide_weak_range() -> None:
    found = estimate([Point(100, 60)], 100)
    assert found is not None
    assert (found.seconds, found.low, found.high, found.weak) == (60, 30, 90, True)


def test_runs_of_several_sizes_fit_a_fixed_part_and_a_rate() -> None:
    points = [Point(w, 10 + 0.05 * w) for w in (100, 200, 300, 400)]
    found = estimate(points, 600)
    assert found is not None
    assert found.seconds == pytest.approx(40)
    assert not found.weak and not found.extrapolated
    assert found.low == pytest.approx(40 * 0.85) and found.high == pytest.approx(40 * 1.15)


def test_one_slow_run_moves_neither_the_fit_nor_the_range_much() -> None:
    points = [Point(w, 10 + 0.05 * w) for w in (100, 200, 300, 400, 500)]
    points.append(Point(300, 250))  # a run stalled behind something else
    found = estimate(points, 600)
    assert found is not None
    assert found.seconds == pytest.approx(40, rel=0.05)
    assert found.high < 60  # the outlier's ratio is left out of the range


def test_runs_of_one_size_span_all_fixed_to_all_proportional_and_say_it_is_weak() -> None:
    found = estimate([Point(100, 50), Point(100, 70), Point(100, 60)], 200)
    assert found is not None and found.weak
    assert found.seconds == pytest.approx(60 * 2**0.5)
    assert found.low == pytest.approx(60 * 0.85) and found.high == pytest.approx(120 * 1.15)


def test_far_beyond_the_sizes_seen_is_an_extrapolation() -> None:
    points = [Point(w, 10 + 0.05 * w) for w in (100, 200, 300)]
    found = estimate(points, 3000)
    assert found is not None and found.extrapolated and found.weak


# Prices -----------------------------------------------------------------------------


def test_the_google_tiers_are_priced_from_the_list() -> None:
    vertex = google_prices.VERTEX
    basic = vertex.training(TIERS["BASIC"], "us-central1")
    assert basic.hourly == pytest.approx(0.2185, abs=1e-4)  # the pricing page's n1-standard-4
    gpu = vertex.training(TIERS["BASIC_GPU"], "us-central1")
    assert gpu.hourly == pytest.approx(0.4370 + 0.4025, abs=1e-3)
    assert vertex.training(TIERS["BASIC"], "europe-west4").missing == (
        "Vertex AI list prices has no prices for region europe-west4 "
        "(it lists us-central1, us-east1, us-west1)"
    )
    assert vertex.training(TIERS["BASIC_TPU"], "us-central1").missing == (
        "Vertex AI list prices has no price for cloud-tpu"
    )
    serving = vertex.serving("n1-standard-2", 2, "us-central1")
    assert serving.hourly == pytest.approx(2 * 0.1093, abs=1e-3)
    assert google_prices.MLENGINE.scales_to_zero and not vertex.scales_to_zero


def test_a_node_hour_price_counts_a_ray_job_by_its_replicas_and_a_local_one_once() -> None:
    pools = (Pool(Role.CHIEF, 1, "2 CPUs"), Pool(Role.WORKER, 3, "2 CPUs"))
    ray = NodeHourPrices(1.5, profile("ray").job_nodes)
    local = NodeHourPrices(1.5, profile("local").job_nodes)
    assert ray.training(pools, "anywhere").hourly == pytest.approx(6.0)
    assert local.training(pools, "anywhere").hourly == pytest.approx(1.5)


# The job's forecast, from the store's history ----------------------------------------


def _run(
    s: Scenario,
    seconds: float,
    *,
    start: float,
    trials: tuple[LiveTrial, ...] = (),
    state: JobState = JobState.SUCCEEDED,
    **params: Any,
) -> str:
    """Configure the manifests, then record their job as run for ``seconds``."""
    s.configure(**params)
    want = s.plan(now=start).desired.resources[JOB]
    store = s.store
    try:
        store.put_job(
            LiveJob(
                want.live_name,
                want.live_labels("demo"),
                state,
                create_time=start,
                start_time=start,
                end_time=None if state.active else start + seconds,
                spec=want.record(),
            )
        )
        for trial in trials:  # a local study's trials are rows of their own
            row = f"{want.live_name}-trial-{trial.id}"
            store.put_trial(TrialRow(row, want.live_name, "demo", trial.id, trial.params))
            store.update_trial(
                row, state=trial.state, start_time=trial.start_time, end_time=trial.end_time
            )
    finally:
        store.close()
    return want.live_name


def _forecast(s: Scenario, **params: Any) -> JobForecast:
    s.configure(**params)
    change = next(c for c in s.plan(now=NOW + 10_000).plan.changes if c.address == JOB)
    assert isinstance(change.forecast, JobForecast)
    return change.forecast


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return Scenario(tmp_path, with_model=False)


def test_a_first_run_says_so(scenario: Scenario) -> None:
    found = _forecast(scenario, train_steps=100)
    assert (found.basis, found.basis_text, found.seconds) == (
        Basis.NONE,
        "no history: first run",
        None,
    )


def test_four_past_runs_of_the_job_forecast_a_fifth_of_more_steps(scenario: Scenario) -> None:
    for i, steps in enumerate((100, 200, 300, 400)):
        _run(scenario, 10 + 0.05 * steps, start=NOW + i * 100, train_steps=steps)
    found = _forecast(scenario, train_steps=600)
    assert found.basis is Basis.MANIFEST
    assert found.seconds == pytest.approx(40)
    assert found.basis_text == "4 past runs of taxifare-dnn on BASIC, train_steps 2.4x larger"
    assert not found.weak


def test_runs_on_other_machines_are_a_weak_basis(scenario: Scenario) -> None:
    _run(scenario, 100, start=NOW, train_steps=100)
    found = _forecast(scenario, train_steps=100, job_extra="scaleTier: STANDARD_1")
    assert found.basis is Basis.OTHER_MACHINES and found.weak
    assert found.basis_text == "1 past run of taxifare-dnn on other machines"


def test_another_job_of_the_same_trainer_on_the_same_machines_is_a_basis(tmp_path: Path) -> None:
    other = Scenario(tmp_path, with_model=False)
    _run(other, 80, start=NOW, train_steps=100)
    # The same stack, the job renamed: history of the trainer, not of this manifest.
    text = (other.root / "m" / "stack.yaml").read_text()
    (other.root / "m" / "stack.yaml").write_text(text.replace("name: taxifare-dnn", "name: wide"))
    result = load_stack([str(other.root / "m")])
    assert result.stack is not None
    from reconciler.apply.planning import make_plan

    planned = make_plan(result.stack, LocalDriver(result.stack.settings.home), now=NOW + 500)
    change = next(c for c in planned.plan.changes if c.address == "job.wide")
    assert isinstance(change.forecast, JobForecast)
    assert change.forecast.basis is Basis.TRAINER
    assert change.forecast.basis_text == "1 past run of trainer taxifare on BASIC"
    assert change.forecast.seconds == pytest.approx(80)


STUDY = (
    "hyperparameterTuning:\n"
    "  metric: rmse\n  goal: MINIMIZE\n  maxTrials: {trials}\n  maxParallelTrials: 1\n"
    "  enableEarlyStopping: {stopping}\n"
    "  params:\n  - {{name: dropout, type: DOUBLE, min: 0.0, max: 0.5}}\n"
)


def test_a_first_study_is_forecast_in_rounds_as_long_as_a_run(scenario: Scenario) -> None:
    _run(scenario, 30, start=NOW, train_steps=100)
    study = STUDY.format(trials=4, stopping="false")
    found = _forecast(scenario, train_steps=100, job_extra=study)
    assert found.seconds == pytest.approx(4 * 30) and found.weak
    assert found.basis_text == (
        "1 past run of taxifare-dnn on BASIC; 4 trials, 1 at a time: 4 rounds, each as "
        "long as a run (a study's own overhead is not known yet)"
    )


def test_a_study_is_forecast_by_the_rounds_of_past_studies(scenario: Scenario) -> None:
    _run(scenario, 30, start=NOW, train_steps=100)  # a single run: not the basis of a study
    trials = tuple(
        LiveTrial(str(i), {"dropout": 0.1 * i}, "STOPPED" if i == 2 else "SUCCEEDED", 1.0)
        for i in range(1, 5)
    )
    study = STUDY.format(trials=4, stopping="true")
    _run(scenario, 100, start=NOW + 100, trials=trials, train_steps=100, job_extra=study)
    found = _forecast(scenario, train_steps=100, job_extra=study.replace("4", "6", 1))
    assert found.seconds == pytest.approx(6 * 25)  # 100 s for 4 rounds: 25 s a round
    assert found.basis_text == (
        "1 past study of taxifare-dnn on BASIC; 6 trials, 1 at a time: 6 rounds "
        "(early stopping: 1 past trial stopped early, at the time they ran)"
    )


def test_a_running_job_has_the_time_it_has_left(scenario: Scenario) -> None:
    for i, steps in enumerate((100, 200, 300)):
        _run(scenario, 10 + 0.05 * steps, start=NOW + i * 100, train_steps=steps)
    _run(scenario, 0, start=NOW + 10_000 - 15, state=JobState.RUNNING, train_steps=500)
    found = _forecast(scenario, train_steps=500)
    assert found.seconds == pytest.approx(35)
    assert found.running == pytest.approx(15) and found.left == pytest.approx(20)


# Cost and the budget -------------------------------------------------------------------

PRICED = "prices: {nodeHour: 36.0}"  # a cent a second: easy figures


def _priced_history(s: Scenario) -> None:
    """Runs of 100 and 200 steps that took a second a step: 300 steps cost $3.00."""
    _run(s, 100, start=NOW, train_steps=100, stack_extra=PRICED)
    _run(s, 200, start=NOW + 200, train_steps=200)


def test_a_priced_plan_costs_each_job_and_totals_them(scenario: Scenario) -> None:
    _priced_history(scenario)
    planned = scenario.plan(now=NOW + 500)
    change = next(c for c in planned.plan.changes if c.address == JOB)
    assert change.forecast is None  # up to date: nothing to forecast
    scenario.configure(train_steps=300)
    planned = scenario.plan(now=NOW + 500)
    change = next(c for c in planned.plan.changes if c.address == JOB)
    assert isinstance(change.forecast, JobForecast)
    assert change.forecast.cost == pytest.approx(3.0)  # 300 s at $0.01 a second
    assert planned.plan.cost is not None and planned.plan.cost.training == pytest.approx(3.0)
    assert not planned.plan.over_budget


@pytest.mark.parametrize(
    ("budget", "limit"),
    [("perJob: 2.5", "perJob"), ("perApply: 2.0", "perApply")],
)
def test_a_plan_over_budget_says_which_change_and_by_how_much(
    scenario: Scenario, budget: str, limit: str
) -> None:
    _priced_history(scenario)
    scenario.configure(train_steps=300, stack_extra=f"{PRICED}\nbudget: {{{budget}}}")
    plan = scenario.plan(now=NOW + 500).plan
    assert plan.over_budget and plan.cost is not None
    (overrun,) = plan.cost.overruns
    assert (overrun.limit, overrun.addresses) == (limit, (JOB,))
    assert overrun.excess == pytest.approx(3.0 - float(budget.split(": ")[1]))
    assert overrun.where.endswith("stack.yaml:7:11")  # spec.budget
    document = plan_to_json(plan)
    assert document["summary"]["over_budget"] is True
    assert "add mlapply:over-budget" in labels(document)


def test_max_cost_is_a_limit_beside_the_budget(scenario: Scenario) -> None:
    _priced_history(scenario)
    scenario.configure(train_steps=300)
    plan = scenario.plan(now=NOW + 500, max_cost=2.0).plan
    assert [o.limit for o in plan.cost.overruns] == ["--max-cost"] if plan.cost else False
    allowed = scenario.plan(now=NOW + 500, max_cost=2.0, allow_over_budget=True).plan
    assert not allowed.over_budget and allowed.cost is not None and allowed.cost.override


def test_serving_is_priced_per_month_and_its_budget_checked(tmp_path: Path) -> None:
    """The ModelVersion's forecast on Vertex AI's price list (the costing of the real plan
    made here, priced as that backend prices it)."""
    s = Scenario(tmp_path, canary=True, stack_extra="budget: {servingPerMonth: 200}")
    planned = s.plan()
    plan = costing.cost(
        planned.plan,
        planned.desired,
        planned.live,
        google_prices.VERTEX,
        profile("vertex"),
        LIVE,
    )
    canary = next(c for c in plan.changes if c.address == "version.taxifare-canary")
    v1 = next(c for c in plan.changes if c.address == "version.taxifare-v1")
    assert isinstance(canary.forecast, ServingForecast) and isinstance(v1.forecast, ServingForecast)
    n1_standard_4 = google_prices.VERTEX.machine("n1-standard-4") or 0.0
    assert canary.forecast.monthly == pytest.approx(n1_standard_4 * HOURS_PER_MONTH)
    assert canary.forecast.shape == "1 x n1-standard-4"
    assert plan.cost is not None and plan.cost.serving_before == 0.0
    after = plan.cost.serving_after or 0.0
    assert after == pytest.approx((canary.forecast.monthly or 0) + (v1.forecast.monthly or 0))
    assert [o.limit for o in plan.cost.overruns] == ["servingPerMonth"]


def test_apply_refuses_a_plan_over_budget_before_starting_anything(scenario: Scenario) -> None:
    _priced_history(scenario)
    scenario.configure(train_steps=300, stack_extra=f"{PRICED}\nbudget: {{perJob: 2.5}}")
    manifests = str(scenario.root / "m")
    runner = CliRunner()
    done = runner.invoke(cli, ["plan", manifests, "--detailed-exitcode"])
    assert done.exit_code == 4, done.output
    assert "Over budget: spec.budget.perJob $2.50" in done.output
    done = runner.invoke(cli, ["apply", manifests, "--auto-approve"])
    assert done.exit_code == 4, done.output
    assert (
        "the plan is over budget: spec.budget.perJob $2.50 (stack.yaml:7:11): "
        "job.taxifare-dnn ≈ $3.00, $0.50 over; nothing was started"
    ) in done.output
    store = scenario.store
    try:
        assert len(store.read("demo").jobs) == 2  # the history; nothing submitted
    finally:
        store.close()


def test_an_override_in_the_reviewed_plan_lets_apply_go_on(scenario: Scenario) -> None:
    _priced_history(scenario)
    scenario.configure(train_steps=300, stack_extra=f"{PRICED}\nbudget: {{perJob: 2.5}}")
    saved = scenario.root / "plan.json"
    runner = CliRunner()
    done = runner.invoke(
        cli, ["plan", str(scenario.root / "m"), "--allow-over-budget", "-o", str(saved)]
    )
    assert done.exit_code == 0, done.output
    assert "(allowed: --allow-over-budget)" in done.output
    assert read_saved(str(saved)).allow_over_budget
    result = load_stack([str(scenario.root / "m")])
    assert result.stack is not None
    backend = LocalDriver(result.stack.settings.home)

    def apply(options: ApplyOptions) -> None:
        converge(
            result.stack,  # type: ignore[arg-type]
            backend,
            options,
            show=lambda planned: None,
            confirm=lambda: False,  # stop where apply would ask: past the budget check
            on_event=lambda event: None,
            note=lambda text: None,
        )

    with pytest.raises(OverBudget):
        apply(ApplyOptions())
    apply(ApplyOptions(allow_over_budget=True))  # the saved plan's override: no refusal


# What ran against what was forecast ----------------------------------------------------


def test_status_sets_each_forecast_against_what_happened(scenario: Scenario) -> None:
    for i, (said, ran) in enumerate([(100, 110), (100, 90), (50, 75)]):
        name = _run(scenario, ran, start=NOW + i * 1000, train_steps=100 + i)
        store = scenario.store
        try:
            job = next(j for j in store.read("demo").jobs if j.name == name)
            kept = with_forecast(job.spec or {}, Forecasted(said, said * 0.8, said * 1.2, "x"))
            store.put_job(LiveJob(**{**job.__dict__, "spec": kept}))
            snapshot = store.read("demo")
        finally:
            store.close()
    view = status_view("demo", "local", snapshot, {}, NOW + 5000)
    summary = forecast_errors(view["jobs"])
    assert summary["runs"] == 3 and summary["within"] == 2
    assert summary["median_error"] == pytest.approx(0.1) and summary["worst"] == pytest.approx(0.5)
    text = render_status(view)
    assert "forecast 50 s (40 s to 1 min): ran 50% longer" in text
    assert "Forecasts: 3 finished runs had one; median error 10%, 2 of 3 within 25%" in text


def test_a_submitted_job_keeps_the_plan_s_forecast_in_its_record() -> None:
    kept = with_forecast({"format": 1}, Forecasted(60.0, 40.0, 90.0, "3 past runs", 0.5))
    assert Forecasted.read(json.loads(json.dumps(kept))["forecast"]) == Forecasted(
        60.0, 40.0, 90.0, "3 past runs", 0.5
    )


def test_spec_prices_is_refused_where_the_backend_has_a_price_list(tmp_path: Path) -> None:
    gcp = "gcp: {project: my-project, region: us-central1, stagingBucket: gs://my-bucket}"
    s = Scenario(tmp_path, stack_extra=f"backend: vertex\n{gcp}\nprices: {{nodeHour: 1}}")
    result = load_stack([str(s.root / "m")])
    said = [d.render() for d in result.diagnostics if d.is_error]
    assert any(
        "backend vertex prices from its own list (Vertex AI list prices" in line
        and "stack.yaml:8:" in line
        for line in said
    ), said
