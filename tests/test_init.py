"""`mlapply init`: a template and starter manifests that validate and plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.kinds import load_stack


@pytest.mark.parametrize("template", ["regression", "classification"])
def test_init_writes_a_package_and_manifests_that_validate_and_plan(
    template: str, tmp_path: Path
) -> None:
    target = tmp_path / "My_Project"
    result = CliRunner().invoke(cli.cli, ["init", str(target), "--template", template])
    assert result.exit_code == 0, result.output
    assert (target / "trainer" / "model.py").exists() and (target / "trainer" / "task.py").exists()
    assert 'name="my-project"' in (target / "setup.py").read_text()
    loaded = load_stack([str(target / "manifests")])
    assert loaded.stack is not None, [d.render() for d in loaded.diagnostics]
    assert [d.severity.value for d in loaded.diagnostics] == ["warning", "warning"]  # no data yet
    assert loaded.stack.trainers["my-project"].source == target.resolve()
    planned = CliRunner().invoke(cli.cli, ["plan", str(target / "manifests")])
    assert planned.exit_code == 0, planned.output
    assert "Plan: 3 to create" in planned.output


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text("# mine\n")
    result = CliRunner().invoke(cli.cli, ["init", str(tmp_path), "--no-git"])
    assert result.exit_code == 1
    assert "refusing to overwrite existing files" in result.output
    assert (tmp_path / "setup.py").read_text() == "# mine\n"
    assert not (tmp_path / "trainer").exists() and not (tmp_path / "manifests").exists()


def test_init_rejects_bad_names_and_unknown_templates(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(cli.cli, ["init", str(tmp_path), "--name", "Bad_Name", "--no-git"])
    assert bad.exit_code == 1 and "--name 'Bad_Name' is not a valid name" in bad.output
    unknown = runner.invoke(cli.cli, ["init", str(tmp_path), "--template", "gan", "--no-git"])
    assert unknown.exit_code == 1 and "choose one of: classification, regression" in unknown.output
    assert list(tmp_path.iterdir()) == []
