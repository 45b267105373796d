"""A crash at any point is healed by the next apply with no human step: a few
trials of the chaos harness (`tests/chaos.py`), one per target, each aimed so its
kill lands while the target runs. `bench/chaos.py` runs 50+ at random moments."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.chaos import TARGETS, ChaosStack, Trial

pytestmark = pytest.mark.usefixtures("default_runtime")


def test_kills_of_apply_supervisor_and_trainer_are_healed_by_the_next_apply(
    tmp_path: Path,
) -> None:
    stack = ChaosStack(tmp_path / "repo")
    rng = random.Random(20261202)
    try:
        code, output, _ = stack.apply()
        assert code == 0, output
        trials = [
            stack.trial(number, target, rng.uniform(0.0, 1.5), aim=True)
            for number, target in enumerate(TARGETS, start=1)
        ]
    finally:
        stack.cleanup()
    _assert_healed(trials)


def test_kills_during_a_study_are_healed_and_no_trial_runs_twice(tmp_path: Path) -> None:
    """The same kills while a tuning study runs: finished trials are kept, running ones
    adopted, and the study ends at its count (three trials)."""
    stack = ChaosStack(tmp_path / "repo", seconds=1.5, study=True)
    rng = random.Random(20261203)
    try:
        code, output, _ = stack.apply()
        assert code == 0, output
        trials = [
            stack.trial(number, target, rng.uniform(0.5, 2.0), aim=True)
            for number, target in enumerate(TARGETS, start=1)
        ]
    finally:
        stack.cleanup()
    _assert_healed(trials)


def _assert_healed(trials: list[Trial]) -> None:
    """Every trial's kill landed, and the next apply healed each."""
    report = "\n\n".join(
        f"trial {t.number}: {t.target} at {t.delay:.2f} s, killed {t.killed}:\n"
        + "\n".join(t.problems)
        for t in trials
        if not t.passed
    )
    assert not report, report
    assert all(t.killed for t in trials), [(t.target, t.killed) for t in trials]
