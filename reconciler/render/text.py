"""The terminal view of a plan, in the manner of Terraform's."""

from __future__ import annotations

import json
from typing import Any

from reconciler.plan.fields import dotted
from reconciler.render.costs import change_line, overrun_lines, summary_lines
from reconciler.render.jsonplan import (
    HEADLINES,
    REMOVALS_HEADING,
    abbreviate,
    error_text,
    headline_name,
    removal_line,
    summary_line,
)
from reconciler.render.safe import printable

_FIELD_SYMBOLS = {"add": "+", "change": "~", "remove": "-"}

_COLOURS = {
    "create": "32",
    "update": "33",
    "replace": "35",
    "delete": "31",
    "cancel": "31",
    "wait": "36",
    "blocked": "31",
}


def _paint(text: str, action: str, colour: bool) -> str:
    code = _COLOURS.get(action)
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def _value(value: Any) -> str:
    value = abbreviate(value)
    if isinstance(value, str):
        return f'"{printable(value)}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def render_text(document: dict[str, Any], *, colour: bool = False) -> str:
    lines = [f'mlapply plan for stack "{document["stack"]}" (backend {document["backend"]})', ""]
    if document.get("backend_notice"):
        lines[1:1] = [f"Note: {printable(document['backend_notice'])}."]
    pending = [c for c in document["changes"] if c["action"] != "no-op"]
    notes = [c for c in document["changes"] if c["action"] == "no-op" and c["reasons"]]
    for change in pending:
        action = change["action"]
        symbol = _paint(change["symbol"], action, colour)
        named = headline_name(change)
        live = f": {named}" if named else ""
        lines.append(f"  # {change['address']} {HEADLINES[action]}{live}")
        lines.append(f"  {symbol} {change['address']}")
        lines.extend(f"      why: {printable(reason['text'])}" for reason in change["reasons"])
        forecast = change_line(change)
        if forecast is not None:
            lines.append(f"      {forecast[0]}: {printable(forecast[1])}")
        for field in change["field_changes"]:
            mark = "  # forces replacement" if field["forces_replacement"] else ""
            before = _value(field["before"]) if "before" in field else "(none)"
            after = _value(field["after"]) if "after" in field else "(none)"
            lines.append(
                f"      {_FIELD_SYMBOLS[field['op']]} {dotted(field['path'])}: "
                f"{before} -> {after}{mark}"
            )
        for target in change["live_targets"]:
            lines.append(
                f"      {_paint('-', 'delete', colour)} {target['operation']} {target['live_name']}"
            )
        if change["depends_on"]:
            lines.append(f"      after: {', '.join(change['depends_on'])}")
        lines.append("")
    if document.get("removals"):
        lines.append(REMOVALS_HEADING)
        lines.extend(f"  - {printable(removal_line(r))}" for r in document["removals"])
        lines.append("")
    if notes:
        lines.append("Notes:")
        for change in notes:
            lines.extend(
                f"  {change['address']}: {printable(reason['text'])}"
                for reason in change["reasons"]
            )
        lines.append("")
    for problem in document["errors"]:
        lines.append(_paint(f"Error: {printable(error_text(problem))}", "delete", colour))
    if document["errors"]:
        lines.append("")
    costs = summary_lines(document)
    overruns = overrun_lines(document)
    lines.extend(printable(line) for line in costs)
    lines.extend(_paint(printable(line), "delete", colour) for line in overruns)
    if costs or overruns:
        lines.append("")
    if not pending and not document.get("removals"):
        lines.append("No changes. The live resources match the manifests.")
    else:
        lines.append(summary_line(document))
    return "\n".join(lines) + "\n"
