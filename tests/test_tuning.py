"""Hyperparameter tuning and metric gates: the search, the study's rules and the gates
(pure), then real local studies end to end: real trainer processes speaking the
cloudml-hypertune protocol, the real store, a study killed mid-way and resumed,
and a gate that holds a bad model back and lets a good one through."""

from __future__ import annotations

import json
import math
import os
import signal
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.backends.base import LiveTrial
from reconciler.backends.local import LocalStore
from reconciler.backends.local.store import TrialRow
from reconciler.stack.resources import Gate, Tuning, TuningParameter
from reconciler.tuning import gates, search
from reconciler.tuning.hypertune import Measurement, measurements
from reconciler.tuning.study import Trial, best, outcome, to_stop

# A trainer written the way Cloud ML Engine's tuning samples were: argparse flags,
# cloudml-hypertune for the metric, the trial from the environment.
TASK = """
import argparse, json, math, os, sys, time
import hypertune

parser = argparse.ArgumentParser()
parser.add_argument("--train_data_paths", required=True)
parser.add_argument("--eval_data_paths", required=True)
parser.add_argument("--output_dir", required=True)
parser.add_argument("--job-dir", dest="job_dir", required=True)
parser.add_argument("--learning_rate", type=float, default=0.01)
parser.add_argument("--hidden_units", type=int, default=32)
parser.add_argument("--fail_trial", default="")
parser.add_argument("--sleep", type=float, default=0)
parser.add_argument("--rmse", type=float, default=None)
args = parser.parse_args()
trial = os.environ.get("CLOUD_ML_TRIAL_ID", "")
task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
if task.get("trial", "") != trial:
    raise SystemExit("TF_CONFIG task.trial %r is not CLOUD_ML_TRIAL_ID %r" % (task, trial))
role = task.get("type", "chief")
cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
print("%s of trial %s, cluster %s" % (role, trial, sorted(cluster)), flush=True)
if role != "chief":  # a worker that evaluates too: its report is not the trial's
    hypertune.HyperTune().report_hyperparameter_tuning_metric("rmse", 999.0, 1)
    raise SystemExit(0)
if trial and trial == args.fail_trial:
    raise SystemExit("RuntimeError: trial %s diverged" % trial)
rmse = args.rmse
if rmse is None:
    rmse = (math.log10(args.learning_rate) + 2) ** 2 + (0 if args.hidden_units == 128 else 0.5)
reporter = hypertune.HyperTune()
for step in (1, 2, 3):
    reporter.report_hyperparameter_tuning_metric("rmse", rmse + 1.0 / step, step)
    time.sleep(args.sleep / 3)
export = os.path.join(args.output_dir, "export", "1")
os.makedirs(export, exist_ok=True)
with open(os.path.join(export, "saved_model.pb"), "w") as model:
    json.dump({"trial": trial, "argv": sys.argv[1:]}, model)
with open(os.path.join(args.output_dir, "metrics.json"), "w") as out:
    json.dump({"rmse": rmse + 1.0 / 3, "steps": 3}, out)
"""

STACK = """
apiVersion: mlapply/v1
kind: Stack
metadata: {name: tuned}
spec: {local: {replicas: {workers: 1, parameterServers: 1}}}
---
apiVersion: mlapply/v1
kind: Dataset
metadata: {name: d}
spec: {train: ../data/train.csv, eval: ../data/eval.csv}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {name: tiny}
spec: {source: ../trainer}
---
apiVersion: mlapply/v1
kind: Model
metadata: {name: m}
"""

STUDY = """
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {{name: tune}}
spec:
  trainer: tiny
  dataset: d
  scaleTier: {tier}
  hyperparameters: {{fail_trial: "{fail}", sleep: {sleep}}}
  hyperparameterTuning:
    metric: rmse
    goal: MINIMIZE
    maxTrials: {trials}
    maxParallelTrials: 2
    maxFailedTrials: 2
    params:
      - {{name: learning_rate, type: DOUBLE, min: 0.0001, max: 0.1, scale: UNIT_LOG_SCALE}}
      - {{name: hidden_units, type: DISCRETE, values: [64, 128]}}
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata: {{name: best}}
spec: {{model: m, source: {{job: tune}}, default: true}}
"""

GATED = """
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {{name: fixed}}
spec:
  trainer: tiny
  dataset: d
  hyperparameters: {{rmse: {rmse}}}
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata: {{name: gated}}
spec:
  model: m
  source: {{job: fixed}}
  default: true
  gate: {{metric: rmse, goal: MINIMIZE, threshold: 1.5, mustBeatDefault: true}}
"""


def _project(root: Path, documents: str) -> Path:
    (root / ".git").mkdir(exist_ok=True)
    package = root / "trainer" / "trainer"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(TASK)
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "train.csv").write_text("a\n1\n")
    (root / "data" / "eval.csv").write_text("a\n2\n")
    (root / "m").mkdir(exist_ok=True)
    (root / "m" / "stack.yaml").write_text(textwrap.dedent(STACK + documents).lstrip())
    return root / "m"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.cli, list(args))
    return result.exit_code, result.output


def _store(manifests: Path) -> LocalStore:
    return LocalStore(manifests / ".mlapply")


# The search -----------------------------------------------------------------------------

LR = TuningParameter("learning_rate", "DOUBLE", 1e-4, 1e-1, scale="UNIT_LOG_SCALE")
UNITS = TuningParameter("hidden_units", "DISCRETE", values=(64, 128))


def _tuning(
    *params: TuningParameter,
    algorithm: str = "BAYESIAN",
    max_trials: int = 1,
    max_failed_trials: int = 0,
    early_stopping: bool = False,
) -> Tuning:
    return Tuning(
        "rmse",
        params,
        goal="MINIMIZE",
        algorithm=algorithm,
        max_trials=max_trials,
        max_failed_trials=max_failed_trials,
        early_stopping=early_stopping,
    )


def test_grid_search_walks_every_combination_once_in_order_then_is_exhausted() -> None:
    tuning = _tuning(
        TuningParameter("layers", "INTEGER", 1, 2), UNITS, algorithm="GRID_SEARCH", max_trials=9
    )
    done: list[tuple[search.Params, float | None, str]] = []
    for _ in range(4):
        done.append((search.suggest(tuning, done, seed=1), 1.0, "SUCCEEDED"))
    assert [d[0] for d in done] == [
        {"layers": 1, "hidden_units": 64},
        {"layers": 1, "hidden_units": 128},
        {"layers": 2, "hidden_units": 64},
        {"layers": 2, "hidden_units": 128},
    ]
    with pytest.raises(search.Exhausted):
        search.suggest(tuning, done, seed=1)


@pytest.mark.parametrize("algorithm", ["RANDOM_SEARCH", "BAYESIAN"])
def test_suggestions_stay_in_range_and_the_same_history_gives_the_same_suggestion(
    algorithm: str,
) -> None:
    reverse = TuningParameter("decay", "DOUBLE", 0.9, 0.999, scale="UNIT_REVERSE_LOG_SCALE")
    tuning = _tuning(LR, UNITS, reverse, algorithm=algorithm)
    done: list[tuple[search.Params, float | None, str]] = []
    for _ in range(8):
        params = search.suggest(tuning, done, seed=7)
        assert params == search.suggest(tuning, done, seed=7)
        assert 1e-4 <= float(params["learning_rate"]) <= 1e-1
        assert params["hidden_units"] in (64, 128)
        assert 0.9 <= float(params["decay"]) <= 0.999
        score = abs(math.log10(float(params["learning_rate"])) + 2)
        done.append((params, score, "SUCCEEDED"))


def test_the_bayesian_stand_in_learns_from_the_trials_it_is_given() -> None:
    """TPE, given trials whose metric is best near lr 1e-2, suggests nearer it than random."""
    tuning = _tuning(LR)
    history: list[tuple[search.Params, float | None, str]] = [
        ({"learning_rate": lr}, abs(math.log10(lr) + 2), "SUCCEEDED")
        for lr in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 5e-4, 2e-2, 7e-2)
    ]
    tpe = [search.suggest(tuning, history, seed=s)["learning_rate"] for s in range(10)]
    distance = sum(abs(math.log10(float(v)) + 2) for v in tpe) / len(tpe)
    assert distance < 1.0  # random over 1e-4..1e-1 averages 1.0 (|U(-4,-1)+2|)


def test_the_plan_says_when_the_machine_lowers_the_parallel_trials() -> None:
    from reconciler.backends import registry
    from reconciler.tuning.spec import phrase as tuning_phrase

    tuning = _tuning(LR, max_trials=8)._replace(max_parallel_trials=4)
    local = registry.profile("local")
    text = tuning_phrase(tuning, local.search_phrases, slots=2)
    assert text.startswith(
        "tuning job: 8 trials, 2 in parallel (maxParallelTrials 4 lowered: this machine "
        "runs 2 at once), minimize rmse over learning_rate (log 0.0001..0.1); Bayesian"
    )
    early = tuning_phrase(tuning._replace(early_stopping=True), local.search_phrases, slots=4)
    assert "4 in parallel, " in early and early.endswith("early stopping by the median rule")
    vertex = registry.profile("vertex")
    assert tuning_phrase(tuning, vertex.search_phrases, vertex.trial_slots(())).startswith(
        "tuning job: 8 trials, 4 in parallel, minimize"
    )


# The study's rules ----------------------------------------------------------------------


def test_a_study_is_over_at_its_count_or_at_its_failed_bound_and_picks_its_best() -> None:
    tuning = _tuning(LR, max_trials=3, max_failed_trials=2)
    ok = [Trial("1", {}, "SUCCEEDED", 2.0), Trial("2", {}, "SUCCEEDED", 1.0)]
    assert outcome(tuning, ok) is None
    lost = Trial("3", {}, "FAILED", lost=True)
    assert outcome(tuning, [*ok, lost]) is None  # a lost trial does not count
    assert outcome(tuning, [*ok, Trial("4", {}, "STOPPED", 1.5)]) == ("SUCCEEDED", None)
    assert best([*ok, Trial("4", {}, "STOPPED", 0.5)], "MINIMIZE") == Trial("4", {}, "STOPPED", 0.5)
    failing = [Trial(str(i), {}, "FAILED", error=f"the chief ended:\nboom {i}") for i in (1, 2)]
    state, why = outcome(tuning, failing) or ("", "")
    assert state == "FAILED"
    assert "2 trials failed, reaching maxFailedTrials (2); trial 2 ended: the chief" in str(why)


def test_the_median_rule_stops_a_trial_worse_than_the_median_of_the_completed() -> None:
    tuning = _tuning(LR, early_stopping=True)
    completed = [
        Trial(str(i), {}, "SUCCEEDED", v, measurements=(Measurement(1, v + 1), Measurement(2, v)))
        for i, v in (("1", 1.0), ("2", 2.0))
    ]
    good = Trial("3", {}, "RUNNING", measurements=(Measurement(1, 1.2),))
    bad = Trial("4", {}, "RUNNING", measurements=(Measurement(1, 9.0),))
    # At step 1 the completed trials' running averages are 2.0 and 3.0: median 2.5.
    assert to_stop(tuning, [*completed, good, bad]) == ["4"]
    assert to_stop(tuning._replace(early_stopping=False), [*completed, bad]) == []
    assert to_stop(tuning, [completed[0], bad]) == []  # waits for two completed trials


def test_a_completed_trials_measurements_come_back_from_the_store_as_measurements(
    tmp_path: Path,
) -> None:
    """The README's tuning example with early stopping crashed its supervisor: the store
    gave a completed trial's measurements back as bare pairs, and the median rule
    asked them for ``.step``."""
    store = LocalStore(tmp_path, create=True)
    store.put_trial(TrialRow("j-trial-1", "j", "s", "1", {}))
    store.update_trial("j-trial-1", state="SUCCEEDED", measurements=json.dumps([[1, 2.0]]))
    (row,) = store.trials_of("j")
    assert row.measurements == (Measurement(1, 2.0),)
    assert row.measurements[0].step == 1
    completed = [Trial(t, {}, "SUCCEEDED", 1.0, measurements=row.measurements) for t in ("1", "2")]
    running = Trial("3", {}, "RUNNING", measurements=(Measurement(1, 9.0),))
    assert to_stop(_tuning(LR, early_stopping=True), [*completed, running]) == ["3"]


def test_the_hypertune_file_is_read_as_the_library_writes_it() -> None:
    text = "\n".join(
        json.dumps({"timestamp": 1.0, "trial": "1", "rmse": str(v), "global_step": str(s)})
        for s, v in ((1, 3.5), (2, 2.5))
    )
    assert measurements(text + "\nnot json\n", "rmse") == (Measurement(1, 3.5), Measurement(2, 2.5))


# Gates ----------------------------------------------------------------------------------


def test_a_gate_holds_or_says_why_not_with_the_figures() -> None:
    gate = Gate("rmse", "MINIMIZE", threshold=3.0, must_beat_default=True)
    none = gates.judge(gate, {"auc": 0.9}, "job j", None)
    assert not none.holds
    assert "job j reported no rmse (it reported auc)" in none.text
    over = gates.judge(gate, {"rmse": 3.41}, "job j", None)
    assert over.text == "held: rmse 3.41 > threshold 3 (reported by job j)"
    worse = gates.judge(gate, {"rmse": 2.9}, "job j", gates.Default("v1", 2.5))
    assert worse.text == "held: rmse 2.9 does not beat the default's 2.5 (v1) (reported by job j)"
    better = gates.judge(gate, {"rmse": 2.0}, "job j", gates.Default("v1", 2.5))
    assert better.holds and "beats the default's 2.5 (v1)" in better.text
    assert gates.judge(gate, {"rmse": 3.0}, "job j", None).holds  # the threshold itself passes
    auc = Gate("auc", "MAXIMIZE", must_beat_default=True)
    held = gates.judge(auc, {"auc": 0.81}, "job j", gates.Default("v1", 0.84))
    assert held.text.startswith("held: auc 0.81 does not beat the default's 0.84")
    unrecorded = gates.judge(auc, {"auc": 0.81}, "job j", gates.Default("v1", None))
    assert unrecorded.holds and "v1 was deployed without a auc" in unrecorded.text


# Real local studies ---------------------------------------------------------------------


@pytest.mark.usefixtures("default_runtime")
def test_a_local_study_runs_its_trials_with_the_hypertune_protocol_and_deploys_the_best(
    tmp_path: Path,
) -> None:
    manifests = _project(tmp_path, STUDY.format(fail="2", sleep=0, trials=6, tier="BASIC"))
    code, output = _run("plan", str(manifests))
    assert code == 0, output
    assert (
        "tuning job: 6 trials, 2 in parallel, minimize rmse over learning_rate "
        "(log 0.0001..0.1), hidden_units {64,128}; Bayesian optimisation (the service's "
        "default; here Optuna's TPE sampler), up to 2 failed trials" in output
    ) or "lowered: this machine runs 1 at once" in output
    assert "deploys the best trial's export of job.tune once it has trained" in output
    code, output = _run("apply", str(manifests), "--auto-approve")
    assert code == 0, output

    (job,) = _store(manifests).read("tuned").jobs
    assert job.state.value == "SUCCEEDED"
    trials = {t.id: t for t in job.trials}
    assert sorted(trials, key=int) == ["1", "2", "3", "4", "5", "6"]
    assert trials["2"].state == "FAILED" and "trial 2 diverged" in str(trials["2"].error)
    succeeded = [t for t in job.trials if t.state == "SUCCEEDED"]
    assert len(succeeded) == 5
    top = min(succeeded, key=lambda t: t.metric or 0)
    assert job.best_trial == top.id
    assert job.metrics["rmse"] == top.metric
    # The metric is the last value the trainer reported (step 3).
    lr, units = float(top.params["learning_rate"]), int(top.params["hidden_units"])
    expected = (math.log10(lr) + 2) ** 2 + (0 if units == 128 else 0.5) + 1 / 3
    assert top.metric == pytest.approx(expected)

    # The deployed model is the best trial's export; the trial ran with its own job
    # dir and output dir, the tuned flags after the job's own.
    (version,) = _store(manifests).read("tuned").versions
    served = json.loads((Path(str(version.deployment_uri)) / "saved_model.pb").read_text())
    assert served["trial"] == top.id
    argv = served["argv"]
    job_dir = next(a.split("=", 1)[1] for a in argv if a.startswith("--job-dir="))
    assert job_dir.endswith(f"/outputs/{job.name}/{top.id}")
    assert f"--output_dir={job_dir}/output" in argv
    assert argv[-2:] == [
        f"--learning_rate={top.params['learning_rate']}",
        f"--hidden_units={units}",
    ]
    assert argv.index("--fail_trial=2") < argv.index(f"--hidden_units={units}")
    assert (version.spec or {})["deployed"] == {
        "job": job.name,
        "trial": top.id,
        "metrics": {"rmse": top.metric, "steps": 3.0},
    }

    code, output = _run("status", str(manifests))
    assert code == 0, output
    assert f"* trial {top.id:<4} SUCCEEDED" in output and "best" in output
    assert "trial 2 diverged" in output
    code, output = _run("status", str(manifests), "--format", "json")
    shown = json.loads(output)["jobs"][0]
    assert shown["best_trial"] == top.id and len(shown["trials"]) == 6
    assert [t["id"] for t in shown["trials"] if t["best"]] == [top.id]

    # The same identity never reruns a finished study.
    code, output = _run("plan", str(manifests), "--detailed-exitcode")
    assert code == 0, output
    assert "No changes" in output


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.usefixtures("default_runtime")
def test_a_study_whose_supervisor_is_killed_goes_on_from_its_trials_when_applied_again(
    tmp_path: Path,
) -> None:
    manifests = _project(tmp_path, STUDY.format(fail="", sleep=3, trials=4, tier="BASIC"))
    code, output = _run("apply", str(manifests), "--auto-approve", "--no-wait")
    assert code == 0, output
    store = _store(manifests)
    (job,) = store.read("tuned").jobs

    def trials() -> dict[str, LiveTrial]:
        return {t.id: t for t in store.read("tuned").jobs[0].trials}

    _wait_for(lambda: sum(t.state == "RUNNING" for t in trials().values()) == 2, 60, "2 trials")
    pid = store.job_runtime(job.name)["pid"]
    os.kill(int(pid), signal.SIGKILL)  # the study's supervisor, mid-study
    # The kill is delivered when the kernel gets to it: the next apply comes after.
    _wait_for(lambda: not _alive(int(pid)), 10, "the killed supervisor to be gone")
    started = {t.id: t.start_time for t in store.read("tuned").jobs[0].trials}

    # The next apply finds it lost, resubmits it, and the new attempt adopts its trials:
    # the running ones go on under their own supervisors, none is run twice.
    code, output = _run("apply", str(manifests), "--auto-approve")
    assert code == 0, output
    assert "lost to the machinery" in output and "resubmitting, attempt 2 of 3" in output
    jobs = {j.name: j for j in store.read("tuned").jobs}
    first, second = jobs[job.name], jobs[f"{job.name}_2"]
    assert first.state.value == "FAILED" and first.lost and first.trials == ()
    assert second.state.value == "SUCCEEDED"
    assert [t.id for t in second.trials] == ["1", "2", "3", "4"]
    assert all(t.state == "SUCCEEDED" and not t.lost for t in second.trials)
    for trial, start in started.items():
        assert next(t for t in second.trials if t.id == trial).start_time == start
    (version,) = store.read("tuned").versions
    served = json.loads((Path(str(version.deployment_uri)) / "saved_model.pb").read_text())
    assert served["trial"] == second.best_trial


@pytest.mark.usefixtures("default_runtime")
def test_a_gate_holds_a_bad_model_back_then_lets_a_better_one_through(tmp_path: Path) -> None:
    manifests = _project(tmp_path, GATED.format(rmse=2.0))
    code, output = _run("plan", str(manifests))
    assert "deployed only if rmse <= 1.5 and rmse lower than the default version's" in output
    code, output = _run("apply", str(manifests), "--auto-approve")
    assert code == 1, output
    assert "held: rmse 2.333 > threshold 1.5 (reported by job fixed_" in output
    assert "not deployed" in output
    # Held, not failed: the README's words, and the job it trained counts as done.
    assert "Not converged: 1 resource(s) blocked (2 change(s) made)" in output, output
    assert "Apply failed" not in output
    store = _store(manifests)
    assert store.read("tuned").versions == ()

    code, output = _run("plan", str(manifests), "--detailed-exitcode")
    assert code == 2, output
    assert "! version.gated" in output and "held: rmse 2.333 > threshold 1.5" in output
    code, output = _run("plan", str(manifests), "--format", "markdown")
    assert "| 🚧 | `version.gated` | blocked | held: rmse 2.333 > threshold 1.5" in output

    # A better model passes, and is recorded with the figure it was deployed with.
    (manifests / "stack.yaml").write_text(
        (manifests / "stack.yaml").read_text().replace("rmse: 2.0", "rmse: 0.5")
    )
    code, output = _run("apply", str(manifests), "--auto-approve")
    assert code == 0, output
    (version,) = store.read("tuned").versions
    assert (version.spec or {})["deployed"]["metrics"]["rmse"] == pytest.approx(0.5 + 1 / 3)

    # One under the threshold but worse than the default is held too, at plan time.
    (manifests / "stack.yaml").write_text(
        (manifests / "stack.yaml").read_text().replace("rmse: 0.5", "rmse: 0.9")
    )
    code, output = _run("apply", str(manifests), "--auto-approve")
    assert code == 1, output
    assert "does not beat the default's 0.8333" in output
    names = [v.name for v in store.read("tuned").versions]
    assert names == [version.name]  # the better one still serves
    code, output = _run("plan", str(manifests), "--detailed-exitcode")
    assert code == 2 and "held: rmse 1.233 does not beat the default's 0.8333" in output


@pytest.mark.usefixtures("default_runtime")
def test_a_distributed_tier_runs_each_trial_distributed_and_the_chiefs_report_counts(
    tmp_path: Path,
) -> None:
    """STANDARD_1 runs each trial as a chief, a worker and a parameter server (the Stack's
    local shape), each with the trial in TF_CONFIG; each task reports to a metric file of
    its own, as each cloud replica did to its own disk, and the chief's is the trial's."""
    manifests = _project(tmp_path, STUDY.format(fail="", sleep=0, trials=2, tier="STANDARD_1"))
    code, output = _run("plan", str(manifests))
    assert code == 0, output
    assert "tuning job: 2 trials, 1 in parallel" in output, output
    code, output = _run("apply", str(manifests), "--auto-approve")
    assert code == 0, output
    (job,) = _store(manifests).read("tuned").jobs
    assert [t.state for t in job.trials] == ["SUCCEEDED", "SUCCEEDED"]
    assert all(t.metric is not None and t.metric < 999 for t in job.trials), job.trials

    # Each trial's tasks log apart; `logs` reaches them by trial and task.
    for trial in ("1", "2"):
        for task, role in (("chief-0", "chief"), ("worker-0", "worker"), ("ps-0", "ps")):
            code, output = _run("logs", "tune", str(manifests), "--trial", trial, "--task", task)
            assert code == 0, output
            assert f"{role} of trial {trial}, cluster ['chief', 'ps', 'worker']" in output
    result = CliRunner().invoke(cli.cli, ["logs", "tune", str(manifests)])
    assert result.exit_code == 0, result.output
    assert f"chief of trial {job.best_trial}," in result.stdout
    assert f"trial {job.best_trial} of {job.name} (the best)" in result.stderr
    code, output = _run("logs", "tune", str(manifests), "--trial", "7")
    assert code == 1 and f"{job.name} has no trial '7'" in output and "trials are 1, 2" in output


def test_a_studys_next_trials_rerun_lost_ones_first_then_search_until_the_grid_ends() -> None:
    tuning = _tuning(TuningParameter("layers", "INTEGER", 1, 3), algorithm="GRID_SEARCH")
    done: list[tuple[search.Params, float | None, str]] = [({"layers": 1}, 1.0, "SUCCEEDED")]
    chosen, exhausted = search.next_trials(tuning, 3, [{"layers": 1}], done, seed=1)
    assert (chosen, exhausted) == ([{"layers": 1}, {"layers": 2}, {"layers": 3}], False)
    done += [(c, 1.0, "SUCCEEDED") for c in chosen[1:]]
    assert search.next_trials(tuning, 2, [], done, seed=1) == ([], True)
