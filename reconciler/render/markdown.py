"""The pull-request view of a plan: a summary table and a collapsible diff per resource.

GitHub refuses comments over 65,536 characters; the rendering stays under
``LIMIT`` by collapsing the per-resource sections that do not fit, and says so.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.plan.fields import dotted
from reconciler.render.costs import change_line, overrun_line, short, summary_lines
from reconciler.render.jsonplan import (
    REMOVALS_HEADING,
    abbreviate,
    error_text,
    headline_name,
    removal_line,
    summary_line,
)
from reconciler.render.safe import fence, markdown_text, printable

LIMIT = 65_000
_ICONS = {
    "create": "➕",  # noqa: RUF001
    "update": "✏️",
    "replace": "♻️",
    "delete": "🗑️",
    "cancel": "⛔",
    "wait": "⏳",
    "blocked": "🚧",
}


def _action(change: dict[str, Any]) -> str:
    """``replace (create-before-delete)`` for a replacement, else the action."""
    order = change["replace_order"]
    return f"{change['action']} ({order})" if order else str(change["action"])


def _cell(text: str) -> str:
    return markdown_text(text)


def _value(value: Any) -> str:
    value = abbreviate(value)
    return printable(value if isinstance(value, str) else json.dumps(value, sort_keys=True))


def _diff_lines(change: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if change["action"] == "create" and not change["field_changes"] and change["after"]:
        flat = _flatten(change["after"])
        lines.extend(f"+ {path}: {_value(value)}" for path, value in flat.items())
    for field in change["field_changes"]:
        note = "  # forces replacement" if field["forces_replacement"] else ""
        path = dotted(field["path"])
        if "before" in field:
            lines.append(f"- {path}: {_value(field['before'])}")
        if "after" in field:
            lines.append(f"+ {path}: {_value(field['after'])}{note}")
    for target in change["live_targets"]:
        lines.append(f"- {target['live_name']}  # {target['operation']}")
    return lines


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(item, dict) and item:
            flat.update(_flatten(item, path))
        else:
            flat[path] = item
    return flat


def _section(change: dict[str, Any]) -> str:
    named = headline_name(change)
    live = f" <code>{_cell(named)}</code>" if named else ""
    reasons = "".join(f"- {_cell(r['text'])}\n" for r in change["reasons"])
    forecast = change_line(change)
    if forecast is not None:
        reasons += f"- {forecast[0]}: {_cell(forecast[1])}\n"
    body = "\n".join(_diff_lines(change))
    summary = f"<code>{_cell(change['address'])}</code>: {_action(change)}{live}"
    bar = fence(body)  # no value can close it
    return (
        f"<details><summary>{summary}</summary>\n\n{reasons}\n{bar}diff\n{body}\n{bar}\n\n"
        "</details>\n"
    )


def _capped(lines: list[str], budget: int, more: str) -> list[str]:
    """As many lines as fit in ``budget`` characters, then one saying how many were left."""
    kept: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        if used + len(line) + 1 > budget:
            return [*kept, more.format(len(lines) - i)]
        kept.append(line)
        used += len(line) + 1
    return kept


MARKER = "<!-- mlapply-plan stack={stack} -->"
"""The first line: hidden on GitHub and GitLab, it lets CI find its own comment of a
stack's plan and edit it in place (one comment per pull request and stack)."""


def render_markdown(document: dict[str, Any]) -> str:
    head = [
        MARKER.format(stack=document["stack"]),
        f"### mlapply plan: stack `{document['stack']}` (backend `{document['backend']}`)",
        "",
    ]
    pending = [c for c in document["changes"] if c["action"] != "no-op"]
    if document.get("backend_notice"):
        head.extend(["> [!NOTE]", f"> {_cell(document['backend_notice'])}.", ""])
    if document["errors"]:
        head.append("> [!CAUTION]")
        errors = [f"> **Error:** {_cell(error_text(e))}" for e in document["errors"]]
        head.extend(_capped(errors, LIMIT // 8, "> _...and {} more errors._"))
        head.append("")
    destructive = [c for c in pending if c["action"] in ("replace", "delete", "cancel")]
    if destructive:
        head.append("> [!WARNING]")
        head.append("> This plan deletes, replaces or cancels live resources:")
        warnings = []
        for change in destructive:
            targets = ", ".join(t["live_name"] for t in change["live_targets"])
            listed = f": {_cell(targets)}" if targets else ""
            warnings.append(f"> - `{change['address']}` ({change['action']}{listed})")
        head.extend(_capped(warnings, LIMIT // 8, "> - _...and {} more._"))
        head.append("")
    budget = (document.get("cost") or {}).get("budget") or {}
    if budget.get("overruns"):
        allowed = budget.get("override")
        head.append("> [!CAUTION]")
        head.append(
            "> **Over budget** (allowed by `--allow-over-budget`):"
            if allowed
            else "> **Over budget**: `mlapply apply` refuses this plan."
        )
        head.extend(f"> - {_cell(overrun_line(o))}" for o in budget["overruns"])
        head.append("")
    if document.get("removals"):
        head.extend(["> [!WARNING]", f"> {REMOVALS_HEADING}"])
        removed = [f"> - {_cell(removal_line(r))}" for r in document["removals"]]
        head.extend(_capped(removed, LIMIT // 8, "> - _...and {} more._"))
        head.append("")
    if not pending:
        if document.get("removals"):
            head.append(f"**{summary_line(document)}**")
        else:
            head.append("**No changes.** The live resources match the manifests.")
        return "\n".join(head) + "\n"
    costed = any(c.get("forecast") for c in pending)
    if costed:
        head.extend(["| | resource | action | why | forecast |", "|---|---|---|---|---|"])
    else:
        head.extend(["| | resource | action | why |", "|---|---|---|---|"])
    rows = [
        f"| {_ICONS.get(c['action'], '')} | `{c['address']}` | {_action(c)} | "
        f"{_cell('; '.join(r['text'] for r in c['reasons']) or '-')} |"
        + (f" {_cell(short(c))} |" if costed else "")
        for c in pending
    ]
    more = "| | _...and {} more_ | | |" + (" |" if costed else "")
    head.extend(_capped(rows, LIMIT // 2, more))
    head.extend(["", f"**{summary_line(document)}**", ""])
    costs = summary_lines(document)  # the limits exceeded are in the caution above
    if costs:
        head.extend([*(_cell(line) + "  " for line in costs[:-1]), _cell(costs[-1]), ""])
    text = "\n".join(head)
    shown = 0
    for change in pending:
        section = _section(change)
        if len(text) + len(section) + 200 > LIMIT:
            break
        text += "\n" + section
        shown += 1
    if shown < len(pending):
        text += (
            f"\n_{len(pending) - shown} more resource(s) not shown to stay under GitHub's "
            "comment limit; run `mlapply plan --format json` for the full plan._\n"
        )
    return text
