"""What a trainer reported through cloudml-hypertune, read from its metric file as
something the trainer wrote: bounded, never through a link, and surviving any content.

The library appends one JSON object a line: the tag's value and ``global_step``,
both as strings, and ``timestamp`` and ``trial`` (cloudml-hypertune
``hypertune.py``, checked 2026-12-05). A trainer decides where the file is and what
it holds, so a read takes at most the last ``TAIL_BYTES`` of a regular file (a link,
a FIFO or a device is read as empty), and a line that is not such an object (longer
than ``LONGEST_LINE``, nested, a number no float holds) is skipped and counted.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

TAIL_BYTES = 1 << 20
"""The last MiB of a metric file is read: about 10,000 reports."""
LONGEST_LINE = 4096
NOT_VALUES = frozenset({"timestamp", "trial", "global_step", "checkpoint_path"})


class Measurement(NamedTuple):
    step: int
    value: float


class Text(NamedTuple):
    """A metric file's readable tail, and what reading it left out."""

    text: str
    cut: bool = False
    """Only the last ``TAIL_BYTES`` were read (the first line read is dropped: partial)."""
    refused: str | None = None
    """Why nothing was read from a path that is there (a link, not a regular file)."""


def read(path: Path | str) -> Text:
    """The tail of a metric file; empty when it is missing or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return Text("")
    except OSError as error:
        return Text("", refused=f"not read ({error.strerror or error})")
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            return Text("", refused="not a regular file")
        size = os.fstat(fd).st_size
        cut = size > TAIL_BYTES
        if cut:
            handle.seek(size - TAIL_BYTES)
        data = handle.read(TAIL_BYTES)
    text = data.decode("utf-8", errors="replace")
    if cut:
        text = text.partition("\n")[2]
    return Text(text, cut)


class Report(NamedTuple):
    values: dict[str, float]
    step: float


def reports(text: str) -> Iterator[Report | None]:
    """Each line's report, or None for a line that is not one: not a JSON object of
    at most ``LONGEST_LINE`` characters with a finite value and a step a float holds."""
    for line in text.splitlines():
        if line.strip():
            yield _report(line)


def _report(line: str) -> Report | None:
    if len(line) > LONGEST_LINE:
        return None
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict):
        return None
    step = number(entry.get("global_step", 0))
    values = {str(k): v for k, v in ((k, number(v)) for k, v in entry.items()) if v is not None}
    values = {k: v for k, v in values.items() if k not in NOT_VALUES}
    return Report(values, step) if values and step is not None else None


def number(value: Any) -> float | None:
    """A reported value as a finite float, or None (bools, text, inf, too large)."""
    if isinstance(value, bool):
        return None
    try:
        found = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return found if math.isfinite(found) else None


def measurements(text: str, tag: str) -> tuple[Measurement, ...]:
    """The values of ``tag``, in file order."""
    return tuple(
        Measurement(int(report.step), report.values[tag])
        for report in reports(text)
        if report is not None and tag in report.values
    )


def reported(text: str) -> dict[str, float]:
    """Every tag's last value."""
    last: dict[str, float] = {}
    for report in reports(text):
        last.update(report.values if report else {})
    return last


def last_report(text: str) -> dict[str, float]:
    """The last report: its values and ``step``."""
    found = [report for report in reports(text) if report is not None]
    return {**found[-1].values, "step": found[-1].step} if found else {}


def skipped(text: str) -> int:
    """How many lines are not a report."""
    return sum(report is None for report in reports(text))
