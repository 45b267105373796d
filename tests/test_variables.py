"""Variables: declaration, precedence, typing, substitution and their errors."""

from __future__ import annotations

from reconciler.kinds import load_stack
from reconciler.manifests import VariableInputs
from tests.conftest import WriteFiles

STACK = """
apiVersion: mlapply/v1
kind: Stack
metadata: {name: s}
spec:
  variables:
    steps: {type: integer, default: 10}
    project: {}
    rate: {default: 0.5}
    flag: {type: boolean, default: false}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {name: t}
spec: {packageUris: ["gs://${var.project}/pkg.tar.gz"]}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {name: j}
spec:
  trainer: t
  hyperparameters:
    steps: "${var.steps}"
    rate: "${var.rate}"
    flag: "${var.flag}"
    mixed: "n=${var.steps}"
  args: ["$${var.steps}"]
"""


def test_defaults_and_typed_whole_value_references(write_files: WriteFiles) -> None:
    root = write_files({"stack.yaml": STACK})
    result = load_stack([str(root)], VariableInputs(flags=["project=proj-1"]))
    assert result.ok, [d.render() for d in result.diagnostics]
    assert result.stack is not None
    job = result.stack.jobs["j"]
    assert job.hyperparameters == {"steps": 10, "rate": 0.5, "flag": False, "mixed": "n=10"}
    assert job.args == ("${var.steps}",)
    assert result.stack.trainers["t"].package_uris == ("gs://proj-1/pkg.tar.gz",)


def test_flags_win_over_files_which_win_over_environment(write_files: WriteFiles) -> None:
    root = write_files({"m/stack.yaml": STACK, "vars.yaml": "steps: 20\nproject: from-file\n"})
    environ = {"MLAPPLY_VAR_steps": "30", "MLAPPLY_VAR_project": "from-env"}
    result = load_stack(
        [str(root / "m")],
        VariableInputs(flags=["steps=40"], files=[str(root / "vars.yaml")], environ=environ),
    )
    assert result.stack is not None
    assert result.stack.jobs["j"].hyperparameters["steps"] == 40
    assert result.stack.trainers["t"].package_uris == ("gs://from-file/pkg.tar.gz",)
    only_env = load_stack([str(root / "m")], VariableInputs(environ=environ))
    assert only_env.stack is not None
    assert only_env.stack.jobs["j"].hyperparameters["steps"] == 30


def test_values_from_outside_are_converted_to_the_declared_type(write_files: WriteFiles) -> None:
    root = write_files({"stack.yaml": STACK})
    result = load_stack(
        [str(root)], VariableInputs(flags=["project=p", "flag=true", "rate=3", "steps=007"])
    )
    assert result.stack is not None
    assert result.stack.jobs["j"].hyperparameters["flag"] is True
    assert result.stack.jobs["j"].hyperparameters["rate"] == 3
    assert result.stack.jobs["j"].hyperparameters["steps"] == 7


def test_bad_outside_values_are_errors(write_files: WriteFiles) -> None:
    root = write_files({"stack.yaml": STACK})
    result = load_stack(
        [str(root)], VariableInputs(flags=["project=p", "steps=ten", "nope=1", "broken"])
    )
    messages = [d.render() for d in result.diagnostics]
    assert result.stack is None
    assert any("--var steps" in m and "'ten' is not integer" in m for m in messages)
    assert any('variable "nope" is not declared' in m for m in messages)
    assert any("expected NAME=VALUE" in m for m in messages)


def test_unset_variable_is_reported_at_each_use(write_files: WriteFiles) -> None:
    root = write_files({"stack.yaml": STACK})
    result = load_stack([str(root)])
    unset = [d for d in result.diagnostics if 'variable "project" is not set' in d.message]
    assert [str(d.location).split("/")[-1] for d in unset] == ["stack.yaml:14:22"]
    assert "MLAPPLY_VAR_project" in (unset[0].hint or "")


def test_var_file_errors_point_into_the_file(write_files: WriteFiles) -> None:
    root = write_files({"m/stack.yaml": STACK, "vars.yaml": "project: p\nsteps: [1]\nother: 1\n"})
    result = load_stack([str(root / "m")], VariableInputs(files=[str(root / "vars.yaml")]))
    rendered = [d.render() for d in result.diagnostics]
    assert any("vars.yaml:2:" in r and "expected a scalar" in r for r in rendered)
    # An undeclared name in a shared variable file is a warning, not an error.
    assert any("vars.yaml:3:1: warning" in r for r in rendered)
