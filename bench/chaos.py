"""Kill apply, the supervisor and the trainer at random moments; count what heals.

Run: `.venv/bin/python bench/chaos.py [--trials 60] [--seed 1] [--keep]`.

The harness is `tests/chaos.py`. A warm-up apply builds the job's environment,
a second undisturbed one measures how long an apply takes (the horizon). Each
trial then changes the job's seed, starts apply, kills a random target (apply,
the supervisor, the trainer, or all three) at a random moment within 1.2
horizons (some land in the deploy, some after the end), and applies once more.
It prints, per target, the trials, the kills that found their process, the
trials that healed with every check passing, and the time the recovering apply
took; then each problem found.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.chaos import TARGETS, ChaosStack, Trial  # noqa: E402 (after the path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--train-seconds", type=float, default=2.0)
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="mlapply-chaos-"))
    stack = ChaosStack(folder / "repo", seconds=args.train_seconds)
    started = time.monotonic()
    trials: list[Trial] = []
    try:
        for number in (0, 10_000):  # the first builds the job's environment
            stack.set_seed(number)
            code, output, horizon = stack.apply()
            if code != 0:
                print(output)
                return 1
        print(f"an undisturbed apply takes {horizon:.1f} s; {args.trials} trials", flush=True)
        for number in range(1, args.trials + 1):
            target = rng.choice(TARGETS)
            trial = stack.trial(number, target, rng.uniform(0.0, 1.2 * horizon))
            trials.append(trial)
            mark = "ok" if trial.passed else "PROBLEM"
            print(
                f"{number:3d} {target:10s} at {trial.delay:5.2f} s killed "
                f"{','.join(trial.killed) or 'nothing':26s} healed in "
                f"{trial.recovery_seconds:5.1f} s  {mark}",
                flush=True,
            )
    finally:
        stack.cleanup()
        if args.keep:
            print(f"kept {folder}")
        else:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    _report(trials, time.monotonic() - started)
    return 0 if all(t.passed for t in trials) else 1


def _report(trials: list[Trial], seconds: float) -> None:
    print(f"\n{len(trials)} trials in {seconds / 60:.1f} min")
    print("target     | trials | kills landed | healed, all checks | recovery s (median, max)")
    for target in (*TARGETS, "all"):
        some = [t for t in trials if target in ("all", t.target)]
        if not some:
            continue
        times = [t.recovery_seconds for t in some]
        print(
            f"{target:10s} | {len(some):6d} | {sum(bool(t.killed) for t in some):12d} | "
            f"{sum(t.passed for t in some):18d} | {statistics.median(times):.1f}, {max(times):.1f}"
        )
    for trial in trials:
        for problem in trial.problems:
            print(f"\ntrial {trial.number} ({trial.target}, killed {trial.killed}): {problem}")


if __name__ == "__main__":
    sys.exit(main())
