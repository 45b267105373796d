"""GitOps: the example workflows are checked (zizmor, and check-jsonschema with its
vendored GitHub workflow and GitLab CI schemas), and the GitHub workflow's steps run
for real, as its YAML writes them, against a local stack with a recording stand-in
for `gh` (tests/fake_gh.py): the plan comment created then edited in place, labels,
a stale reviewed plan refused and said on the pull request (or re-planned), the
reviewed plan applied, the drift issue opened, updated and closed. Also what mlapply
offers the workflows: annotations, Code Quality, labels, and exit 3 for stale."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from reconciler import cli
from reconciler.backends.local import LocalStore
from reconciler.render.annotations import github as github_annotations
from tests.conftest import REPO, copy_example
from tests.fake_gcp.server import FakeGcp
from tests.test_vertex import fake  # noqa: F401 (the fake Google Cloud, a fixture)
from tests.test_watching import burn_project

GITHUB = REPO / "examples" / "github-actions" / "mlapply.yml"
GITLAB = REPO / "examples" / "gitlab-ci" / "mlapply.gitlab-ci.yml"
BIN = Path(sys.executable).parent


def _tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], capture_output=True, text=True, check=False, timeout=300
    )


# The workflows, checked --------------------------------------------------------------


def test_the_github_workflow_passes_zizmor_as_an_auditor() -> None:
    done = _tool("zizmor", "--offline", "--persona=auditor", str(GITHUB))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings" in done.stdout + done.stderr


def test_the_workflows_match_github_and_gitlab_schemas() -> None:
    done = _tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(GITHUB))
    assert done.returncode == 0, done.stdout + done.stderr
    done = _tool(
        "check-jsonschema",
        "--builtin-schema",
        "vendor.gitlab-ci",
        "--data-transform",
        "gitlab-ci",
        str(GITLAB),
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_run_step_expands_an_expression_and_every_action_is_pinned() -> None:
    """Expressions reach scripts only through env (no injection), actions by SHA."""
    workflow = yaml.safe_load(GITHUB.read_text())
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step
            if "uses" in step:
                assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_the_gitops_example_is_a_vertex_stack_that_validates_and_plans(
    tmp_path: Path,
    fake: FakeGcp,  # noqa: F811
) -> None:
    """The workflows' example: the taxifare stack on Vertex AI (state that outlives
    the runner), planned against the fake Google Cloud as the read-only planner would."""
    copy_example(tmp_path / "repo", rows=200)
    shutil.copytree(REPO / "examples" / "gitops", tmp_path / "repo" / "examples" / "gitops")
    manifests = str(tmp_path / "repo" / "examples" / "gitops" / "manifests")
    done = CliRunner().invoke(cli.cli, ["validate", manifests])
    assert done.exit_code == 0 and "warning" not in done.output, done.output
    done = CliRunner().invoke(
        cli.cli, ["plan", manifests, "--var", "project=demo-project", "--detailed-exitcode"]
    )
    assert done.exit_code == 2, done.output
    assert "(backend vertex)" in done.output and "Plan: 3 to create" in done.output
    assert "runs container us-central1-docker.pkg.dev/my-project/trainers/taxifare:1" in done.output
    assert not [c for c in fake.calls if not c.endswith((".list", ".get"))]  # read only


# What mlapply offers the workflows ---------------------------------------------------


def test_validate_writes_github_annotations_and_a_gitlab_code_quality_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = burn_project(tmp_path, seconds=1)
    stack = manifests / "stack.yaml"
    stack.write_text(stack.read_text().replace("trainer: t,", "trainer: tt,"))
    monkeypatch.chdir(tmp_path)  # the repository's root, where CI runs
    relative = "m"
    result = CliRunner().invoke(cli.cli, ["validate", relative, "--format", "github"])
    assert result.exit_code == 1
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"::error file={relative}/stack.yaml,line=")
    assert ",title=mlapply validate::" in line and 'no Trainer named "tt"' in line
    assert "%0Ahint: did you mean" in line  # the hint on the annotation's next line
    result = CliRunner().invoke(cli.cli, ["validate", relative, "--format", "gitlab"])
    (issue,) = json.loads(result.stdout)
    assert issue["severity"] == "major" and issue["location"]["path"] == f"{relative}/stack.yaml"
    assert issue["location"]["lines"]["begin"] > 1 and len(issue["fingerprint"]) == 64


def test_annotation_properties_and_messages_are_escaped() -> None:
    found = {"severity": "warning", "message": "50% of a\nb", "hint": None}
    text = github_annotations([{**found, "file": "a,b:c.yaml", "line": 3, "column": None}])
    assert text == "::warning file=a%2Cb%3Ac.yaml,line=3,title=mlapply validate::50%25 of a%0Ab\n"


# The steps, run ----------------------------------------------------------------------


class Workflow:
    """The GitHub workflow's steps, run with bash as the runner would, in a repository
    with a local stack, `gh` answered by the recording stand-in."""

    def __init__(self, tmp_path: Path) -> None:
        self.repo = tmp_path / "repo"
        burn_project(self.repo, seconds=1).rename(self.repo / "manifests")
        self.stack = self.repo / "manifests" / "stack.yaml"
        self.state = tmp_path / "gh-state.json"
        self.state.write_text("{}")
        self.log = tmp_path / "gh-log.jsonl"
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        gh = self.bin / "gh"
        gh.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" "{REPO / "tests" / "fake_gh.py"}" "$@"\n'
        )
        gh.chmod(0o755)
        self.document = yaml.safe_load(GITHUB.read_text())

    @property
    def gh(self) -> dict[str, Any]:
        return dict(json.loads(self.state.read_text()))

    def edit_gh(self, **values: Any) -> None:
        self.state.write_text(json.dumps({**self.gh, **values}))

    def set_seconds(self, seconds: int) -> None:
        self.stack.write_text(
            re.sub(r"seconds: \d+", f"seconds: {seconds}", self.stack.read_text())
        )

    def step(self, job: str, step: str, **context: str) -> subprocess.CompletedProcess[str]:
        found = next(s for s in self.document["jobs"][job]["steps"] if s.get("id") == step)
        env = {
            **os.environ,
            "PATH": f"{self.bin}:{BIN}:{os.environ['PATH']}",
            "GITHUB_REPOSITORY": "acme/fares",
            "GITHUB_SHA": context.get("sha", "0" * 40),
            "GITHUB_STEP_SUMMARY": str(self.repo / "summary.md"),
            "FAKE_GH_STATE": str(self.state),
            "FAKE_GH_LOG": str(self.log),
        }
        expressions = {
            "${{ github.token }}": "token",
            "${{ github.event.pull_request.number }}": context.get("pr", ""),
            "${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }}": (
                "https://github.example/acme/fares/actions/runs/1"
            ),
        }
        for key, value in {**self.document["env"], **found.get("env", {})}.items():
            env[key] = expressions.get(value, value)
            assert "${{" not in env[key], f"{key}: {value} is not known to this test"
        if "on_stale" in context:
            env["MLAPPLY_ON_STALE"] = context["on_stale"]
        return subprocess.run(
            ["bash", "-e", "-c", found["run"]],
            cwd=self.repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    def ok(self, job: str, step: str, **context: str) -> str:
        done = self.step(job, step, **context)
        assert done.returncode == 0, f"{job}.{step}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def review(self, pr: str, run: int) -> None:
        """A pull request's plan, comment and labels; its plan kept as the run's artifact."""
        self.ok("plan", "plan")
        self.ok("plan", "comment", pr=pr)
        self.ok("plan", "labels", pr=pr)
        kept = self.repo.parent / f"artifact-{run}"
        kept.mkdir()
        (kept / "plan.json").write_bytes((self.repo / "plan.json").read_bytes())
        artifact = {
            "name": f"mlapply-plan-{pr}",
            "created_at": f"2026-12-05T00:00:{run:02d}Z",
            "expired": False,
            "workflow_run": {"id": run},
            "files": {"plan.json": str(kept / "plan.json")},
        }
        self.edit_gh(artifacts=[*self.gh.get("artifacts", []), artifact])

    def jobs(self) -> list[Any]:
        return list(LocalStore(self.repo / "manifests" / ".mlapply").read("watched").jobs)


@pytest.mark.usefixtures("default_runtime")
def test_the_github_workflow_reviews_applies_what_was_reviewed_and_tracks_drift(
    tmp_path: Path,
) -> None:
    flow = Workflow(tmp_path)

    # Pull request 7: one comment, edited in place on the next push; labels.
    flow.review("7", run=1)
    (comment,) = flow.gh["comments"]["7"]
    assert comment["body"].startswith("<!-- mlapply-plan stack=watched -->\n### mlapply plan")
    assert "job.burn" in comment["body"]
    assert flow.gh["labels"]["7"] == ["mlapply:add-or-update"]
    flow.review("7", run=2)
    (comment,) = flow.gh["comments"]["7"]
    assert comment["edited"] == 1

    # Merged, but the manifests changed after the review: the reviewed plan is stale.
    flow.edit_gh(pulls_of_commit={"c0ffee": [7]})
    flow.set_seconds(2)
    stale = flow.step("apply", "apply", sha="c0ffee")
    assert stale.returncode == 3, stale.stdout + stale.stderr
    assert "the saved plan is stale: the manifests" in stale.stderr
    said = flow.gh["comments"]["7"][-1]["body"]
    assert said.startswith("The plan reviewed here is stale") and "nothing was applied" in said
    assert "The plan now:" in said and "hyperparameters.seconds: 2" in said  # the plan now
    assert flow.jobs() == []

    # Reviewed again, then merged: exactly that plan is applied.
    flow.review("7", run=3)
    flow.ok("apply", "apply", sha="c0ffee")
    (job,) = flow.jobs()
    assert job.state.value == "SUCCEEDED" and job.manifest_name == "burn"
    flow.review("7", run=4)
    assert flow.gh["labels"]["7"] == ["mlapply:no-changes"]

    # A direct push with no reviewed plan, MLAPPLY_ON_STALE=replan: a fresh plan applied.
    flow.set_seconds(3)
    flow.ok("apply", "apply", sha="d1rec7", on_stale="replan")
    assert len(flow.jobs()) == 2

    # Drift: none, then the manifests move ahead of the live stack, then back.
    flow.ok("drift", "drift")
    assert flow.gh.get("issues", []) == []
    flow.set_seconds(4)
    flow.ok("drift", "drift")
    flow.ok("drift", "drift")
    (issue,) = flow.gh["issues"]
    assert issue["state"] == "open" and issue["labels"] == ["mlapply:drift"]
    assert (
        issue["body"].startswith("<!-- mlapply-plan stack=watched -->")
        and "job.burn" in issue["body"]
    )
    flow.set_seconds(3)
    flow.ok("drift", "drift")
    (issue,) = flow.gh["issues"]
    assert issue["state"] == "closed"
    assert flow.gh["comments"][str(issue["number"])][-1]["body"].startswith(
        "The stack matches its manifests again"
    )

    calls = [json.loads(line) for line in flow.log.read_text().splitlines()]
    assert ["run", "download", "3", "--repo", "acme/fares", "--name", "mlapply-plan-7",
            "--dir", "reviewed"] in calls  # fmt: skip
