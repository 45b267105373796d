"""Text from manifests, made safe for where a plan shows it.

A plan shows values, reasons and errors that carry what a manifest says, and a
manifest comes from a pull request: its text must not steer the terminal (ANSI
escapes, carriage returns), start a line of its own in a CI log (a GitHub Actions
workflow command is a line beginning ``::``, docs.github.com "Workflow commands for
GitHub Actions", checked 2026-12-06), or become Markdown or HTML in the pull
request comment reviewers trust (close a code block, open ``<!--``, an ``<img>``).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """Control characters (newlines included) as visible escapes: ``\\n``, ``\\x1b``."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return named.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    )


_MARKDOWN = re.compile(r"[\\`\[\]|]")


def markdown_text(text: str) -> str:
    """Text for a Markdown table cell, quote or list item, shown as written: printable,
    no HTML (``<`` and ``&`` as entities), no link or image (``[``, ``]`` escaped), no
    code span or column break (backticks, ``|``)."""
    text = printable(text.replace("\n", " ")).replace("&", "&amp;").replace("<", "&lt;")
    return _MARKDOWN.sub(lambda match: "\\" + match.group(), text)


def fence(body: str) -> str:
    """A code fence longer than any run of backticks in ``body`` (at least three)."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)
