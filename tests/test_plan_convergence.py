"""Property: for random stacks and random live histories, applying a plan's changes
(with the in-test simulator, through the real store) and planning again gives no changes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.apply.planning import make_plan
from reconciler.backends.local import LocalBackend, LocalStore
from reconciler.stack import load_stack
from tests.simulator import apply_plan

NOW = 1_800_000_000.0


@st.composite
def stacks(draw: st.DrawFn) -> str:
    jobs = draw(
        st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True)
    )
    docs = [
        "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: prop}\n",
        "apiVersion: mlapply/v1\nkind: Trainer\nmetadata: {name: t}\nspec: {source: trainer}\n",
    ]
    for job in jobs:
        rate = draw(st.sampled_from([0.1, 0.01, 0.001]))
        labels = draw(st.sampled_from(["{}", "{owner: x}", "{owner: y}"]))
        docs.append(
            "apiVersion: mlapply/v1\nkind: TrainingJob\n"
            f"metadata: {{name: job-{job}, labels: {labels}}}\n"
            f"spec: {{trainer: t, hyperparameters: {{lr: {rate}}}}}\n"
        )
    models = draw(st.lists(st.sampled_from(["m", "n"]), max_size=2, unique=True))
    for model in models:
        description = draw(st.sampled_from(["one", "two"]))
        docs.append(
            f"apiVersion: mlapply/v1\nkind: Model\nmetadata: {{name: {model}}}\n"
            f"spec: {{description: {description}}}\n"
        )
        count = draw(st.integers(0, 2))
        default_index = draw(st.integers(0, 2))
        for i in range(count):
            job = draw(st.sampled_from(jobs))
            machine = draw(st.sampled_from(["n1-standard-2", "n1-standard-4"]))
            docs.append(
                f"apiVersion: mlapply/v1\nkind: ModelVersion\nmetadata: {{name: {model}-v{i}}}\n"
                f"spec: {{model: {model}, source: {{job: job-{job}}}, machineType: {machine},"
                f" default: {str(i == default_index).lower()}}}\n"
            )
    return "---\n".join(docs)


def _converge(root: Path, manifest: str, now: float) -> None:
    (root / "stack.yaml").write_text(manifest, encoding="utf-8")
    result = load_stack([str(root)])
    assert result.stack is not None, [d.render() for d in result.diagnostics]
    home = result.stack.settings.local.home
    planned = make_plan(result.stack, LocalBackend(home), now=now)
    assert not planned.plan.errors
    store = LocalStore(home, create=True)
    try:
        apply_plan(store, planned.plan, planned.desired, now=now)
    finally:
        store.close()
    again = make_plan(result.stack, LocalBackend(home), now=now + 1).plan
    leftover = [(c.address, c.action.value, c.reasons) for c in again.changes if c.action.pending]
    assert leftover == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(stacks(), min_size=1, max_size=3))
def test_applying_a_plan_converges(history: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / ".git").mkdir()
        (root / "trainer").mkdir()
        (root / "trainer" / "task.py").write_text("print('train')\n", encoding="utf-8")
        for step, manifest in enumerate(history):
            _converge(root, manifest, NOW + step * 100)
