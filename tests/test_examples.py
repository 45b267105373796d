"""The GitHub Actions example parses, and every mlapply command in it is a real
command with real options."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click
import yaml

from reconciler import cli
from tests.conftest import REPO

WORKFLOW = REPO / "examples" / "github-actions" / "mlapply.yml"


def _commands(workflow: dict[str, Any]) -> list[list[str]]:
    found = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            for line in str(step.get("run", "")).splitlines():
                words = shlex.split(line, comments=True)
                if words[:1] == ["mlapply"]:
                    found.append(words[1 : words.index(">")] if ">" in words else words[1:])
    return found


def test_the_workflow_plans_pull_requests_and_applies_on_merge() -> None:
    workflow = yaml.safe_load(Path(WORKFLOW).read_text(encoding="utf-8"))
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads on: as true
    assert {"pull_request", "push"} <= set(triggers)
    commands = _commands(workflow)
    assert [c[0] for c in commands] == ["validate", "plan", "apply", "status"]
    assert "--format" in commands[1] and "markdown" in commands[1]
    assert "--auto-approve" in commands[2]
    for words in commands:
        command = cli.cli.commands[words[0]]
        options = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
        for word in words[1:]:
            if word.startswith("-"):
                assert word in options, f"mlapply {words[0]} has no option {word}"
