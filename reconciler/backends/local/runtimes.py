"""What a ``runtimeVersion`` means on this machine: a real TensorFlow release and the
packages Google's runtime images carried, for one of the Pythons found here.

Pure data and lookups (a few ``stat`` calls to find interpreters): validate
and plan read it, the runner builds what it names. A runtime version pip can
provide for the Python asked runs on exactly that TensorFlow; an older 2.x
one (2.1 to 2.11) runs on the oldest release here that still has its APIs
(``tf.estimator``, ``tf.compat.v1`` and Keras 2, all in TensorFlow up to
2.15), and the plan says so; 1.x is refused.
"""

from __future__ import annotations

import functools
import glob
import os
import sys
from pathlib import Path
from typing import NamedTuple

from reconciler.stack import releases
from reconciler.stack.releases import LAST_KERAS_2

CHECKED = "2026-12-01"

# The Pythons each tensorflow-cpu release has wheels for on Linux x86_64, read
# off the release's files on PyPI (https://pypi.org/project/tensorflow-cpu/#files)
# and `pip index versions tensorflow-cpu --python-version X.Y` on 2026-12-01.
TENSORFLOW_PYTHONS: dict[tuple[int, int], tuple[str, ...]] = {
    (2, 8): ("3.7", "3.8", "3.9", "3.10"),
    (2, 9): ("3.7", "3.8", "3.9", "3.10"),
    (2, 10): ("3.7", "3.8", "3.9", "3.10"),
    (2, 11): ("3.7", "3.8", "3.9", "3.10"),
    (2, 12): ("3.8", "3.9", "3.10", "3.11"),
    (2, 13): ("3.8", "3.9", "3.10", "3.11"),
    (2, 14): ("3.9", "3.10", "3.11"),
    (2, 15): ("3.9", "3.10", "3.11"),
    (2, 16): ("3.9", "3.10", "3.11", "3.12"),
    (2, 17): ("3.9", "3.10", "3.11", "3.12"),
    (2, 18): ("3.9", "3.10", "3.11", "3.12"),
    (2, 19): ("3.9", "3.10", "3.11", "3.12"),
    (2, 20): ("3.9", "3.10", "3.11", "3.12", "3.13"),
    (2, 21): ("3.10", "3.11", "3.12", "3.13"),
}
# Releases whose own packages fail on a Python they have wheels for: release -> (the
# first Python it fails on, why). tensorflow-estimator 2.12.0 and 2.13.0 call
# inspect.getargspec (canned/optimizers.py, line 90: every canned Estimator with a v2
# optimizer), which Python 3.11 removed; 2.14.0 and 2.15.0 do not. Read off the wheels
# from PyPI, unpacked and searched, on 2026-12-07. Such a release is passed over for
# the next that works.
BROKEN_ON: dict[tuple[int, int], tuple[tuple[int, int], str]] = {
    release: ((3, 11), "its tf.estimator calls inspect.getargspec, which Python 3.11 removed")
    for release in ((2, 12), (2, 13))
}


# The packages every runtime image carried beside TensorFlow, from Google's
# runtime version list (https://cloud.google.com/ai-platform/training/docs/runtime-version-list,
# the 2.x entries: tensorboard, numpy, pandas, scipy, scikit-learn,
# cloudml-hypertune among others; checked 2026-12-01).
IMAGE_PACKAGES = ("pandas", "scipy", "scikit-learn", "cloudml-hypertune", "setuptools", "wheel")
# Keras 3 is a package of its own that TensorFlow asks for without an upper
# bound; each runtime takes the Keras minor released with its TensorFlow (the
# TensorFlow and Keras release notes on GitHub, checked 2026-12-01), so a
# newer Keras never lands on an older TensorFlow.
KERAS_3: dict[tuple[int, int], str] = {
    (2, 16): "keras>=3.0,<3.4",
    (2, 17): "keras>=3.2,<3.5",
    (2, 18): "keras>=3.5,<3.7",
    (2, 19): "keras>=3.5,<3.10",
}
NUMPY_2_FROM = (2, 18)
"""TensorFlow before 2.18 was built against NumPy 1 and breaks under NumPy 2."""
NUMPY_1_24_FROM = (2, 12)
"""TensorFlow before 2.12 used the NumPy aliases (np.object, np.bool) that 1.24 removed."""
BUILT_SIZE = "about 1.5 GB"
"""Measured: TensorFlow 2.15 with the image packages, a fresh venv (du -sh)."""


class Runtime(NamedTuple):
    """A runtime version as it runs here."""

    asked: str
    """The runtimeVersion written: ``2.11``."""
    tensorflow: tuple[int, int]
    python: str
    executable: str
    """The interpreter of that Python on this machine."""

    @property
    def tensorflow_version(self) -> str:
        return f"{self.tensorflow[0]}.{self.tensorflow[1]}"

    @property
    def keras(self) -> int:
        return 2 if self.tensorflow <= LAST_KERAS_2 else 3

    @property
    def mapped(self) -> bool:
        return self.asked != self.tensorflow_version

    @property
    def key(self) -> str:
        """The folder of its environment in the runtime cache."""
        return f"tf{self.tensorflow_version}-py{self.python}"

    def requirements(self) -> list[str]:
        tf = self.tensorflow_version
        found = [f"tensorflow-cpu=={tf}.*", f"tensorboard=={tf}.*", *IMAGE_PACKAGES]
        if self.tensorflow < NUMPY_1_24_FROM:
            found += ["numpy<1.24", "pandas<2.3"]
        elif self.tensorflow < NUMPY_2_FROM:
            found += ["numpy<2", "pandas<2.3"]
        if self.tensorflow in KERAS_3:
            found.append(KERAS_3[self.tensorflow])
        return found

    def describe(self) -> str:
        """``TensorFlow 2.15, Keras 2, Python 3.11``, with the mapping when there is one."""
        text = f"TensorFlow {self.tensorflow_version}, Keras {self.keras}, Python {self.python}"
        if self.mapped:
            text = f"runtime {self.asked} runs on {text} here"
            asked = releases.parse(self.asked)
            why = broken(asked, self.python) if asked is not None else None
            if why:
                text += f" (TensorFlow {self.asked}: {why})"
        return text


def resolve(version: str, python: str) -> Runtime | str:
    """The runtime ``version`` with ``python`` runs on here, or why it cannot run."""
    asked = releases.parse(version)
    if asked is None:
        return f'runtimeVersion "{version}" is not a version like "2.15"'
    # The Python running mlapply needs no search of the machine (validate stays fast).
    executable = sys.executable if python == this_python() else interpreters().get(python)
    if executable is None:
        found = ", ".join(interpreters())
        return f"Python {python} is not on this machine (it has Python {found})"
    if asked[0] == 1:
        return (
            f"runtime {version} is TensorFlow 1, which pip no longer provides: a trainer "
            "written for it needs porting to tf.compat.v1 (tf_upgrade_v2 does most of it)"
        )
    newest = max(TENSORFLOW_PYTHONS)
    if asked > newest:
        return f"runtime {version} is newer than the newest here, {newest[0]}.{newest[1]}"
    if asked[0] != 2:
        return f"runtime {version} is not a TensorFlow 2 runtime"
    # The asked release itself, else the oldest newer one that keeps its APIs and works
    # on this Python.
    ceiling = LAST_KERAS_2 if asked <= LAST_KERAS_2 else newest
    for release in sorted(TENSORFLOW_PYTHONS):
        has_wheels = python in TENSORFLOW_PYTHONS[release]
        if asked <= release <= ceiling and has_wheels and not broken(release, python):
            return Runtime(version, release, python, executable)
    offered = [
        f"{r[0]}.{r[1]}" for r in sorted(TENSORFLOW_PYTHONS) if python in TENSORFLOW_PYTHONS[r]
    ]
    return (
        f"runtime {version} has no TensorFlow release for Python {python} "
        f"(Python {python} has {offered[0]} to {offered[-1]})"
        if offered
        else f"no TensorFlow release supports Python {python}"
    )


def broken(release: tuple[int, int], python: str) -> str | None:
    """Why ``release`` fails on ``python``, if it does (BROKEN_ON)."""
    found, given = BROKEN_ON.get(release), releases.parse(python)
    return found[1] if found is not None and given is not None and given >= found[0] else None


def versions_for(python: str) -> str:
    """The runtime versions that run exactly for ``python``, for hints."""
    offered = [
        f"{r[0]}.{r[1]}" for r in sorted(TENSORFLOW_PYTHONS) if python in TENSORFLOW_PYTHONS[r]
    ]
    return f"{offered[0]} to {offered[-1]}" if offered else "none"


def this_python() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


@functools.cache
def interpreters() -> dict[str, str]:
    """Python version -> an interpreter for it on this machine: the one running mlapply,
    then ``pythonX.Y`` on PATH and in pyenv's versions (pyenv's shims are skipped:
    they run only the versions pyenv has selected)."""
    found = {this_python(): sys.executable}
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for minor in range(7, 14):
        version = f"3.{minor}"
        if version in found:
            continue
        candidates = [
            os.path.join(folder, f"python{version}")
            for folder in os.environ.get("PATH", "").split(os.pathsep)
            if folder and Path(folder).name != "shims"
        ]
        candidates += sorted(
            glob.glob(str(pyenv / "versions" / f"{version}.*" / "bin" / f"python{version}"))
        )
        for candidate in candidates:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                found[version] = candidate
                break
    return found
