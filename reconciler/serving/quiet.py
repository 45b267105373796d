"""TensorFlow's C++ and absl lines out of the user's terminal, into a log in the stack home.

TensorFlow's native code writes to file descriptor 2 whatever
``TF_CPP_MIN_LOG_LEVEL`` says (absl's "All log messages before
absl::InitializeLog()", oneDNN notices at load, an ``E0000 ... AVX-512`` line
at the first call). ``native_stderr_to`` points descriptor 2 at a file and
gives Python's ``sys.stderr`` a descriptor of its own on the terminal, so
mlapply's messages and a failure's explanation still reach the user.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def native_stderr_to(log: Path) -> Path | None:
    """Send what native code writes to stderr to ``log`` (truncated) for the rest of
    this process; the file, or None where stderr is not this process's descriptor 2
    (a test's captured stream: nothing to keep quiet)."""
    try:
        if sys.stderr.fileno() != 2:
            return None
    except (AttributeError, OSError, ValueError):
        return None
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    terminal = os.dup(2)
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    os.dup2(target, 2)
    os.close(target)
    sys.stderr = os.fdopen(terminal, "w", buffering=1, errors="backslashreplace")
    # TensorFlow's Python warnings ("WARNING:tensorflow:...") are its chatter too.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return log
