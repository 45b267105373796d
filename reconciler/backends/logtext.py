"""A trainer's log as people need it when a job fails: TensorFlow's noise left out.

TensorFlow writes C++ log lines (``2026-12-01 10:00:00.123456: I
tensorflow/...``, absl's ``I0000 00:00:...``), CPU-feature and oneDNN notices
and deprecation warnings before anything the trainer says; a failure's real
exception comes last. ``tail`` keeps the lines that mean something; the full
log stays where ``mlapply logs`` reads it. ``runtime_hint`` names the runtime
version that provides an API a failed trainer missed.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

_NATIVE_PATTERNS = [
    # TensorFlow's C++ logging: date, time, level, source file.
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\]",
    # absl logging (TensorFlow 2.16+): I1201 10:00:00.123456  1234 file.cc:12], the
    # time part early in a process reads 00:00:<seconds since the epoch>
    r"^[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\]",
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called",
    r"^To enable the following instructions: .* rebuild TensorFlow",
]
# TensorFlow's C++ and absl lines: what the log views leave out unless asked for
# everything (the end of an input's "Local rendezvous is aborting ... OUT_OF_RANGE",
# oneDNN and CPU notices). A Python traceback is never one of them.
_NATIVE = re.compile("|".join(_NATIVE_PATTERNS))
_NOISE = re.compile(
    "|".join(
        [
            *_NATIVE_PATTERNS,
            r"^WARNING:tensorflow:From .*",
            r"^W\d{4} .*",
            r"^Instructions for updating:",
            r".*: (Deprecation|Future|User)Warning: ",
        ]
    )
)
# What continues a dropped line: indented text, a dumped proto (braces, "args {",
# "type_id: TFT_INT32"), and the one line of advice after "Instructions for updating:".
_CONTINUATION = re.compile(r"^(\s+\S|\s*[{}]\s*$|\s*\w+ \{\s*$|\s*\w+: [A-Z0-9_]+\s*$)")
_ADVICE = re.compile(r"^Instructions for updating:")

# A Keras 2 or tf.estimator API that Keras 3 (runtime 2.16 and later) lacks.
_KERAS_2_ONLY = re.compile(
    r"has no attribute '(DenseFeatures|estimator|feature_column|experimental)'"
    r"|No module named 'tensorflow\.estimator'|No module named 'tensorflow_estimator'"
    r"|No module named 'keras\.(engine|layers\.core)'|is not supported in Keras 3"
    r"|tf\.estimator"
)


# A Keras 3 API that Keras 2 (runtime 2.15 and older) lacks.
_KERAS_3_ONLY = re.compile(
    r"module 'keras' has no attribute '(ops|Input|KerasTensor|random)'"
    r"|No module named 'keras\.(ops|src)'|cannot import name '\w+' from 'keras'"
)


def meaningful(text: str) -> list[str]:
    """The log's lines without TensorFlow's noise (and the indented lines that
    continue a dropped warning)."""
    kept: list[str] = []
    dropping = advice = False
    for line in text.splitlines():
        if not line.strip():
            continue
        if _NOISE.match(line):
            dropping, advice = True, bool(_ADVICE.match(line))
            continue
        if advice and line.strip():
            advice = False
            continue
        if dropping and _CONTINUATION.match(line) and not line.lstrip().startswith("File "):
            continue
        dropping = False
        kept.append(line)
    return kept


def without_native(text: str) -> tuple[str, int]:
    """The text without TensorFlow's C++ and absl lines, and how many there were."""
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if not _NATIVE.match(line)]
    return "".join(kept), len(lines) - len(kept)


TAIL_BYTES = 256 * 1024
"""What is read of a log for its last lines: a trainer may print gigabytes."""


def read_tail(path: Path | str, limit: int = TAIL_BYTES) -> str:
    """The last ``limit`` bytes of a log file as text ("" when there is none, or it is
    not a regular file: a trainer made it), its partial first line dropped."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as handle:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            return ""
        cut = found.st_size > limit
        if cut:
            handle.seek(found.st_size - limit)
        text = handle.read(limit).decode("utf-8", errors="replace")
    return text.partition("\n")[2] if cut else text


def tail(text: str, lines: int) -> str:
    """The last ``lines`` meaningful lines; the raw tail when all of it was noise."""
    kept = meaningful(text) or text.strip().splitlines()
    return "\n".join(kept[-lines:])


def runtime_hint(text: str, keras: int) -> str | None:
    """What to change when a trainer failed for an API its runtime does not have."""
    if keras == 3 and _KERAS_2_ONLY.search(text):
        return (
            "this trainer uses Keras 2 or tf.estimator, which runtime 2.16 and later "
            '(Keras 3) do not have: set runtimeVersion: "2.15" (TensorFlow 2.15, Keras 2, '
            "tf.estimator)"
        )
    if keras == 2 and _KERAS_3_ONLY.search(text):
        return (
            "this trainer uses Keras 3 (keras.ops, keras.Input), which runtime 2.15 and "
            'older (Keras 2) do not have: set runtimeVersion: "2.17" or later'
        )
    return None
