"""The stack lock: one holder at a time, clear messages; a holder that is provably
gone (this host, its process ended or its pid reused) is taken over with a note,
one that may be alive is only broken on request."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.backends.local import LocalStore
from reconciler.backends.local.lock import stack_lock
from reconciler.diagnostics import MlapplyError
from tests.conftest import dead_pid

STACK = "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: locked}\n"


def test_a_second_holder_waits_then_fails_naming_the_first(tmp_path: Path) -> None:
    with stack_lock(tmp_path, "locked", timeout=1) as first:
        with pytest.raises(MlapplyError) as failure, stack_lock(tmp_path, "locked", timeout=0.6):
            pass
        assert f"lock id {first}" in failure.value.message
        assert "another apply is running" in (failure.value.hint or "")
    with stack_lock(tmp_path, "locked", timeout=0):  # released on exit
        pass


def test_a_gone_holder_is_taken_over_with_a_note(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, create=True)
    assert store.try_lock("locked", "deadbeef", dead_pid(), socket.gethostname()) is None
    store.close()
    notes: list[str] = []
    with stack_lock(tmp_path, "locked", timeout=0, note=notes.append):
        pass
    assert len(notes) == 1 and "lock id deadbeef" in notes[0] and "is gone" in notes[0]


def test_a_reused_pid_is_not_the_holder(tmp_path: Path) -> None:
    """The pid lives, but its process started after the lock was taken."""
    store = LocalStore(tmp_path, create=True)
    db = store._writer()
    with db:
        db.execute(
            "INSERT INTO locks VALUES (?, ?, ?, ?, ?)",
            ("locked", "deadbeef", os.getpid(), socket.gethostname(), 1.0),
        )
    store.close()
    notes: list[str] = []
    with stack_lock(tmp_path, "locked", timeout=0, note=notes.append):
        pass
    assert len(notes) == 1


def test_a_holder_elsewhere_is_named_and_unlock_breaks_it(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(STACK)
    home = tmp_path / ".mlapply"
    store = LocalStore(home, create=True)
    assert store.try_lock("locked", "deadbeef", 1, "another-host") is None
    store.close()
    with pytest.raises(MlapplyError) as failure, stack_lock(home, "locked", timeout=0):
        pass
    assert "pid 1 on another-host" in failure.value.message
    assert "mlapply unlock deadbeef" in (failure.value.hint or "")
    wrong = CliRunner().invoke(cli.cli, ["unlock", "nope", str(tmp_path)])
    assert wrong.exit_code == 1 and "has no lock nope" in wrong.output
    done = CliRunner().invoke(cli.cli, ["unlock", "deadbeef", str(tmp_path)])
    assert done.exit_code == 0, done.output
    with stack_lock(home, "locked", timeout=0):
        pass
