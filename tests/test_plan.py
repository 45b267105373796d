"""Plan behaviour beyond the golden scenarios: options, drift, removal, digests, the store."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from reconciler.apply.planning import Planned
from reconciler.backends.base import JobState, LiveJob
from reconciler.backends.local import LocalDriver, LocalStore
from reconciler.backends.local.store import STATE_FILE
from reconciler.diagnostics import MlapplyError
from reconciler.plan import Action, ReasonCode, ReplaceOrder
from tests.plan_scenarios import NOW, Scenario

LATER = NOW + 600


def _actions(scenario: Scenario, **options: object) -> dict[str, str]:
    plan = scenario.plan(now=LATER, **options).plan
    return {c.address: c.action.value for c in plan.changes}


def test_retrain_submits_a_new_attempt_of_an_up_to_date_job(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    s.apply()
    plan = s.plan(now=LATER, retrain=("taxifare-dnn",)).plan
    job = plan.changes[0]
    assert job.action is Action.CREATE
    assert job.live_name is not None and job.live_name.endswith("_2")
    assert "--retrain taxifare-dnn" in job.reasons[0].text


def test_target_keeps_the_resource_and_what_it_depends_on(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    assert _actions(s, targets=("job.taxifare-dnn",)) == {"job.taxifare-dnn": "create"}
    assert set(_actions(s, targets=("version.taxifare-v1",))) == {
        "job.taxifare-dnn",
        "model.taxifare",
        "version.taxifare-v1",
    }


def test_labels_edited_outside_mlapply_are_drift(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    s.apply()
    store = s.store
    job = store.read("demo").jobs[0]
    store.put_job(
        LiveJob(
            job.name,
            {**job.labels, "team": "growth"},
            job.state,
            job.create_time,
            job.start_time,
            job.end_time,
            job.error,
            job.spec,
        )
    )
    store.close()
    change = s.plan(now=LATER).plan.changes[0]
    assert change.action is Action.UPDATE
    assert [r.text for r in change.reasons] == [
        "changed outside mlapply: labels.team: growth -> pricing"
    ]
    assert [r.code for r in change.reasons] == [ReasonCode.CHANGED_OUTSIDE]


def test_removed_running_job_is_cancelled_and_finished_jobs_are_history(tmp_path: Path) -> None:
    s = Scenario(tmp_path, with_model=False)
    s.apply(job_state=JobState.RUNNING)
    s.write("m/stack.yaml", "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: demo}\n")
    plan = s.plan(now=LATER).plan
    assert [(c.address, c.action.value) for c in plan.changes] == [("job.taxifare-dnn", "cancel")]
    assert "its manifest was removed" in plan.changes[0].reasons[0].text
    finished = Scenario(tmp_path / "other", with_model=False)
    finished.apply()
    finished.write("m/stack.yaml", "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: demo}\n")
    assert finished.plan(now=LATER).plan.changes == ()


def test_model_description_updates_in_place_but_region_replaces(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    s.apply()
    text = (s.root / "m" / "stack.yaml").read_text()
    s.write("m/stack.yaml", text.replace("Taxi fares.", "Fares of taxis."))
    model = next(c for c in s.plan(now=LATER).plan.changes if c.kind == "Model")
    assert model.action is Action.UPDATE
    assert [r.text for r in model.reasons] == ["description: Taxi fares. -> Fares of taxis."]
    s.write("m/stack.yaml", text.replace("Taxi fares.}", "Taxi fares., regions: [europe-west4]}"))
    model = next(c for c in s.plan(now=LATER).plan.changes if c.kind == "Model")
    assert model.action is Action.REPLACE
    assert [f.path for f in model.field_changes if f.forces_replacement] == [("region",)]
    assert model.replace_order is ReplaceOrder.DELETE_BEFORE_CREATE and model.symbol == "-/+"


def test_resources_of_other_stacks_are_never_touched(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    store = s.store
    labels = {"mlapply-stack": "other", "mlapply-name": "taxifare-dnn", "mlapply-hash": "x"}
    store.put_job(LiveJob("taxifare_dnn_x", labels, JobState.RUNNING, create_time=NOW))
    store.close()
    plan = s.plan(now=LATER).plan
    assert all(not c.live_targets for c in plan.changes)
    assert {c.action for c in plan.changes} == {Action.CREATE}


def test_digests_change_with_the_manifests_and_with_the_live_world(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    first = s.plan(now=NOW).plan
    again = s.plan(now=LATER).plan
    assert (first.manifests_digest, first.snapshot_digest) == (
        again.manifests_digest,
        again.snapshot_digest,
    )
    s.write("trainer/trainer/model.py", "def build():\n    return 'other'\n")
    assert s.plan().plan.manifests_digest != first.manifests_digest
    s.apply()
    assert s.plan().plan.snapshot_digest != first.snapshot_digest


def test_file_digests_are_cached_by_size_and_mtime(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    model = s.root / "trainer" / "trainer" / "model.py"
    before = s.plan().desired.digest
    stat = model.stat()
    model.write_text(model.read_text().replace("dnn", "xyz"))  # same size
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert s.plan().desired.digest == before  # the cache answered, as designed
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert s.plan().desired.digest != before


def test_reading_a_stack_that_was_never_applied_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    snapshot = LocalDriver(home).read_live("demo")
    assert snapshot.jobs == () and not home.exists()


def test_store_has_a_schema_version_and_refuses_a_newer_one(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, create=True)
    assert store.schema_version == 5
    store.close()
    import sqlite3

    db = sqlite3.connect(tmp_path / STATE_FILE)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(MlapplyError, match="newer mlapply"):
        LocalStore(tmp_path)


def test_versions_left_under_a_model_the_manifest_no_longer_names_are_deleted(
    tmp_path: Path,
) -> None:
    s = Scenario(tmp_path)
    s.apply()
    text = (s.root / "m" / "stack.yaml").read_text()
    extra = "---\napiVersion: mlapply/v1\nkind: Model\nmetadata: {name: fares}\n"
    s.write("m/stack.yaml", text.replace("  model: taxifare\n", "  model: fares\n") + extra)
    changes = {c.address: c for c in s.plan(now=LATER).plan.changes}
    left = changes['version.taxifare-v1["taxifare"]']
    assert left.action is Action.DELETE
    assert left.reasons[0].text.endswith("its manifest now names another model")
    assert changes["version.taxifare-v1"].action is Action.CREATE


def test_markdown_stays_under_the_comment_limit_and_says_what_it_left_out(
    tmp_path: Path,
) -> None:
    from reconciler.render.jsonplan import plan_to_json
    from reconciler.render.markdown import LIMIT, render_markdown

    s = Scenario(tmp_path)
    document = plan_to_json(s.plan().plan)
    change = document["changes"][0]
    many = [
        {**change, "address": f"job.j{i}", "reasons": [{"code": "new", "text": "x" * 300}]}
        for i in range(400)
    ]
    text = render_markdown({**document, "changes": many})
    assert len(text) <= LIMIT
    assert "more resource(s) not shown" in text
    assert text.count("<details>") < 400


def test_store_keeps_the_local_runner_columns(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, create=True)
    job = LiveJob("j_1", {"mlapply-stack": "s"}, JobState.RUNNING, create_time=NOW)
    store.put_job(job, pid=4242, job_dir="/tmp/j_1")
    assert store.job_runtime("j_1")["pid"] == 4242
    with pytest.raises(ValueError, match="unknown job columns"):
        store.put_job(job, shell="rm -rf /")
    assert [j.name for j in store.read("s").jobs] == ["j_1"]
    store.delete_job("j_1")
    assert store.read("s").jobs == ()
    store.close()


def test_a_removed_default_version_is_deleted_only_after_the_new_default_serves(
    tmp_path: Path,
) -> None:
    s = Scenario(tmp_path, canary=True)
    s.apply()
    text = (s.root / "m" / "stack.yaml").read_text()
    v1_start = text.index(
        "---\napiVersion: mlapply/v1\nkind: ModelVersion\nmetadata: {name: taxifare-v1}"
    )
    v1_end = text.index("---", v1_start + 3)
    s.write(
        "m/stack.yaml", text[:v1_start] + text[v1_end:].replace("default: false", "default: true")
    )
    changes = {c.address: c for c in s.plan(now=LATER).plan.changes}
    assert changes["version.taxifare-canary"].action is Action.UPDATE
    assert changes["version.taxifare-v1"].action is Action.DELETE
    assert changes["version.taxifare-v1"].depends_on == ("version.taxifare-canary",)


def test_stores_opened_at_once_by_several_processes_migrate_once(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    home = tmp_path / "home"
    home.mkdir()
    (home / STATE_FILE).touch()  # created, not yet migrated: what a starting apply leaves
    assert LocalStore(home).schema_version == 0  # a reader never migrates
    opener = (
        "import sys, time; from pathlib import Path; from reconciler.backends.local import "
        "LocalStore; time.sleep(max(0, float(sys.argv[2]) - time.time()));"
        "LocalStore(Path(sys.argv[1]), create=True).close()"
    )
    start = str(time.time() + 2)  # all open at the same moment
    processes = [
        subprocess.Popen([sys.executable, "-c", opener, str(home), start], stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    errors = [p.communicate()[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0] * 6, errors
    assert LocalStore(home).schema_version > 0


def test_a_job_lost_to_the_machinery_is_resubmitted_within_its_own_bound(tmp_path: Path) -> None:
    """A lost supervisor is not the trainer's failure: resubmitted without --retrain
    (maxAttempts is 1 here), up to retry.maxResubmits, then blocked."""
    s = Scenario(tmp_path)
    s.apply(job_state=JobState.FAILED, error="its supervisor (pid 7) is gone")
    store = s.store
    (first,) = store.read("demo").jobs
    store.put_job(dataclasses.replace(first, lost=True))
    store.close()
    job = s.plan(now=LATER).plan.changes[0]
    assert job.action is Action.CREATE and job.live_name == f"{first.name}_2"
    assert "was lost to the machinery (its supervisor (pid 7) is gone)" in job.reasons[0].text
    assert "resubmitting, attempt 2 of 3" in job.reasons[0].text
    store = s.store
    for attempt in (2, 3):
        store.put_job(
            dataclasses.replace(
                first, name=f"{first.name}_{attempt}", lost=True, create_time=NOW + attempt
            )
        )
    store.close()
    job = s.plan(now=LATER).plan.changes[0]
    assert job.action is Action.BLOCKED
    assert "3 of 3 attempts lost" in job.reasons[0].text
    assert "raise spec.retry.maxResubmits" in job.reasons[0].text


def _text(planned: Planned) -> str:
    from reconciler.render.jsonplan import plan_to_json
    from reconciler.render.text import render_text

    return render_text(plan_to_json(planned.plan))


def test_going_back_from_a_later_apply_with_other_values_is_shown_as_that(
    tmp_path: Path,
) -> None:
    """After `apply --var` (here: another learning rate, applied after the manifests'
    own), a plain plan names what it cancels, shows each value going back, and never
    calls the later run older; once that run has finished, it says the model goes back."""
    running = Scenario(tmp_path / "running")
    running.apply()
    running.configure(learning_rate=0.02)
    running.apply(now=NOW + 100, job_state=JobState.RUNNING)
    later = max(running.store.read("demo").jobs, key=lambda j: j.create_time or 0).name
    running.configure(learning_rate=0.01)
    planned = running.plan(now=NOW + 200)
    job = planned.plan.changes[0]
    assert job.action is Action.CANCEL and job.live_targets[0].live_name == later
    text = _text(planned)
    assert f"# job.taxifare-dnn will be cancelled: {later}\n" in text
    assert "~ hyperparameters.learning_rate: 0.02 -> 0.01\n" in text
    assert "older" not in text and "forces replacement" not in text.split("version.")[0]
    assert f"running job {later} (applied after taxifare_dnn_" in text

    finished = Scenario(tmp_path / "finished")
    finished.apply()
    first = finished.store.read("demo").jobs[0].name  # the only one yet
    finished.configure(learning_rate=0.02)
    finished.apply(now=NOW + 100)
    finished.configure(learning_rate=0.01)
    text = _text(finished.plan(now=NOW + 200))
    assert f"job.taxifare-dnn: back to {first}, which succeeded" in text
    assert "hyperparameters.learning_rate: 0.02 -> 0.01" in text
    assert "will be replaced" in text and "No changes" not in text  # the version goes back


def test_a_destroy_plan_lists_the_runs_it_removes_in_every_format(tmp_path: Path) -> None:
    """Destroy removes each run's outputs, logs and trials with the stack: its plan says
    so, in every format, even when no other resource is left to delete."""
    import json

    from jsonschema import Draft202012Validator

    from reconciler.render.jsonplan import plan_to_json
    from reconciler.render.markdown import render_markdown
    from tests.conftest import REPO

    s = Scenario(tmp_path, with_model=False)
    s.apply()
    (run,) = s.store.read("demo").jobs
    planned = s.plan(now=LATER, destroy=True)
    assert planned.plan.has_changes and not planned.plan.changes
    document = plan_to_json(planned.plan)
    schema = json.loads((REPO / "schemas" / "plan.schema.json").read_text())
    Draft202012Validator(schema).validate(document)
    assert document["removals"] == [
        {"live_name": run.name, "manifest": "taxifare-dnn", "state": "SUCCEEDED"}
    ]
    text = _text(planned)
    assert f"  - {run.name} of job.taxifare-dnn (succeeded)\n" in text
    assert "No changes" not in text and text.rstrip().endswith(
        "0 to delete; 1 job run(s) removed with their outputs."
    )
    markdown = render_markdown(document)
    assert f"> - {run.name} of job.taxifare-dnn (succeeded)" in markdown
    assert "**No changes.**" not in markdown
    assert "removals" not in plan_to_json(s.plan(now=LATER).plan)  # only a destroy's


def test_loading_and_planning_leave_no_reference_cycles(tmp_path: Path) -> None:
    """What load and plan build is frozen when the collector resumes (gcpause.py):
    a reference cycle among it would never be freed, so there must be none."""
    import gc

    def ours(thing: object) -> bool:
        module = getattr(thing, "__module__", None) if callable(thing) else None
        return (module or type(thing).__module__).startswith("reconciler.")

    s = Scenario(tmp_path)
    s.apply()
    gc.collect()
    gc.disable()  # so nothing is frozen, and what the plan leaves is found below
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        planned = s.plan(now=LATER)
        assert planned.plan.changes
        del planned
        gc.collect()
        # Other threads of the test process may leave their own; none may be mlapply's.
        left = [type(o).__name__ for o in gc.garbage if ours(o)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []
