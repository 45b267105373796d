"""The detached supervisor of one local tuning job: a study whose trials are jobs.

    python -m reconciler.backends.local.runner JOB_DIR HOME     (request has "study")

Each trial is a local job of its own: a row in the store's trials table, a
folder ``JOB_DIR/trials/<id>/`` with its request and logs, and its own
supervisor (``runner``) in its own session, so it runs the tier's shape with
the hypertune protocol the cloud set up: ``CLOUD_ML_HP_METRIC_FILE``,
``CLOUD_ML_TRIAL_ID`` and ``TF_CONFIG``'s ``task.trial``, ``<job dir>/<id>/``
as its job dir, and the tuned parameters as flags after the job's own. This
supervisor asks the search (``reconciler.tuning.search``) for parameters, keeps
``maxParallelTrials`` running, stops trials by the median rule when asked, and
records the study's end with its best trial's figures.

A study survives: the store is its only state. Killed, its trials go on (they
are not in its process group); the job is found lost, resubmitted, and the
new attempt adopts the earlier attempts' trials, finished and running, and goes
on to maxTrials. A trial whose own supervisor was lost is run again with the
same parameters and not counted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.backends.local import reports
from reconciler.backends.local.processes import (
    START_SECONDS,
    end_orphans,
    spawn_supervisor,
    supervisor_alive,
)
from reconciler.backends.local.runner import crash_report
from reconciler.backends.local.store import LocalStore, TrialRow
from reconciler.backends.local.trialrequest import trial_argv, trial_dirs
from reconciler.tuning import search
from reconciler.tuning.study import (
    FINISHED,
    Trial,
    best,
    counted,
    outcome,
    to_stop,
    tuning_from_record,
)

POLL_SECONDS = 0.5
CANCEL_GRACE_SECONDS = 20.0


class StudySupervisor:
    def __init__(self, job_dir: Path, home: Path) -> None:
        self.job_dir = job_dir
        self.home = home
        self.request: dict[str, Any] = json.loads((job_dir / "request.json").read_text())
        self.name: str = self.request["job"]
        self.study: dict[str, Any] = self.request["study"]
        self.tuning = tuning_from_record(self.study["tuning"])
        self.parallel = int(self.study["parallel"])
        self.store = LocalStore(home)
        self.cancelled = False
        self.exhausted = False
        self.stopping: set[str] = set()
        self.settled: set[str] = set()
        self.best: str | None = None

    # The loop -------------------------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_term)
        self.store.update_job(self.name, state="PREPARING", pid=os.getpid())
        self.store.adopt_trials(self.name, list(self.study.get("adopt", ())))
        self.store.update_job(self.name, state="RUNNING", start_time=time.time())
        while True:
            rows = self._checked(self.store.trials_of(self.name))
            if self.cancelled:
                return self._cancel(rows)
            views = [self._view(row) for row in rows]
            self._stop_early(rows, views)
            self._record_best(rows, views)
            over = outcome(self.tuning, views, self.exhausted)
            if over is not None:
                return self._finish(over[0], over[1], rows)
            self._start_trials(rows, views)
            time.sleep(POLL_SECONDS)

    def _view(self, row: TrialRow) -> Trial:
        measured = row.measurements
        if row.state == "RUNNING" and row.job_dir and self.tuning.early_stopping:
            measured = reports.trial_measurements(
                Path(row.job_dir), {"trial": row.trial}, self.tuning.metric
            )
        return Trial(row.trial, row.params, row.state, row.metric, row.lost, measured, row.error)

    def _checked(self, rows: list[TrialRow]) -> list[TrialRow]:
        """Rows with lost trials recorded as such: a trial whose supervisor is gone."""
        fresh: list[TrialRow] = []
        for row in rows:
            if row.state in FINISHED or supervisor_alive(row.pid, row.job_dir, row.create_time):
                fresh.append(self._completed(row))
                continue
            if row.pid is None and time.time() - (row.create_time or 0) < START_SECONDS:
                fresh.append(row)
                continue
            end_orphans(row.pid, row.job_dir or "")
            current = next((r for r in self.store.trials_of(self.name) if r.name == row.name), row)
            if current.state in FINISHED:
                fresh.append(self._completed(current))
                continue
            error = f"its supervisor (pid {row.pid}) is gone; run again with the same parameters"
            self.store.update_trial(
                row.name, state="FAILED", lost=1, error=error, end_time=time.time()
            )
            fresh.append(dataclasses.replace(row, state="FAILED", lost=True, error=error))
        return fresh

    def _completed(self, row: TrialRow) -> TrialRow:
        """A finished trial with its metric and measurements recorded (once)."""
        if row.state not in FINISHED or row.name in self.settled or not row.job_dir:
            return row
        self.settled.add(row.name)
        measured = reports.trial_measurements(
            Path(row.job_dir), {"trial": row.trial}, self.tuning.metric
        )
        state = row.state
        if state == "CANCELLED" and row.trial in self.stopping:
            state = "STOPPED"  # stopped early by the median rule: it counts as completed
        metric = measured[-1].value if measured else row.metrics.get(self.tuning.metric)
        if state == "SUCCEEDED" and metric is None:
            state = "FAILED"
            row = dataclasses.replace(
                row, error=f"it reported no {self.tuning.metric} through cloudml-hypertune"
            )
        self.store.update_trial(
            row.name,
            state=state,
            metric=metric,
            error=row.error,
            measurements=json.dumps([list(m) for m in measured]),
        )
        return dataclasses.replace(
            row,
            state=state,
            metric=metric,
            measurements=measured,
        )

    def _stop_early(self, rows: list[TrialRow], views: list[Trial]) -> None:
        for trial in to_stop(self.tuning, views):
            row = next(r for r in rows if r.trial == trial)
            if trial not in self.stopping and row.pid:
                self.stopping.add(trial)
                with contextlib.suppress(OSError):
                    os.killpg(row.pid, signal.SIGTERM)

    def _record_best(self, rows: list[TrialRow], views: list[Trial]) -> None:
        """The job's figures are its best trial's, recorded as soon as there is one."""
        top = best(views, self.tuning.goal)
        if top is None or top.id == self.best:
            return
        row = next(r for r in rows if r.trial == top.id)
        figures = {**row.metrics, self.tuning.metric: top.metric}
        self.store.update_job(self.name, best_trial=top.id, metrics=json.dumps(figures))
        self.best = top.id

    # Trials ---------------------------------------------------------------------------

    def _start_trials(self, rows: list[TrialRow], views: list[Trial]) -> None:
        running = [r for r in rows if r.state not in FINISHED]
        own = counted(views)
        room = min(self.parallel - len(running), self.tuning.max_trials - len(own))
        lost = [r.params for r in rows if r.lost and not self._rerun(r, rows)]
        history = [(dict(r.params), r.metric, r.state) for r in rows if not r.lost]
        chosen, exhausted = search.next_trials(
            self.tuning, room, lost, history, int(self.study["seed"])
        )
        self.exhausted = self.exhausted or exhausted  # a grid stays walked
        for params in chosen:
            rows.append(self._start(params, rows))

    @staticmethod
    def _rerun(lost: TrialRow, rows: list[TrialRow]) -> bool:
        """Whether a later trial already runs a lost one's parameters again."""
        return any(
            r.params == lost.params and not r.lost and int(r.trial) > int(lost.trial) for r in rows
        )

    def _start(self, params: Mapping[str, Any], rows: list[TrialRow]) -> TrialRow:
        trial = str(max((int(r.trial) for r in rows), default=0) + 1)
        name = f"{self.name}-trial-{trial}"
        folder = self.job_dir / "trials" / trial
        shutil.rmtree(folder, ignore_errors=True)  # a start that stopped half-way
        folder.mkdir(parents=True)
        trainer_dir, output_dir = trial_dirs(self.study, trial)
        Path(trainer_dir).mkdir(parents=True, exist_ok=True)
        request = {
            **self.study["trial"],
            "job": name,
            "trial": trial,
            "trial_name": name,
            "args": trial_argv(self.study, trainer_dir, params),
            "job_dir": trainer_dir,
            "output_dir": output_dir,
            "submitted": time.time(),
        }
        (folder / "request.json").write_text(json.dumps(request, indent=2), encoding="utf-8")
        row = TrialRow(
            name, self.name, self.study["stack"], trial, dict(params), job_dir=str(folder)
        )
        self.store.put_trial(row)  # recorded before its supervisor starts, as a job is
        pid = spawn_supervisor(folder, self.home)
        self.store.update_trial(name, pid=pid)
        return dataclasses.replace(row, pid=pid, create_time=time.time())

    # The end --------------------------------------------------------------------------

    def _cancel(self, rows: list[TrialRow]) -> int:
        self._end_trials(rows)
        return self._finish("CANCELLED", None, rows)

    def crashed(self, text: str) -> int:
        """This supervisor's own code failed: its trials end (cancelled), and the study
        fails with the error ``crash_report`` writes, not as a lost machine."""
        error = crash_report(self.job_dir, text)
        rows = self.store.trials_of(self.name)
        self._end_trials(rows)
        return self._finish("FAILED", error, rows)

    def _end_trials(self, rows: list[TrialRow]) -> None:
        active = [r for r in rows if r.state not in FINISHED and r.pid]
        for row in active:
            with contextlib.suppress(OSError):
                os.killpg(int(row.pid or 0), signal.SIGTERM)
        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        while time.monotonic() < deadline and any(
            supervisor_alive(r.pid, r.job_dir) for r in active
        ):
            time.sleep(0.1)
        for row in self.store.trials_of(self.name):
            if row.state not in FINISHED:
                self.store.update_trial(row.name, state="CANCELLED", end_time=time.time())

    def _finish(self, state: str, error: str | None, rows: list[TrialRow]) -> int:
        self.store.update_job(
            self.name,
            state=state,
            end_time=time.time(),
            error=error,
            exit_code=0 if state == "SUCCEEDED" else None,
            peak_rss_bytes=max((r.peak_rss_bytes or 0 for r in rows), default=0) or None,
        )
        self.store.close()
        return 0

    def _on_term(self, *_: Any) -> None:
        self.cancelled = True
