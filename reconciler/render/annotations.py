"""What CI systems read: diagnostics as annotations, and a plan's pull-request labels.

- GitHub Actions: one workflow command a diagnostic,
  ``::error file=F,line=L,col=C,title=T::MESSAGE`` (docs.github.com, "Workflow
  commands for GitHub Actions", checked 2026-12-05): properties escape ``%``,
  CR, LF, ``:`` and ``,``; the message escapes ``%``, CR and LF.
- GitLab CI: a Code Quality report, a JSON list of issues with
  ``description``, ``check_name``, ``fingerprint``, ``severity`` and
  ``location.path``/``location.lines.begin`` (docs.gitlab.com, "Code Quality",
  report format, checked 2026-12-05).
- Labels as tfcmt puts them on a pull request (add-or-update, destroy,
  no-changes), with mlapply's "blocked" and "over-budget" (a forecast over a
  budget, even one the plan allows): each one ``add`` or ``remove``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

LABELS = (
    "mlapply:add-or-update",
    "mlapply:destroy",
    "mlapply:blocked",
    "mlapply:no-changes",
    "mlapply:over-budget",
)
_ADDING = ("create", "update", "replace", "cancel", "wait")
_GITLAB_SEVERITY = {"error": "major", "warning": "minor"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github(diagnostics: Sequence[Mapping[str, Any]]) -> str:
    """GitHub Actions workflow commands, one line a diagnostic (``Diagnostic.to_json``)."""
    lines = []
    for found in diagnostics:
        where = [("file", found.get("file")), ("line", found.get("line"))]
        where.append(("col", found.get("column")))
        properties = [f"{k}={_escape_property(str(v))}" for k, v in where if v]
        properties.append("title=mlapply validate")
        text = found["message"] + (f"\nhint: {found['hint']}" if found.get("hint") else "")
        command = "error" if found["severity"] == "error" else "warning"
        lines.append(f"::{command} {','.join(properties)}::{_escape_data(text)}")
    return "".join(f"{line}\n" for line in lines)


def gitlab(diagnostics: Sequence[Mapping[str, Any]]) -> str:
    """A GitLab Code Quality report of the diagnostics."""
    issues = []
    for found in diagnostics:
        text = found["message"] + (f" (hint: {found['hint']})" if found.get("hint") else "")
        path, line = found.get("file") or "", found.get("line") or 1
        key = f"{path}:{line}:{found['message']}"
        issues.append(
            {
                "description": text,
                "check_name": "mlapply-validate",
                "fingerprint": hashlib.sha256(key.encode()).hexdigest(),
                "severity": _GITLAB_SEVERITY.get(found["severity"], "info"),
                "location": {"path": path, "lines": {"begin": line}},
            }
        )
    return json.dumps(issues, indent=2) + "\n"


def labels(plan: Mapping[str, Any]) -> str:
    """``add LABEL`` or ``remove LABEL`` for each of ``LABELS``, from a JSON plan."""
    actions = {change["action"] for change in plan["changes"]}
    wanted = {
        "mlapply:add-or-update": bool(actions & set(_ADDING)),
        "mlapply:destroy": "delete" in actions,
        "mlapply:blocked": "blocked" in actions,
        "mlapply:no-changes": bool(plan["summary"]["converged"]) and not plan["errors"],
        "mlapply:over-budget": bool(((plan.get("cost") or {}).get("budget") or {}).get("over")),
    }
    return "".join(f"{'add' if wanted[label] else 'remove'} {label}\n" for label in LABELS)
