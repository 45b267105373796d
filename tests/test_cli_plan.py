"""`mlapply plan`, `show` and `graph` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from reconciler import cli
from tests.plan_scenarios import Scenario


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.cli, list(args))
    return result.exit_code, result.output


def test_plan_detailed_exit_codes(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    manifests = str(s.root / "m")
    code, output = _invoke("plan", manifests, "--detailed-exitcode")
    assert code == 2, output
    assert "Plan: 3 to create, 0 to update, 0 to replace, 0 to delete." in output
    assert _invoke("plan", manifests)[0] == 0
    s.apply()
    code, output = _invoke("plan", manifests, "--detailed-exitcode")
    assert (code, output.splitlines()[-1]) == (
        0,
        "No changes. The live resources match the manifests.",
    )


def test_plan_errors_exit_1_and_show_the_plan(tmp_path: Path) -> None:
    s = Scenario(tmp_path, protect=True)
    s.apply()
    s.configure(with_model=False)
    code, output = _invoke("plan", str(s.root / "m"), "--detailed-exitcode")
    assert code == 1
    assert "Error: model.taxifare is protected by lifecycle.preventDestroy" in output
    assert output.rstrip().endswith(
        "Plan failed: 2 error(s); apply changes nothing until they are fixed."
    )
    assert "to delete." not in output  # no count of changes apply would not make


def test_a_dataset_that_matches_no_files_is_a_plan_error_at_its_manifest(
    tmp_path: Path,
) -> None:
    from tests.conftest import copy_example

    manifests = copy_example(tmp_path / "repo", rows=50)
    for data in (manifests / "data").glob("taxi-valid*.csv"):
        data.unlink()
    code, output = _invoke("plan", str(manifests))
    assert code == 1, output
    error = next(line for line in output.splitlines() if line.startswith("Error: "))
    assert f"Error: {manifests / 'stack.yaml'}:" in error or "stack.yaml:" in error, error
    assert "taxi-valid*.csv match no files" in error
    assert output.rstrip().endswith("apply changes nothing until they are fixed.")


def test_saved_plan_is_json_and_show_renders_it(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    saved = tmp_path / "plan.json"
    code, text = _invoke("plan", str(s.root / "m"), "-o", str(saved))
    assert code == 0
    document = json.loads(saved.read_text())
    assert document["format_version"] == "2.2" and len(document["snapshot_digest"]) == 64
    code, shown = _invoke("show", str(saved))
    assert (code, shown) == (0, text)
    code, markdown = _invoke("show", str(saved), "--format", "markdown")
    assert code == 0 and markdown.startswith("<!-- mlapply-plan stack=demo -->\n### mlapply plan:")
    saved.write_text(json.dumps({**document, "format_version": "1.0"}))
    for command in ("show", "apply"):
        code, output = _invoke(command, str(saved))
        assert code == 1, output
        assert output.splitlines() == [
            f"error: {saved}: this plan is in format 1.0, and this mlapply reads format 2.x only",
            "  hint: make the plan again with `mlapply plan -o FILE`",
        ]
    saved.write_text(json.dumps({**document, "changes": [{"address": 1}]}))
    code, output = _invoke("show", str(saved))
    assert code == 1 and "not a valid plan file (changes/0" in output


def test_plan_json_and_markdown_formats(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    code, output = _invoke("plan", str(s.root / "m"), "--format", "json")
    assert code == 0
    assert [c["action"] for c in json.loads(output)["changes"]] == ["create"] * 3
    code, output = _invoke("plan", str(s.root / "m"), "--format", "markdown")
    assert code == 0 and "| ➕ | `job.taxifare-dnn` | create |" in output  # noqa: RUF001


def test_unknown_target_and_retrain_names_are_clear_errors(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    code, output = _invoke("plan", str(s.root / "m"), "--target", "job.taxifare-dn")
    assert code == 1 and "--target job.taxifare-dn: no such resource" in output
    assert 'did you mean "job.taxifare-dnn"?' in output
    code, output = _invoke("plan", str(s.root / "m"), "--retrain", "nope")
    assert code == 1 and "--retrain nope: no TrainingJob of that name" in output


def test_graph_prints_dot(tmp_path: Path) -> None:
    s = Scenario(tmp_path)
    code, output = _invoke("graph", str(s.root / "m"))
    assert code == 0
    assert output.startswith('digraph "demo" {')
    assert '"version.taxifare-v1" -> "job.taxifare-dnn";' in output


def test_plan_on_invalid_manifests_prints_diagnostics(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("apiVersion: mlapply/v1\nkind: Stak\n")
    code, output = _invoke("plan", str(tmp_path))
    assert code == 1 and 'unknown kind "Stak"' in output and "Invalid: 2 errors." in output
