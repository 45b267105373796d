"""Shell text as commands: continued lines joined, comments dropped, simple
variables expanded, commands split at ``;``, ``&&``, ``||`` and ``|``.

Nothing is run: ``$(...)`` and backquoted substitutions stay as written (a
word holding one is *unresolved*), and so does a variable the script does not
assign itself as ``NAME=value`` (or ``export NAME=value``).
"""

from __future__ import annotations

import re
import shlex
from typing import NamedTuple

_ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_SUBSTITUTION = re.compile(r"\$\([^()]*\)|`[^`]*`")
_HEREDOC = re.compile(r"(?<!<)<<(?!<)(-?)\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?")
_SEPARATORS = frozenset({";", "&&", "||", "|", "&"})


class Command(NamedTuple):
    words: tuple[str, ...]
    line: int
    """The line the command starts on (1-based)."""


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined, each with its first line's number; a
    here-document's body (``<<EOF`` up to its ``EOF`` line) is data, not commands."""
    joined: list[tuple[int, str]] = []
    pending, start = "", 0
    until: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if until is not None:
            if line.strip() == until:  # <<- allows the terminator indented by tabs
                until = None
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append((start, pending + line))
        here = _HEREDOC.search(_SUBSTITUTION.sub("", pending + line))
        until = here.group(2) if here else None
        pending = ""
    if pending:
        joined.append((start, pending))
    return joined


def unresolved(word: str) -> bool:
    """Whether a word still holds a shell expansion this reader could not make."""
    return "$" in word or "`" in word


def read_commands(text: str) -> list[Command]:
    """The commands of a script, variables it assigns expanded where they are used."""
    variables: dict[str, str] = {}
    found: list[Command] = []
    for number, line in _logical_lines(text):
        for words in _split(line, variables):
            _take(words, number, variables, found)
    return found


def _split(line: str, variables: dict[str, str]) -> list[list[str]]:
    """A logical line's commands as words (an unclosed quote: none)."""
    kept: dict[str, str] = {}

    def keep(match: re.Match[str]) -> str:
        marker = f"__mlapply_subst_{len(kept)}__"
        kept[marker] = match.group(0)
        return marker

    def expand(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, match.group(0))

    def restore(token: str) -> str:
        for marker, original in kept.items():
            token = token.replace(marker, original)
        return _VARIABLE.sub(expand, token)

    try:
        lexer = shlex.shlex(_SUBSTITUTION.sub(keep, line), posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
    except ValueError:
        return []
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in _SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(restore(token))
    return [words for words in commands if words]


def _take(words: list[str], line: int, variables: dict[str, str], found: list[Command]) -> None:
    assignment = _ASSIGNMENT.match(" ".join(words[1:] if words[0] == "export" else words))
    if assignment is not None and len(words) <= 2 and "=" in words[-1]:
        variables[assignment.group(1)] = assignment.group(2)
        return
    found.append(Command(tuple(words), line))
