"""The CI examples parse, and every mlapply command in them is a real command with
real options and values (tests/test_gitops.py runs the GitHub workflow's steps)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from reconciler import cli
from tests.conftest import REPO

GITHUB = REPO / "examples" / "github-actions" / "mlapply.yml"
GITLAB = REPO / "examples" / "gitlab-ci" / "mlapply.gitlab-ci.yml"


class _GitLab(yaml.SafeLoader):
    """YAML with GitLab's ``!reference`` tag."""


def _reference(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
    assert isinstance(node, yaml.SequenceNode)
    return loader.construct_sequence(node)


_GitLab.add_constructor("!reference", _reference)


def _scripts(path: Path) -> list[str]:
    document: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_GitLab)
    if path == GITHUB:
        return [s.get("run", "") for job in document["jobs"].values() for s in job["steps"]]
    jobs = [v for v in document.values() if isinstance(v, dict) and "script" in v]
    return [line for job in jobs for line in job["script"] if isinstance(line, str)]


def _commands(path: Path) -> list[list[str]]:
    """Each ``mlapply ...`` command line of the scripts, as words, up to a redirection
    or pipe (lines joined where they continue)."""
    found = []
    for script in _scripts(path):
        for line in script.replace("\\\n", " ").splitlines():
            for part in re.findall(r"(?:^|[(|;]\s*)mlapply (.+?)(?:[|)>]|$)", line.strip()):
                found.append(shlex.split(part))
    return found


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_every_mlapply_command_in_the_ci_examples_is_real(path: Path) -> None:
    commands = _commands(path)
    assert {c[0] for c in commands} >= {"validate", "plan", "show", "apply"}
    for words in commands:
        command = cli.cli.commands[words[0]]
        options = {o: p for p in command.params if isinstance(p, click.Option) for o in p.opts}
        for word, after in zip(words[1:], [*words[2:], ""], strict=True):
            if not word.startswith("-"):
                continue
            assert word in options, f"mlapply {words[0]} has no option {word}"
            choices = options[word].type
            if isinstance(choices, click.Choice):
                assert after in choices.choices, f"mlapply {words[0]} {word} {after}"
