"""Golden files for the three renderers over the plan scenarios that matter.

Regenerate after an intended change with `UPDATE_GOLDEN=1 pytest tests/test_plan_golden.py`
and review the diff like code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from reconciler.apply.planning import Planned
from reconciler.backends.base import JobState
from reconciler.backends.served import Served
from reconciler.render.jsonplan import plan_to_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from tests.conftest import REPO
from tests.plan_scenarios import NOW, Scenario, rollout_started

GOLDEN = REPO / "tests" / "golden" / "plans"
LATER = NOW + 12 * 60


def fresh(s: Scenario) -> Planned:
    return s.plan()


def no_changes(s: Scenario) -> Planned:
    s.apply()
    return s.plan(now=LATER)


def hyperparameter_change(s: Scenario) -> Planned:
    s.apply()
    s.configure(learning_rate=0.003)
    return s.plan(now=LATER)


def trainer_file_change(s: Scenario) -> Planned:
    s.apply()
    s.write("trainer/trainer/model.py", "def build():\n    return 'wider dnn'\n")
    s.write("trainer/trainer/util.py", "HELPER = True\n")
    return s.plan(now=LATER)


def data_change(s: Scenario) -> Planned:
    s.apply()
    s.write("data/eval-2.csv", "fare,km\n9,2\n")
    s.write("data/eval-3.csv", "fare,km\n30,11\n")
    s.write("data/eval-1.csv", "fare,km\n16,5\n")
    return s.plan(now=LATER)


def running_job_replaced(s: Scenario) -> Planned:
    s.apply(job_state=JobState.RUNNING)
    s.configure(learning_rate=0.003)
    return s.plan(now=LATER)


def running_job_waited_for(s: Scenario) -> Planned:
    s.apply(job_state=JobState.RUNNING)
    return s.plan(now=LATER)


def failed_job_not_retried(s: Scenario) -> Planned:
    s.apply(job_state=JobState.FAILED, error="Traceback ...\nValueError: bad learning rate")
    return s.plan(now=LATER)


def failed_job_retried(s: Scenario) -> Planned:
    s.configure(max_attempts=3)
    s.apply(job_state=JobState.FAILED, error="Traceback ...\nValueError: bad learning rate")
    return s.plan(now=LATER)


def version_switch(s: Scenario) -> Planned:
    s.configure(canary=True)
    s.apply()
    s.configure(default="canary")  # the manifests move the default to the canary version
    return s.plan(now=LATER)


def default_switched_outside(s: Scenario) -> Planned:
    s.apply()
    s.configure(learning_rate=0.003)
    s.apply(now=NOW + 60)  # the new version serves; the old one is gone
    store = s.store
    store.set_default("taxifare", None)  # someone unset the default in a console
    store.close()
    return s.plan(now=LATER)


def model_removed(s: Scenario) -> Planned:
    s.apply()
    s.configure(with_model=False)
    return s.plan(now=LATER)


def prevent_destroy(s: Scenario) -> Planned:
    s.configure(protect=True)
    s.apply()
    s.configure(with_model=False)
    return s.plan(now=LATER)


def over_budget(s: Scenario) -> Planned:
    s.configure(train_steps=100, stack_extra="prices: {nodeHour: 36.0}\nbudget: {perJob: 0.5}")
    s.apply()  # one run of 60 s: $0.60 at a cent a second
    s.configure(train_steps=200)
    return s.plan(now=LATER)


def rollout_under_way(s: Scenario) -> Planned:
    served = Served(5130, 10, (0, 0, 0, 4000, 1000, 100, 30))  # p99 in (20, 50] ms
    rollout_started(s, now=LATER, served=served)
    return s.plan(now=LATER)


SCENARIOS: list[Callable[[Scenario], Planned]] = [
    fresh,
    no_changes,
    hyperparameter_change,
    trainer_file_change,
    data_change,
    running_job_replaced,
    running_job_waited_for,
    failed_job_not_retried,
    failed_job_retried,
    version_switch,
    default_switched_outside,
    model_removed,
    prevent_destroy,
    over_budget,
    rollout_under_way,
]


def _check(path: Path, text: str) -> None:
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_plan_renderings_match_golden_files(
    scenario: Callable[[Scenario], Planned], tmp_path: Path
) -> None:
    planned = scenario(Scenario(tmp_path))
    document = plan_to_json(planned.plan)
    Draft202012Validator(json.loads((REPO / "schemas" / "plan.schema.json").read_text())).validate(
        document
    )
    name = scenario.__name__
    _check(GOLDEN / f"{name}.json", json.dumps(document, indent=2) + "\n")
    _check(GOLDEN / f"{name}.txt", render_text(document))
    _check(GOLDEN / f"{name}.md", render_markdown(document))
