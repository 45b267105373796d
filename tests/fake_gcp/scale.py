"""A stack of N trained jobs on the fake Vertex, and what planning it again costs.

Shared by tests/test_vertex.py and bench/vertex_calls.py. The jobs are put
in the fake as finished (what N applies would have left), so that the plan
has everything live and nothing to do.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.fake_gcp.server import FakeGcp

GCP = """
  backend: vertex
  gcp:
    project: demo-project
    region: us-central1
    stagingBucket: gs://demo-staging
"""
ML_ENGINE = GCP.replace("backend: vertex", "backend: mlengine")


def write_stack(root: Path, jobs: int) -> Path:
    (root / ".git").mkdir(parents=True, exist_ok=True)
    (root / "trainer" / "trainer").mkdir(parents=True, exist_ok=True)
    (root / "trainer" / "trainer" / "task.py").write_text("")
    documents = "".join(
        f"---\napiVersion: mlapply/v1\nkind: TrainingJob\nmetadata: {{name: job-{i}}}\n"
        f"spec: {{trainer: t, hyperparameters: {{seed: {i}}}}}\n"
        for i in range(jobs)
    )
    (root / "stack.yaml").write_text(
        "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: big}\nspec:"
        + GCP
        + "---\napiVersion: mlapply/v1\nkind: Trainer\nmetadata: {name: t}\n"
        "spec: {source: trainer, container: {image: us-docker.pkg.dev/demo-project/t/t:1}}\n"
        + documents
    )
    return root


def plan_calls(fake: FakeGcp, root: Path, jobs: int) -> tuple[Counter[str], int]:
    """API calls of one plan over ``jobs`` finished jobs, and how many changes it had."""
    from reconciler.apply.planning import make_plan
    from reconciler.backends.registry import driver
    from reconciler.kinds import load_stack

    loaded = load_stack([str(write_stack(root, jobs))])
    stack = loaded.stack
    assert stack is not None, loaded.diagnostics
    first = make_plan(stack, driver(stack.settings))
    parent = "projects/demo-project/locations/us-central1"
    for change in first.plan.changes:
        want = first.desired.resources[change.address]
        fake.add_finished_job(parent, str(change.live_name), want.live_labels(stack.name))
    fake.calls.clear()
    again = make_plan(stack, driver(stack.settings))
    pending = [c for c in again.plan.changes if c.action.pending]
    return Counter(fake.calls), len(pending)
