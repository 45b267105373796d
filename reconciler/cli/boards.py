"""TensorBoard as a child process that follows the stack's jobs.

TensorBoard reads the runs it was started with; a job applied after it
started would open empty charts. ``Board.follow`` is given the jobs as they
are now and restarts TensorBoard, on the same port, when the set of runs
changed. Its own output (absl and C++ lines, its banner) goes to a log in the
stack home, never to the user's terminal; a TensorBoard that ends by itself is
reported with the last lines of that log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.backends import logtext
from reconciler.diagnostics import MlapplyError

if TYPE_CHECKING:
    from reconciler.backends.base import LiveJob
    from reconciler.backends.facets import TensorBoard

FOLLOW_SECONDS = float(os.environ.get("MLAPPLY_TENSORBOARD_FOLLOW_SECONDS") or 10)
"""How often `mlapply tensorboard` reads the jobs again for new runs."""


class Board:
    def __init__(self, boards: TensorBoard, host: str, port: int, log: Path) -> None:
        self.boards, self.host, self.port, self.log = boards, host, port, log
        self.runs: list[tuple[str, str]] = []
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._lock = threading.Lock()  # the console's requests follow from threads

    def follow(self, jobs: Sequence[LiveJob]) -> bool:
        """Start TensorBoard over these jobs' runs, or restart it when they changed;
        whether it was (re)started. A job whose run cannot be shown raises."""
        with self._lock:
            return self._follow(jobs)

    def _follow(self, jobs: Sequence[LiveJob]) -> bool:
        runs = self.boards.tensorboard_runs(jobs)
        if not runs or (runs == self.runs and self.running()):
            return False
        argv = self.boards.tensorboard_argv(runs, self.host, self.port)
        if self.process is not None:
            self.stop()
            self.restarts += 1
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.runs = runs
        return True

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self) -> None:
        """Raise when TensorBoard ended by itself, with what it said last."""
        if self.process is None or self.process.poll() is None:
            return
        said = logtext.tail(logtext.read_tail(self.log), 5)
        raise MlapplyError(
            f"TensorBoard ended (exit {self.process.returncode}): {said or 'it said nothing'}",
            f"its whole output is in {self.log}",
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def listening(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts connections there (a TensorBoard the user started)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
