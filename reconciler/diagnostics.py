"""Diagnostics: what mlapply says about user input, where, and how to fix it.

Every layer reports problems in manifests, variables and references as
``Diagnostic`` values (collected, never raised one at a time), so a run shows
all of them together. ``cli`` is the only place that prints them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


class Location(NamedTuple):
    """A place in a file; line and column count from 1, as editors do.

    A named tuple rather than a dataclass: readers make one per YAML value.
    """

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    message: str
    location: Location | None = None
    hint: str | None = None
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"{where}{self.severity.value}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_json(self) -> dict[str, Any]:
        loc = self.location
        return {
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
            "file": loc.file if loc else None,
            "line": loc.line if loc and loc.line > 0 else None,
            "column": loc.column if loc and loc.column > 0 else None,
        }


def error(message: str, location: Location | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(message, location, hint, Severity.ERROR)


def note(message: str, location: Location | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(message, location, hint, Severity.NOTE)


def warning(message: str, location: Location | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(message, location, hint, Severity.WARNING)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def sort_key(diagnostic: Diagnostic) -> tuple[str, int, int]:
    loc = diagnostic.location
    return (loc.file, loc.line, loc.column) if loc else ("", 0, 0)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate a typo most likely meant, if one is close enough."""
    pool = list(candidates)
    import difflib  # only when a name is wrong

    matches = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in pool}
        matches = [lowered[m] for m in difflib.get_close_matches(word.lower(), lowered, n=1)]
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Sequence[str]) -> str | None:
    """A hint naming the closest candidate, else listing the valid ones."""
    match = closest(word, candidates)
    if match is not None:
        return f'did you mean "{match}"?'
    if not candidates:
        return None
    if len(candidates) <= 12:
        return "expected one of: " + ", ".join(candidates)
    return None


class MlapplyError(Exception):
    """An error meant for the user: printed as one clear message, never a traceback."""

    exit_code = 1
    """The command's exit status when this ends it (a few kinds have their own)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def with_hint(self) -> str:
        """The message and, on the lines after it, the hint (a build's or pip's
        output tail, say): for where only one text is kept, such as a job's error."""
        return f"{self.message}\n{self.hint}" if self.hint else self.message
