"""The processes of local jobs: starting a detached supervisor, telling whether one
is still a job's, and ending the tasks a lost one left."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import psutil

from reconciler.backends.holders import process_start

RUNNER_MODULE = "reconciler.backends.local.runner"
START_SECONDS = 60.0
"""How long a job recorded without a supervisor pid yet is taken as starting."""


def spawn_supervisor(folder: Path, home: Path) -> int:
    """Start the detached supervisor of the job (or trial) whose request is in
    ``folder``; returns its pid. It leads its own process group and outlives us."""
    with (folder / "supervisor.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", RUNNER_MODULE, str(folder), str(home)],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process.pid


def end_orphans(pid: int | None, job_dir: str) -> None:
    """End the tasks a lost supervisor left: processes of its process group (the
    supervisor led it) working in the job's folder, so a reused pid is never hit."""
    if not pid:
        return
    work = os.path.join(job_dir, "work")
    for process in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) == pid and process.cwd().startswith(work):
                process.kill()


def supervisor_alive(pid: int | None, job_dir: str | None, since: float | None = None) -> bool:
    """Whether ``pid`` is still this job's supervisor (not dead, not a reused pid).

    Just after it was started, the child has not yet become the runner (its
    command line is still its parent's): a live process that started after the
    job was recorded (``since``) is the supervisor on its way, not a reused pid.
    """
    if not pid or not job_dir:
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state in ("Z", "X"):
        return False  # exited; not yet reaped by the apply that started it
    if RUNNER_MODULE.encode() in command and job_dir.encode() in command:
        return True
    started = process_start(pid)
    return since is not None and started is not None and started >= since - 1.0
