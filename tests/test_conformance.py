"""One conformance suite over every backend: the same behaviours, the same
assertions, through the ApplyBackend protocol; a fixture per backend.

The local backend runs for real (a tiny trainer package, built, installed and
run by the detached supervisor); Vertex and Cloud ML Engine run against the
fake Google server (Vertex, ml v1 and Cloud Storage), which checks every request;
Ray on a real two-node cluster on loopback (``ray_cluster``). A backend whose
driver lacks a facet must refuse it with its profile's reason (Ray serves no
versions yet).
Submissions and records come from real manifests through the kinds table, as
apply makes them.
"""

from __future__ import annotations

import json
import socket
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

import pytest

from reconciler.backends.base import (
    JobState,
    JobSubmission,
    LiveJob,
    LiveModel,
    LiveVersion,
    VersionDeployment,
    VersionState,
)
from reconciler.backends.facets import Driver, Facet, Jobs, Serving, StackLock
from reconciler.backends.registry import driver, facet, profile
from reconciler.diagnostics import MlapplyError
from reconciler.identity import DesiredState
from reconciler.identity.hashcache import HashCache
from reconciler.kinds import compute_desired, load_stack
from reconciler.kinds.modelversion.identity import compiled_version
from reconciler.kinds.trainingjob import compiled_job
from reconciler.stack.resources import StackSettings
from tests.conftest import dead_pid
from tests.fake_gcp.scale import GCP, ML_ENGINE
from tests.fake_gcp.server import FakeGcp, pointed_at

TASK = """
import argparse, os, time

parser = argparse.ArgumentParser()
parser.add_argument("--output_dir")
parser.add_argument("--job-dir")
parser.add_argument("--sleep", type=float, default=0)
args, _ = parser.parse_known_args()
time.sleep(args.sleep)
export = os.path.join(args.output_dir, "export", "1")
os.makedirs(os.path.join(export, "variables"), exist_ok=True)
with open(os.path.join(export, "saved_model.pb"), "wb") as handle:
    handle.write(b"a SavedModel, as far as deploying goes")
"""
JOBS = ("run", "twice", "cancel", "deploy", "purge")
MANIFESTS = """
apiVersion: mlapply/v1
kind: Trainer
metadata: {{name: t}}
spec: {{source: ../trainer{image}}}
{jobs}
"""
SERVING = """---
apiVersion: mlapply/v1
kind: Model
metadata: {{name: m}}
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata: {{name: v1}}
spec: {{model: m, source: {{job: job-deploy}}}}
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata: {{name: v2}}
spec: {{model: m, source: {{job: job-deploy}}, machineType: n1-standard-4}}
"""
JOB = """---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {{name: job-{name}}}
spec: {{trainer: t, hyperparameters: {{sleep: {sleep}}}}}
"""


class Conforming(Driver, Jobs, StackLock, Protocol):
    """The facets every backend here provides, and the suite exercises."""


def conforming(settings: StackSettings) -> Conforming:
    backend = driver(settings)
    for provided in (Jobs, StackLock):
        assert isinstance(backend, provided), (backend.name, provided)
    return cast("Conforming", backend)


@dataclass
class World:
    """A stack on one backend, and the few things only its fixture can do."""

    backend: Conforming
    desired: DesiredState
    plant_lock: Callable[[str, int], None]
    """Record a lock held by (id, pid) on this host, as a crashed apply leaves it."""
    lose_next_create: Callable[[], None] = lambda: None
    stages_packages: bool = True
    """Whether its jobs run a staged package (not an image with the trainer inside)."""
    notes: list[str] = field(default_factory=list)

    @property
    def stack(self) -> str:
        return self.desired.stack.name

    def submission(self, job: str) -> JobSubmission:
        want = self.desired.resources[f"job.job-{job}"]
        record = LiveJob(
            want.live_name, want.live_labels(self.stack), JobState.QUEUED, spec=want.record()
        )
        return JobSubmission(record, compiled_job(want))

    def version(self, name: str, export: str) -> VersionDeployment:
        want = self.desired.resources[f"version.{name}"]
        version = compiled_version(want)
        record = LiveVersion(
            want.live_name,
            want.live_labels(self.stack),
            model=version.model,
            state=VersionState.READY,
            spec=want.record(),
        )
        return VersionDeployment(record, version, export)

    def model(self) -> LiveModel:
        want = self.desired.resources["model.m"]
        return LiveModel(want.live_name, want.live_labels(self.stack), region="us-central1")

    def wait(self, name: str, done: Callable[[LiveJob], bool], seconds: float = 120) -> LiveJob:
        deadline = time.monotonic() + seconds
        while True:
            job = self.backend.get_job(self.stack, name)
            if job is not None and done(job):
                return job
            assert time.monotonic() < deadline, f"{name}: {job}"
            time.sleep(0.2)


def _write(root: Path, stack: str, image: str = "", serving: bool = True) -> DesiredState:
    (root / ".git").mkdir(parents=True, exist_ok=True)
    package = root / "trainer" / "trainer"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(textwrap.dedent(TASK))
    jobs = "".join(JOB.format(name=n, sleep=60 if n == "cancel" else 0) for n in JOBS)
    (root / "m").mkdir(exist_ok=True)
    manifests = (MANIFESTS + (SERVING if serving else "")).format(jobs=jobs, image=image)
    (root / "m" / "stack.yaml").write_text(stack + manifests)
    loaded = load_stack([str(root / "m")])
    assert loaded.stack is not None, [d.render() for d in loaded.diagnostics]
    cache = HashCache(loaded.stack.settings.home)
    try:
        return compute_desired(loaded.stack, cache)
    finally:
        cache.close()


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("local", marks=pytest.mark.tensorflow),
        "vertex",
        "mlengine",
        pytest.param("ray", marks=pytest.mark.ray),
    ],
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    root = tmp_path_factory.mktemp(request.param)
    header = "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: conform}\n"
    if request.param == "local":
        request.getfixturevalue("default_runtime")  # jobs wait with deadlines: built first
        desired = _write(root, header + "---")
        backend = conforming(desired.stack.settings)

        def plant_local(holder: str, pid: int) -> None:
            from reconciler.backends.local import LocalStore

            store = LocalStore(desired.stack.settings.home, create=True)
            store.try_lock("conform", holder, pid, socket.gethostname())
            store.close()

        yield World(backend, desired, plant_local)
        for job in backend.read_live("conform").jobs:
            if not job.state.finished:
                backend.cancel_job(job.name)
        return
    if request.param == "ray":
        cluster = request.getfixturevalue("ray_cluster")
        ray_spec = f"spec: {{backend: ray, ray: {{address: '{cluster.address}', storage: s}}}}\n"
        desired = _write(root, header + ray_spec + "---")
        backend = conforming(desired.stack.settings)

        def plant_in_cluster(holder: str, pid: int) -> None:
            info = {"mlapply-lock": "conform", "id": holder, "pid": str(pid)}
            info |= {"host": socket.gethostname(), "user": "someone", "time": "1.0"}
            client = backend.client  # type: ignore[attr-defined]
            client.submit_job(
                entrypoint="true",
                submission_id="mlapply-lock-conform",
                metadata=info,
                entrypoint_num_cpus=0,
            )

        yield World(backend, desired, plant_in_cluster, stages_packages=False)
        for job in backend.read_live("conform").jobs:
            if not job.state.finished:
                backend.cancel_job(job.name)
        return
    fake = FakeGcp(job_seconds=0.5)
    vertex = request.param == "vertex"
    with pointed_at(fake, poll_seconds=0.1):
        # On Vertex, as a 2026 user must: the trainer in an image of its own (the
        # prebuilt TensorFlow training images have all ended). ML Engine runs packages.
        image = ", container: {image: us-central1-docker.pkg.dev/demo-project/t/conform:1}"
        settings = GCP if vertex else ML_ENGINE
        desired = _write(root, header + "spec:" + settings + "---", image if vertex else "")
        backend = conforming(desired.stack.settings)

        def plant_in_bucket(holder: str, pid: int) -> None:
            info = {"id": holder, "pid": pid, "host": socket.gethostname(), "time": 1.0}
            fake.put_object("gs://demo-staging/mlapply/conform/lock", json.dumps(info).encode())

        def lose_next_create() -> None:
            fake.faults.lose_create_answers = 1

        world = World(
            backend, desired, plant_in_bucket, lose_next_create, stages_packages=not vertex
        )
        fake.slow_jobs.add(world.submission("cancel").record.name)  # the fake trains no code
        yield world
    assert fake.violations == [], fake.violations


def test_a_submitted_job_runs_to_success_and_has_an_export(world: World) -> None:
    submission = world.submission("run")
    world.backend.submit_job(submission)
    job = world.wait(submission.record.name, lambda j: j.state.finished)
    assert job.state is JobState.SUCCEEDED, job.error
    live = next(j for j in world.backend.read_live(world.stack).jobs if j.name == job.name)
    assert live.stack == world.stack and live.hash == submission.record.hash
    assert live.manifest_name == "job-run"
    assert world.backend.export_of(world.stack, job, None) is not None


def test_a_job_submitted_again_after_a_lost_answer_runs_once(world: World) -> None:
    submission = world.submission("twice")
    world.lose_next_create()
    world.backend.submit_job(submission)
    world.backend.submit_job(submission)  # the apply that did not see the answer
    named = [
        j for j in world.backend.read_live(world.stack).jobs if j.name == submission.record.name
    ]
    assert len(named) == 1
    assert world.wait(named[0].name, lambda j: j.state.finished).state is JobState.SUCCEEDED


def test_cancel_ends_a_running_job(world: World) -> None:
    submission = world.submission("cancel")
    world.backend.submit_job(submission)
    world.wait(submission.record.name, lambda j: j.state is JobState.RUNNING)
    world.backend.cancel_job(submission.record.name)
    job = world.wait(submission.record.name, lambda j: j.state.finished, seconds=60)
    assert job.state is JobState.CANCELLED


def test_versions_deploy_switch_default_and_delete_default_last(world: World) -> None:
    if not isinstance(world.backend, Serving):
        with pytest.raises(MlapplyError) as refused:
            facet(world.backend, Serving)
        assert refused.value.message == profile(world.backend.name).explains[Facet.SERVING].why
        return
    backend, stack = world.backend, world.stack
    submission = world.submission("deploy")
    backend.submit_job(submission)
    trained = world.wait(submission.record.name, lambda j: j.state.finished)
    assert trained.state is JobState.SUCCEEDED
    export = backend.export_of(stack, trained, None)
    assert export is not None
    backend.put_model(world.model())
    deploy_first, deploy_second = world.version("v1", export), world.version("v2", export)
    first, second = deploy_first.record, deploy_second.record
    backend.deploy_version(deploy_first)
    backend.deploy_version(deploy_second)
    backend.deploy_version(deploy_second)  # again, after a lost answer: no second copy
    backend.set_default(first.model, second.name)
    live = backend.read_live(stack)
    assert sorted(v.name for v in live.versions) == sorted([first.name, second.name])
    assert all(v.state is VersionState.READY for v in live.versions)
    (model,) = live.models
    assert model.default_version == second.name
    backend.set_default(first.model, first.name)
    assert backend.read_live(stack).models[0].default_version == first.name
    backend.delete_version(second.model, second.name)
    assert [v.name for v in backend.read_live(stack).versions] == [first.name]
    backend.delete_version(first.model, first.name)
    backend.delete_model(model.name)
    live = backend.read_live(stack)
    assert live.versions == () and live.models == ()


def test_purge_removes_the_listed_finished_jobs_and_staged_packages(world: World) -> None:
    submission = world.submission("purge")
    world.backend.submit_job(submission)
    world.wait(submission.record.name, lambda j: j.state.finished)
    assert bool(world.backend.read_live(world.stack).packages) is world.stages_packages
    for job in world.backend.read_live(world.stack).jobs:
        world.wait(job.name, lambda j: j.state.finished, seconds=90)
    finished = sorted(job.name for job in world.backend.read_live(world.stack).jobs)
    world.backend.purge(world.stack, [])  # a destroy's plan listed no run: none goes
    assert sorted(job.name for job in world.backend.read_live(world.stack).jobs) == finished
    assert world.backend.purge(world.stack, finished) > 0
    live = world.backend.read_live(world.stack)
    assert live.jobs == () and live.packages == ()


def test_the_lock_is_exclusive_and_a_gone_holder_is_taken_over(world: World) -> None:
    backend, stack = world.backend, world.stack
    with backend.lock(stack, 0) as held:
        with pytest.raises(MlapplyError) as refused, backend.lock(stack, 0):
            pass
        assert held in refused.value.message
    world.plant_lock("deadbeef", dead_pid())
    notes: list[str] = []
    with backend.lock(stack, 0, notes.append):
        pass
    assert len(notes) == 1 and "deadbeef" in notes[0] and "is gone" in notes[0]
    with backend.lock(stack, 0):  # released
        pass
