"""Typed resources, defaults, references, the dependency graph and its order."""

from __future__ import annotations

import pytest

from reconciler.backends.google.settings import GcpSettings
from reconciler.kinds import load_stack
from reconciler.stack.build import parse_duration
from reconciler.stack.graph import find_cycle, topological_order
from reconciler.stack.resources import (
    DEFAULT_RUNTIME_VERSION,
    Accelerator,
    MachineGroup,
    Scaling,
)
from tests.conftest import CASES, REPO, WriteFiles


def test_full_example_builds_typed_resources_with_defaults_filled() -> None:
    result = load_stack([str(CASES / "good" / "full.yaml")], cwd=REPO)
    assert result.stack is not None
    stack = result.stack
    assert stack.name == "full"
    assert stack.settings.backend == "vertex"
    assert isinstance(stack.settings.backend_settings, GcpSettings)
    assert stack.settings.backend_settings.project == "my-project-123"
    assert stack.settings.home == (CASES / "good" / ".state").resolve()

    job = stack.jobs["taxifare-dnn"]
    assert job.meta.labels == {"cost-center": "ml", "env": "dev", "owner": "alice"}
    assert job.meta.prevent_destroy is True
    assert job.machines is not None
    assert job.machines.master == MachineGroup("n1-standard-8", 1, Accelerator("NVIDIA_TESLA_T4"))
    assert job.machines.worker == MachineGroup("n1-standard-8", 2, Accelerator("NVIDIA_TESLA_T4"))
    assert job.machines.evaluator is None  # count 0 is no group
    assert job.timeout_seconds == 5400
    assert job.args[-1] == "a b 'c' $(rm -rf /)"
    trainer = stack.trainers["taxifare"]
    assert trainer.source == (CASES / "pkg").resolve()
    assert trainer.flags.job_dir is None and trainer.flags.train == "--train_files"

    tuned = stack.jobs["taxifare-tune"]
    assert tuned.runtime_version == "2.15" and tuned.region == "europe-west4"
    assert tuned.tuning is not None and [p.name for p in tuned.tuning.params] == [
        "learning_rate",
        "layers",
        "optimizer",
        "batch_size",
    ]
    assert stack.models["taxifare"].region == "us-central1"
    assert stack.versions["taxifare-tuned"].scaling == Scaling(None, None, 2)
    assert stack.versions["taxifare-old"].scaling == Scaling(1, None, None)
    # A version's runtime defaults to its source job's.
    assert stack.versions["taxifare-tuned"].runtime_version == "2.15"
    assert stack.datasets["taxi"].train == (
        "gs://my-bucket/taxi/train-*.csv",
        "gs://other/train.csv",
    )


def test_dependencies_and_a_deterministic_order() -> None:
    result = load_stack([str(CASES / "good" / "full.yaml")], cwd=REPO)
    assert result.stack is not None
    stack = result.stack
    assert stack.dependencies["version.taxifare-v1"] == ("model.taxifare", "job.taxifare-dnn")
    assert stack.dependencies["job.taxifare-dnn"] == ("trainer.taxifare", "dataset.taxi")
    order = stack.order
    assert set(order) == set(stack.everything())
    for node, deps in stack.dependencies.items():
        assert all(order.index(dep) < order.index(node) for dep in deps)
    again = load_stack([str(CASES / "good" / "full.yaml")], cwd=REPO)
    assert again.stack is not None and again.stack.order == order


def test_files_in_a_folder_load_in_a_deterministic_order(write_files: WriteFiles) -> None:
    stack = "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: s}\n"
    model = "apiVersion: mlapply/v1\nkind: Model\nmetadata: {{name: {}}}\n"
    root = write_files(
        {
            "b.yaml": model.format("b"),
            "a.yml": stack,
            "sub/c.yaml": model.format("c"),
            ".hidden/x.yaml": "not: [valid",
            ".mlapply/state.yaml": "not: [valid",
            "state/.mlapply-home": "",
            "state/jobs/x.yaml": "not: [valid",
            "notes.txt": "ignored",
        }
    )
    result = load_stack([str(root)])
    assert result.ok, [d.render() for d in result.diagnostics]
    assert result.manifests is not None
    assert [f.path.name for f in result.manifests.files] == ["a.yml", "b.yaml", "c.yaml"]


def test_defaults_come_from_the_stack_then_built_in(write_files: WriteFiles) -> None:
    root = write_files(
        {
            "s.yaml": """
            apiVersion: mlapply/v1
            kind: Stack
            metadata: {name: s}
            spec:
              gcp: {region: asia-east1}
              defaults: {scaleTier: STANDARD_1}
            ---
            apiVersion: mlapply/v1
            kind: Trainer
            metadata: {name: t}
            spec: {packageUris: [gs://b/p.tar.gz]}
            ---
            apiVersion: mlapply/v1
            kind: TrainingJob
            metadata: {name: j}
            spec: {trainer: t}
            """
        }
    )
    result = load_stack([str(root)])
    assert result.stack is not None
    job = result.stack.jobs["j"]
    assert (job.region, job.scale_tier, job.runtime_version) == (
        "asia-east1",
        "STANDARD_1",
        DEFAULT_RUNTIME_VERSION,
    )


def test_missing_paths_and_empty_folders_are_diagnostics(write_files: WriteFiles) -> None:
    root = write_files({"empty/readme.txt": "nothing"})
    result = load_stack([str(root / "nope"), str(root / "empty")])
    assert result.stack is None
    messages = {str(d.location).rsplit("/", 1)[-1]: d.message for d in result.diagnostics}
    assert messages == {
        "nope": "no such file or directory",
        "empty": "no manifests (*.yaml, *.yml) found here",
    }


def test_trainer_source_escape_through_a_symlink_is_caught(write_files: WriteFiles) -> None:
    root = write_files(
        {
            "repo/.git/HEAD": "ref: refs/heads/main\n",
            "repo/m/s.yaml": """
            apiVersion: mlapply/v1
            kind: Stack
            metadata: {name: s}
            ---
            apiVersion: mlapply/v1
            kind: Trainer
            metadata: {name: t}
            spec: {source: ../link}
            """,
            "outside/trainer/task.py": "",
        }
    )
    (root / "repo" / "link").symlink_to(root / "outside")
    result = load_stack([str(root / "repo" / "m")])
    assert [d.message for d in result.diagnostics] == [
        f'spec.source: "../link" is outside the repository ({root / "repo"})'
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("45m", 2700), ("1h30m", 5400), ("1.5h", 5400), ("2d", 172800)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_graph_cycles_and_order() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    order = topological_order({"a": ["b", "c"], "b": ["c"], "c": [], "d": []}, rank=str)
    assert order == ("c", "b", "a", "d")
    with pytest.raises(ValueError, match="cycle"):
        topological_order({"a": ["b"], "b": ["a"]}, rank=str)
