"""Shared fixtures: real stacks written to temporary folders."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.raycluster import RayCluster, loopback_only

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "tests" / "cases"
# Runtime environments (a TensorFlow each, about 1.5 GB) are the machine's: the tests
# use and build them in the user's cache (~/.cache/mlapply/runtimes, or
# $MLAPPLY_RUNTIMES) as mlapply does, not in a second copy beside the checkout; a
# test that needs none built points MLAPPLY_RUNTIMES at an empty folder itself.
# End-of-availability dates are judged as of the day the catalogue was checked, so
# that a test's verdict does not change as the calendar moves on (a test about
# another day sets its own).
os.environ.setdefault("MLAPPLY_TODAY", "2026-12-02")

WriteFiles = Callable[[dict[str, str]], Path]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for a runtime environment runs TensorFlow or a local job: it
    carries the ``tensorflow`` marker (``make test-fast`` leaves it out)."""
    for item in items:
        if "default_runtime" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.tensorflow)


@pytest.fixture
def write_files(tmp_path: Path) -> WriteFiles:
    """Write ``{relative path: text}`` under a temporary folder; returns the folder."""

    def write(files: dict[str, str]) -> Path:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return tmp_path

    return write


def copy_example(repo: Path, rows: int) -> Path:
    """The example stack and the trainer templates copied into ``repo`` (a git root),
    with ``rows`` rows of generated data; returns its manifests folder."""
    manifests = repo / "manifests"
    shutil.copytree(
        REPO / "manifests", manifests, ignore=shutil.ignore_patterns(".mlapply", "*.csv")
    )
    shutil.copytree(REPO / "trainer_templates", repo / "trainer_templates")
    (repo / ".git").mkdir()
    subprocess.run(
        [sys.executable, str(manifests / "data" / "generate.py"), "--rows", str(rows)], check=True
    )
    return manifests


def dead_pid() -> int:
    """The pid of a process that has ended (as a crashed apply leaves in its lock)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """One real Ray cluster for the session: a head and a second node, on loopback."""
    if not loopback_only():
        pytest.fail(
            "the ray tests start a real cluster and must run where loopback is the only "
            "network: run them with `make test` (which starts them under unshare -n)"
        )
    cluster = RayCluster(nodes=2, cpus=2)

    def stop_then_exit(signum: int, _: object) -> None:
        # A session ended from outside (a timeout's SIGTERM) runs no finally: without
        # this its cluster would outlive it.
        cluster.stop()
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop_then_exit)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def default_runtime() -> Path:
    """The default runtime's environment, built before tests that wait for a job with a
    deadline (its first build, about 80 s, must not count against theirs)."""
    from reconciler.backends.local import runtimes
    from reconciler.backends.local.runtime import ensure_runtime, runtime_cache
    from reconciler.stack.resources import DEFAULT_RUNTIME_VERSION

    runtime = runtimes.resolve(DEFAULT_RUNTIME_VERSION, runtimes.this_python())
    assert not isinstance(runtime, str), runtime
    cache = runtime_cache()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "tests-build.log", "a", encoding="utf-8") as log:
        return ensure_runtime(runtime, log)
