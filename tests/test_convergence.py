"""Property: for random stacks and random histories of them, the real executor
applying a plan through a real driver leaves a world whose next plan has no
changes, and destroy leaves nothing.

Over the Vertex driver against the fake Vertex + Cloud Storage server (its
jobs train in a fraction of a second; the trainer is a prebuilt package on
gs://, so nothing is built), and, with fewer examples, over the local driver
running a tiny real trainer under its detached supervisors and over the ray
driver on the real test cluster (jobs as Ray jobs, versions on Ray Serve)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.apply.executor import Executor
from reconciler.apply.planning import make_plan
from reconciler.backends.registry import driver
from reconciler.kinds import load_stack
from tests.fake_gcp.scale import GCP
from tests.fake_gcp.server import FakeGcp, pointed_at
from tests.raycluster import RayCluster

# Jobs here wait with deadlines: the runtime is built first.
VERTEX = (
    "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: prop}\nspec:"
    + GCP
    + "---\napiVersion: mlapply/v1\nkind: Trainer\nmetadata: {name: t}\n"
    "spec: {container: {image: us-central1-docker.pkg.dev/demo-project/t/t:1}}\n"
)
LOCAL = (
    "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: prop}\n---\n"
    "apiVersion: mlapply/v1\nkind: Trainer\nmetadata: {name: t}\nspec: {source: trainer}\n"
)
TASK = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--output_dir")
args, _ = parser.parse_known_args()
export = os.path.join(args.output_dir, "export", "1")
os.makedirs(export, exist_ok=True)
open(os.path.join(export, "saved_model.pb"), "wb").write(b"a SavedModel, for deploying")
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGcp]:
    server = FakeGcp(job_seconds=0.05)
    with pointed_at(server):
        yield server
    assert server.violations == [], server.violations


@st.composite
def stacks(draw: st.DrawFn, header: str) -> str:
    jobs = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True))
    docs = [header]
    for job in jobs:
        rate = draw(st.sampled_from([0.1, 0.01]))
        labels = draw(st.sampled_from(["{}", "{owner: x}", "{owner: y}"]))
        docs.append(
            "apiVersion: mlapply/v1\nkind: TrainingJob\n"
            f"metadata: {{name: job-{job}, labels: {labels}}}\n"
            f"spec: {{trainer: t, hyperparameters: {{lr: {rate}}}}}\n"
        )
    for model in draw(st.lists(st.sampled_from(["m", "n"]), max_size=2, unique=True)):
        description = draw(st.sampled_from(["one", "two"]))
        docs.append(
            f"apiVersion: mlapply/v1\nkind: Model\nmetadata: {{name: {model}}}\n"
            f"spec: {{description: {description}}}\n"
        )
        default_index = draw(st.integers(0, 2))
        for i in range(draw(st.integers(0, 2))):
            job = draw(st.sampled_from(jobs))
            machine = draw(st.sampled_from(["n1-standard-2", "n1-standard-4"]))
            docs.append(
                f"apiVersion: mlapply/v1\nkind: ModelVersion\nmetadata: {{name: {model}-v{i}}}\n"
                f"spec: {{model: {model}, source: {{job: job-{job}}}, machineType: {machine},"
                f" default: {str(i == default_index).lower()}}}\n"
            )
    return "---\n".join(docs)


def _converge(root: Path, manifest: str) -> None:
    (root / "stack.yaml").write_text(manifest, encoding="utf-8")
    result = load_stack([str(root)])
    assert result.stack is not None, [d.render() for d in result.diagnostics]
    backend = driver(result.stack.settings)
    planned = make_plan(result.stack, backend)
    assert not planned.plan.errors
    outcome = Executor(planned, backend).run()
    assert outcome.ok, (outcome.failed, outcome.skipped)
    again = make_plan(result.stack, backend).plan
    leftover = [
        (c.address, c.action.value, [r.text for r in c.reasons])
        for c in again.changes
        if c.action.pending
    ]
    assert leftover == []


def _history(root: Path, history: list[str]) -> None:
    try:
        for manifest in history:
            _converge(root, manifest)
    finally:
        _destroy(root)  # each example starts from an empty world


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(stacks(VERTEX), min_size=1, max_size=3))
def test_applying_a_plan_converges_on_vertex(fake: FakeGcp, history: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / ".git").mkdir()
        _history(Path(folder), history)


@pytest.fixture(scope="module")
def local_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every example, so the job environment is built once."""
    root = tmp_path_factory.mktemp("local")
    (root / ".git").mkdir()
    (root / "trainer" / "trainer").mkdir(parents=True)
    (root / "trainer" / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "trainer" / "task.py").write_text(TASK)
    return root


@pytest.mark.usefixtures("default_runtime")
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(stacks(LOCAL), min_size=1, max_size=2))
def test_applying_a_plan_converges_on_local(local_root: Path, history: list[str]) -> None:
    _history(local_root, history)


@pytest.mark.ray
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_applying_a_plan_converges_on_ray(
    local_root: Path, ray_cluster: RayCluster, data: st.DataObject
) -> None:
    # The largest stack drawn serves 2 models of 2 versions, and a replaced version's new
    # replica starts before its old one goes: 6 replicas at once. At half a CPU each they
    # fit the test cluster's 4 CPUs; at 1 they did not, and Serve waited for room (what
    # a full cluster does, said after READY_WITHIN: not what this property is about).
    header = LOCAL.replace(
        "metadata: {name: prop}\n",
        "metadata: {name: prop}\nspec: {backend: ray, ray: "
        f"{{address: '{ray_cluster.address}', storage: ray-storage, cpusPerReplica: 0.5}}}}\n",
    )
    _history(local_root, data.draw(st.lists(stacks(header), min_size=1, max_size=2)))


def _destroy(root: Path) -> None:
    stack = load_stack([str(root)]).stack
    assert stack is not None
    backend = driver(stack.settings)
    planned = make_plan(stack, backend, destroy=True)
    outcome = Executor(planned, backend).run()
    assert outcome.ok, (outcome.failed, outcome.skipped)
    backend.purge(stack.name, [removal.live_name for removal in planned.plan.removals])
