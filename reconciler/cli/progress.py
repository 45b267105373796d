"""How apply's events reach a person: a line each, and the progress of running jobs.

On a terminal (and without NO_COLOR) the running jobs' progress is a block of
live lines at the bottom, redrawn in place as figures change, with the
event lines scrolling above it. Elsewhere (CI logs, pipes, NO_COLOR) there
are no control characters: a plain progress line per job when what it can say
changes (its state; its first CPU figure; its trainer's first report) and
otherwise at most every ``PLAIN_PROGRESS_SECONDS``, so a short job's log shows
it running with its figures and a long one's log does not grow by the second.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

import click

if TYPE_CHECKING:
    from reconciler.apply.executor import Event

PLAIN_PROGRESS_SECONDS = 30.0
_UP_AND_CLEAR = "\x1b[{}F\x1b[J"  # cursor up N lines to column 1, clear to the end


class EventPrinter:
    def __init__(
        self,
        stream: TextIO,
        *,
        live: bool,
        colour: bool,
        plain_every: float = PLAIN_PROGRESS_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.live = live
        self.colour = colour
        self.plain_every = plain_every
        self.clock = clock
        self.running: dict[str, str] = {}
        self.drawn = 0
        self.last_plain: dict[str, tuple[float, tuple[object, ...]]] = {}
        self.lock = threading.Lock()  # events come from the executor's threads

    def __call__(self, event: Event) -> None:
        from reconciler.apply.executor import EventKind

        with self.lock:
            if event.kind is EventKind.PROGRESS:
                if event.progress is not None:
                    self._progress(event.address, _progress_line(event), _news(event))
                return
            self.running.pop(event.address, None)
            self._line(_event_line(event, self.colour))

    def _progress(self, address: str, text: str, news: tuple[object, ...]) -> None:
        if self.live:
            self.running[address] = f"{address}: {text}"
            self._redraw()
            return
        now = self.clock()
        last, said = self.last_plain.get(address, (-self.plain_every, ()))
        if news != said or now - last >= self.plain_every:
            self.last_plain[address] = (now, news)
            self._line(f"{time.strftime('%H:%M:%S')} {address}: progress: {text}")

    def _line(self, text: str) -> None:
        self._erase()
        self.stream.write(text + "\n")
        self._redraw()

    def _erase(self) -> None:
        if self.drawn:
            self.stream.write(_UP_AND_CLEAR.format(self.drawn))
            self.drawn = 0

    def _redraw(self) -> None:
        self._erase()
        width = max(20, shutil.get_terminal_size().columns - 1)
        for text in self.running.values():
            self.stream.write(_fit(text, width) + "\n")
        self.drawn = len(self.running)
        self.stream.flush()


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _progress_line(event: Event) -> str:
    from reconciler.render.status import progress_text

    assert event.progress is not None
    job, usage, elapsed, tail, tuning = event.progress
    return progress_text(job, usage, elapsed, tail, tuning)


def _news(event: Event) -> tuple[object, ...]:
    """What a plain log prints a progress line for at once when it changes."""
    assert event.progress is not None
    job, usage, _, _, _ = event.progress
    return (job.state, usage.get("cpu") is not None, bool(usage.get("reported")))


def _event_line(event: Event, colour: bool) -> str:
    from reconciler.apply.executor import EventKind

    text = f"{time.strftime('%H:%M:%S')} {event.address}: {event.kind.value}"
    if event.message:
        text += f": {event.message}"
    tint = {EventKind.FAILED: "red", EventKind.FINISHED: "green", EventKind.SKIPPED: "yellow"}
    found = tint.get(event.kind)
    return click.style(text, fg=found) if found and colour else text
