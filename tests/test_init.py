"""`mlapply init`: a template and starter manifests that validate and plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.kinds import load_stack


@pytest.mark.parametrize("template", ["regression", "classification", "estimator"])
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
    assert loaded.diagnostics == []  # init wrote the data the Dataset names
    assert loaded.stack.trainers["my-project"].source == target.resolve()
    assert json.loads((target / "sample-request.json").read_text())["instances"]
    readme = (target / "README.md").read_text()
    assert readme.startswith("# my-project\n") and "trainer_templates" not in readme
    assert "mlapply predict my-project manifests/" in readme and "manifests/data" not in readme
    assert "\n## " in readme and "\n# " not in readme.partition("\n")[2]  # one title
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
    assert (
        unknown.exit_code == 1
        and "choose one of: classification, estimator, regression" in unknown.output
    )
    assert list(tmp_path.iterdir()) == []


def test_an_init_project_does_not_retrain_when_its_manifests_or_data_change(
    tmp_path: Path,
) -> None:
    """The Trainer's source is the project folder; its manifests, data and stack home
    inside it are not the package, so editing them keeps the job's identity."""
    from reconciler.identity.hashcache import HashCache
    from reconciler.kinds import compute_desired

    target = tmp_path / "proj"
    assert CliRunner().invoke(cli.cli, ["init", str(target), "--no-git"]).exit_code == 0
    (target / ".git").mkdir()
    (target / "data" / "train-1.csv").write_text("fare_amount\n1.0\n")
    (target / "data" / "eval-1.csv").write_text("fare_amount\n2.0\n")

    def identities() -> dict[str, str]:
        loaded = load_stack([str(target / "manifests")])
        assert loaded.stack is not None, [d.render() for d in loaded.diagnostics]
        desired = compute_desired(loaded.stack, HashCache(None))
        return {a: r.hash for a, r in desired.resources.items() if a.startswith("job.")}

    before = identities()
    serving = target / "manifests" / "serving.yaml"
    text = serving.read_text()
    assert "name: proj\n---" in text
    serving.write_text(text.replace("name: proj\n---", "name: proj\nspec:\n  description: x\n---"))
    (target / ".mlapply").mkdir()
    (target / ".mlapply" / "state.db").write_text("not the package")
    assert identities() == before
    (target / "trainer" / "model.py").write_text("# changed\n", encoding="utf-8")
    assert identities() != before


def test_the_tests_use_the_machines_runtime_cache_not_a_second_copy(tmp_path: Path) -> None:
    """Loading the tests' conftest leaves MLAPPLY_RUNTIMES as the user has it: the suite
    builds runtimes where mlapply does (~/.cache/mlapply/runtimes), once per machine."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {k: v for k, v in os.environ.items() if k != "MLAPPLY_RUNTIMES"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    probe = (
        "import tests.conftest\n"
        "from reconciler.backends.local.runtime import runtime_cache\n"
        "print(runtime_cache())"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == str(tmp_path / "cache" / "mlapply" / "runtimes")
