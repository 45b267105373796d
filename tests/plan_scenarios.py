"""Stacks on disk with live records in a real local store, for plan tests."""

from __future__ import annotations

import dataclasses
import os
import textwrap
from pathlib import Path
from typing import Any

from reconciler.apply.planning import Planned, make_plan
from reconciler.backends.base import JobState
from reconciler.backends.local import LocalDriver, LocalStore
from reconciler.backends.recorded import ROLLING, RolloutState, with_rollout
from reconciler.backends.served import Served
from reconciler.kinds import load_stack
from tests.live_world import record_converged

NOW = 1_800_000_000.0

MANIFEST = """
apiVersion: mlapply/v1
kind: Stack
metadata: {{name: demo}}
spec:
  defaults: {{labels: {{team: pricing}}}}
{stack_extra}
---
apiVersion: mlapply/v1
kind: Dataset
metadata: {{name: taxi}}
spec:
  train: ../data/train-*.csv
  eval: ../data/eval-*.csv
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {{name: taxifare}}
spec: {{source: ../trainer}}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {{name: taxifare-dnn}}
spec:
  trainer: taxifare
  dataset: taxi
  hyperparameters: {{learning_rate: {learning_rate}, hidden_units: "64,32"{steps}}}
  retry: {{maxAttempts: {max_attempts}}}
{job_extra}
{model}
"""

MODEL = """---
apiVersion: mlapply/v1
kind: Model
metadata: {{name: taxifare}}
lifecycle: {{preventDestroy: {protect}}}
spec: {{description: Taxi fares.}}
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata: {{name: taxifare-v1}}
lifecycle: {{preventDestroy: {protect}}}
spec:
  model: taxifare
  source: {{job: taxifare-dnn}}
  default: {v1_default}
{version_extra}"""

CANARY = """---
apiVersion: mlapply/v1
kind: ModelVersion
metadata: {{name: taxifare-canary}}
spec:
  model: taxifare
  source: {{job: taxifare-dnn}}
  machineType: n1-standard-4
  default: {canary_default}
"""


class Scenario:
    def __init__(self, root: Path, **params: Any) -> None:
        self.root = root / "repo"
        self.params: dict[str, Any] = {
            "learning_rate": 0.01,
            "max_attempts": 1,
            "with_model": True,
            "protect": False,
            "canary": False,
            "default": "v1",
            "stack_extra": "",
            "job_extra": "",
            "version_extra": "",
            "train_steps": None,
        }
        files = {
            ".git/HEAD": "ref: refs/heads/main\n",
            "trainer/setup.py": "from setuptools import setup\nsetup(name='taxifare')\n",
            "trainer/trainer/__init__.py": "",
            "trainer/trainer/model.py": "def build():\n    return 'dnn'\n",
            "trainer/trainer/task.py": "from trainer import model\n",
            "data/train-1.csv": "fare,km\n10,3\n",
            "data/train-2.csv": "fare,km\n20,7\n",
            "data/eval-1.csv": "fare,km\n15,5\n",
        }
        for name, text in files.items():
            self.write(name, text)
        self.configure(**params)

    def write(self, name: str, text: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def configure(self, **params: Any) -> None:
        self.params.update(params)
        default = self.params["default"]
        model = MODEL.format(
            protect=str(self.params["protect"]).lower(),
            v1_default=str(default == "v1").lower(),
            version_extra=textwrap.indent(self.params["version_extra"], "  "),
        )
        if self.params["canary"]:
            model += CANARY.format(canary_default=str(default == "canary").lower())
        steps = self.params["train_steps"]
        text = MANIFEST.format(
            learning_rate=self.params["learning_rate"],
            max_attempts=self.params["max_attempts"],
            model=model if self.params["with_model"] else "",
            stack_extra=textwrap.indent(self.params["stack_extra"], "  "),
            job_extra=textwrap.indent(self.params["job_extra"], "  "),
            steps="" if steps is None else f", train_steps: {steps}",
        )
        self.write("m/stack.yaml", textwrap.dedent(text).lstrip())

    @property
    def store(self) -> LocalStore:
        return LocalStore(self.root / "m" / ".mlapply", create=True)

    def plan(self, *, now: float = NOW, **options: Any) -> Planned:
        result = load_stack([str(self.root / "m")])
        assert result.stack is not None, [d.render() for d in result.diagnostics]
        backend = LocalDriver(result.stack.settings.home)
        # A machine with no runtime built yet, whatever this one has: plans stay golden.
        saved = os.environ.get("MLAPPLY_RUNTIMES")
        os.environ["MLAPPLY_RUNTIMES"] = str(self.root / "no-runtimes")
        try:
            return make_plan(result.stack, backend, now=now, **options)
        finally:
            if saved is None:
                del os.environ["MLAPPLY_RUNTIMES"]
            else:
                os.environ["MLAPPLY_RUNTIMES"] = saved

    def apply(
        self,
        *,
        now: float = NOW,
        job_state: JobState = JobState.SUCCEEDED,
        error: str | None = None,
    ) -> None:
        """Record the live world in which the manifests as they are now are deployed."""
        planned = self.plan(now=now)
        store = self.store
        try:
            record_converged(store, planned.desired, now=now, job_state=job_state, error=error)
        finally:
            store.close()


ROLLOUT = """rollout:
  steps:
    - {traffic: 10, hold: 1m}
    - {traffic: 50, hold: 1m}
    - {traffic: 100, hold: 1m}
  gates: {maxErrorRate: 0.01, maxLatencyMs: {p99: 200}, minRequests: 100}
"""


def rollout_started(s: Scenario, *, now: float, served: Served | None = None) -> tuple[str, str]:
    """v1 serves; the manifests train v2 with a rollout, and it is at its first step
    since 90 s before ``now`` (10 % of the traffic), having served ``served`` 30 s
    before ``now``. Returns (v1, v2) live names."""
    s.configure(version_extra=ROLLOUT)
    s.apply(now=now - 3600)
    store = s.store
    try:
        (first,) = store.read("demo").versions
    finally:
        store.close()
    s.configure(learning_rate=0.02)
    s.apply(now=now - 120)  # v2 deployed; v1 put back beside it, still the default
    store = s.store
    try:
        store.put_version(first)
        store.set_default(first.model, first.name)
        new = next(v for v in store.read("demo").versions if v.name != first.name)
        state = RolloutState(ROLLING, 0, now - 90, first.name)
        store.put_version(dataclasses.replace(new, spec=with_rollout(new.spec or {}, state)))
        store.set_traffic(first.model, {first.name: 90, new.name: 10})
        if served is not None:
            store.add_served("demo", [(first.model, new.name, now - 30, served)])
    finally:
        store.close()
    return first.name, new.name
