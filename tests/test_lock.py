"""The stack lock: one holder at a time, clear messages, stale locks broken only on request."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.backends.local import LocalStore
from reconciler.backends.local.lock import stack_lock
from reconciler.diagnostics import MlapplyError

STACK = "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: locked}\n"


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_a_second_holder_waits_then_fails_naming_the_first(tmp_path: Path) -> None:
    with stack_lock(tmp_path, "locked", timeout=1) as first:
        with pytest.raises(MlapplyError) as failure, stack_lock(tmp_path, "locked", timeout=0.6):
            pass
        assert f"lock id {first}" in failure.value.message
        assert "another apply is running" in (failure.value.hint or "")
    with stack_lock(tmp_path, "locked", timeout=0):  # released on exit
        pass


def test_a_gone_holder_is_reported_and_unlock_breaks_it(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(STACK)
    home = tmp_path / ".mlapply"
    store = LocalStore(home, create=True)
    assert store.try_lock("locked", "deadbeef", _dead_pid(), socket.gethostname()) is None
    store.close()
    with pytest.raises(MlapplyError) as failure, stack_lock(home, "locked", timeout=0):
        pass
    assert "that process is gone" in failure.value.message
    assert "mlapply unlock deadbeef" in (failure.value.hint or "")
    wrong = CliRunner().invoke(cli.cli, ["unlock", "nope", str(tmp_path)])
    assert wrong.exit_code == 1 and "has no lock nope" in wrong.output
    done = CliRunner().invoke(cli.cli, ["unlock", "deadbeef", str(tmp_path)])
    assert done.exit_code == 0, done.output
    with stack_lock(home, "locked", timeout=0):
        pass
