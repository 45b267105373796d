"""The corpus in tests/cases: good manifests validate cleanly; each bad one gives
exactly the diagnostics it declares, at the lines it declares (see its README)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.diagnostics import Diagnostic, Severity
from reconciler.kinds import load_stack
from tests.conftest import CASES, REPO

_EXPECT = re.compile(r"#\s*expect(-warning|-file)?:\s*(.+)$")


def _cases(folder: str) -> list[Path]:
    return sorted((CASES / folder).glob("*.yaml"))


def _expectations(path: Path) -> list[tuple[int, Severity, str]]:
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _EXPECT.search(line)
        if match is None:
            continue
        variant, text = match.groups()
        severity = Severity.WARNING if variant == "-warning" else Severity.ERROR
        where = 0 if variant == "-file" else number
        for fragment in text.split(" && "):
            found.append((where, severity, fragment.strip()))
    return found


def _load(path: Path) -> list[Diagnostic]:
    return load_stack([str(path.relative_to(REPO))], cwd=REPO).diagnostics


@pytest.mark.parametrize("path", _cases("good"), ids=lambda p: p.name)
def test_good_manifests_validate_cleanly(path: Path) -> None:
    result = load_stack([str(path)], cwd=REPO)
    assert [d.render() for d in result.diagnostics] == []
    assert result.ok and result.stack is not None


@pytest.mark.parametrize("path", _cases("bad"), ids=lambda p: p.name)
def test_bad_manifests_give_their_diagnostics(path: Path) -> None:
    expected = _expectations(path)
    assert expected, f"{path.name} declares no expected diagnostics"
    diagnostics = _load(path)
    unmatched = list(diagnostics)
    missing = []
    for line, severity, fragment in expected:
        hits = [
            d
            for d in diagnostics
            if d.severity is severity
            and (d.location.line if d.location else 0) == line
            and fragment in f"{d.message}\n{d.hint or ''}"
        ]
        if not hits:
            missing.append(f"line {line}: {severity.value}: {fragment}")
        for hit in hits:
            if hit in unmatched:
                unmatched.remove(hit)
    produced = "\n".join(d.render() for d in diagnostics)
    assert not missing, "expected but not produced:\n" + "\n".join(missing) + "\n---\n" + produced
    assert not unmatched, "produced but not expected:\n" + "\n".join(d.render() for d in unmatched)
    assert all(d.location and d.location.file.endswith(path.name) for d in diagnostics)
