"""The command line: output, exit codes, no tracebacks, and a fast, light start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import cli
from tests.conftest import CASES, REPO, WriteFiles, copy_example


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=60,
    )


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(cli.cli, ["--help"])
    assert result.exit_code == 0
    assert "validate" in result.output


def test_validate_the_example_stack() -> None:
    done = _run("validate", "manifests/")
    assert done.returncode == 0, done.stderr
    assert 'stack "taxifare"' in done.stdout
    assert "Traceback" not in done.stderr


def test_validate_reports_every_error_with_position_and_exit_1() -> None:
    done = _run("validate", "tests/cases/bad/references.yaml")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert "tests/cases/bad/references.yaml:19:12: error: spec.trainer: no Trainer named" in (
        done.stderr
    )
    assert '  hint: did you mean "taxifare"?' in lines
    assert lines[-1] == "Invalid: 4 errors."
    assert "Traceback" not in done.stderr


def test_validate_json_is_a_list_of_diagnostics() -> None:
    done = _run("validate", "--format", "json", "tests/cases/bad/two_defaults.yaml")
    assert done.returncode == 1
    diagnostics = json.loads(done.stdout)
    assert diagnostics == [
        {
            "severity": "error",
            "message": 'model "m" has two default versions: "a" and "b"',
            "hint": "a model has at most one default version: set default: true on one only",
            "file": "tests/cases/bad/two_defaults.yaml",
            "line": 20,
            "column": 12,
        }
    ]
    clean = _run("validate", "--format", "json", "tests/cases/good/minimal.yaml")
    assert clean.returncode == 0 and json.loads(clean.stdout) == []


def test_validate_takes_variables_from_flags_and_files(write_files: WriteFiles) -> None:
    root = write_files(
        {
            "m/stack.yaml": """
            apiVersion: mlapply/v1
            kind: Stack
            metadata: {name: s}
            spec:
              variables: {project: {}, region: {}}
            ---
            apiVersion: mlapply/v1
            kind: Model
            metadata: {name: m}
            spec: {description: "${var.project} in ${var.region}"}
            """,
            "vars.yaml": "region: us-east1\n",
        }
    )
    runner = CliRunner()
    unset = runner.invoke(cli.cli, ["validate", str(root / "m")])
    assert unset.exit_code == 1 and 'variable "project" is not set' in unset.output
    given = runner.invoke(
        cli.cli,
        ["validate", str(root / "m"), "--var", "project=p", "--var-file", str(root / "vars.yaml")],
    )
    assert given.exit_code == 0, given.output


def test_validate_never_runs_trainer_code(write_files: WriteFiles, tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    payload = f"open({str(marker)!r}, 'w').write('ran')\n"
    root = write_files(
        {
            "repo/.git/HEAD": "",
            "repo/pkg/setup.py": payload,
            "repo/pkg/pyproject.toml": "[build-system]\nrequires = []\n",
            "repo/pkg/trainer/__init__.py": payload,
            "repo/pkg/trainer/task.py": payload,
            "repo/m/s.yaml": """
            apiVersion: mlapply/v1
            kind: Stack
            metadata: {name: s}
            ---
            apiVersion: mlapply/v1
            kind: Trainer
            metadata: {name: t}
            spec: {source: ../pkg}
            """,
        }
    )
    result = CliRunner().invoke(cli.cli, ["validate", str(root / "repo" / "m")])
    assert result.exit_code == 0, result.output
    assert not marker.exists()


def test_internal_errors_are_one_line_unless_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    import reconciler.kinds

    def explode(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(reconciler.kinds, "load_stack", explode)
    runner = CliRunner()
    plain = runner.invoke(cli.cli, ["validate", str(CASES / "good")])
    assert plain.exit_code == 1
    assert "error: internal error: RuntimeError: boom" in plain.output
    assert "Traceback" not in plain.output
    debug = runner.invoke(cli.cli, ["--debug", "validate", str(CASES / "good")])
    assert debug.exit_code == 1 and "Traceback" in debug.output


def test_cli_import_validate_and_plan_load_no_heavy_modules(tmp_path: Path) -> None:
    copy_example(tmp_path / "repo", rows=50)  # with data: a plan that can succeed
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "import reconciler.cli as cli\n"
        "assert 'jsonschema' not in sys.modules and 'yaml' not in sys.modules\n"
        "result = CliRunner().invoke(cli.cli, ['validate', 'manifests/'])\n"
        "assert result.exit_code == 0, result.output\n"
        "result = CliRunner().invoke(cli.cli, ['plan', 'manifests/'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'googleapiclient', 'google', 'keras', 'numpy', 'jsonschema')]\n"
        "assert heavy == [], heavy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path / "repo",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_unknown_option_is_a_usage_error_not_a_traceback() -> None:
    done = _run("validate", "--bogus", "manifests/")
    assert done.returncode == 2
    assert "No such option" in done.stderr and "Traceback" not in done.stderr


def test_debug_is_taken_after_the_command_as_the_readme_writes_it(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(
        "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: s}\n"
    )
    result = CliRunner().invoke(cli.cli, ["validate", "--debug", str(tmp_path)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli.cli, ["destroy", "--no-wait", str(tmp_path)])
    assert result.exit_code == 2 and "No such option" in result.output  # apply's only


def test_the_readmes_python_snippets_are_python_as_pasted() -> None:
    import re

    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert blocks
    for block in blocks:
        compile(block, "README.md", "exec")


@pytest.mark.parametrize(
    ("broken", "cause"),
    [
        (("  trainer: taxifare", " trainer: taxifare"), "not valid YAML"),
        (
            ("  source: ../trainer_templates", "  sourc: ../trainer_templates"),
            'unknown field "sourc"',
        ),
    ],
)
def test_the_root_error_is_said_and_its_consequences_are_not(
    tmp_path: Path, broken: tuple[str, str], cause: str
) -> None:
    """A bad indent makes training.yaml unreadable: serving.yaml's reference to the job
    it declares is not a second error; a mistyped source is not also 'a Trainer needs
    exactly one of source, packageUris or container'."""
    manifests = copy_example(tmp_path / "repo", rows=20)
    training = manifests / "training.yaml"
    assert broken[0] in training.read_text()
    training.write_text(training.read_text().replace(broken[0], broken[1], 1))
    result = CliRunner().invoke(cli.cli, ["validate", str(manifests)])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if ": error: " in line]
    assert len(errors) == 1 and cause in errors[0], result.output


def test_a_command_whose_extra_is_not_installed_says_which_to_install() -> None:
    """After a plain `pip install mlapply` (no [local]), predict cannot import numpy:
    the user is told the extra to install, not that mlapply has a bug."""
    import subprocess
    import sys

    blocked = (
        "import sys; sys.modules['numpy'] = None; sys.argv = ['mlapply', *sys.argv[1:]]; "
        "from reconciler.cli import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked, "predict", "m", "manifests", "--instances", "[]"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "`mlapply predict` needs the local extra (numpy is not installed)" in done.stderr
    assert "pip install 'mlapply[local]'" in done.stderr and "bug" not in done.stderr
