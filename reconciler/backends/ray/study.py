"""A tuning job's study, run on the cluster as its Ray job's entrypoint.

It runs there, not here: the driver ships this file (as ``mlapply_ray_study.py``)
beside the launcher with the modules of ``reconciler.tuning`` it imports, so the
study is mlapply's own loop with the same search (Optuna, through
``reconciler.tuning.search``: the cluster's Python needs optuna) and the same
rules (best trial, failed-trial bound, median stopping) as the local backend's,
and it survives the client and the CI runner that submitted it.

Each trial runs the job's replicas as the launcher runs a job's (a placement
group of the job's shape, ``run_replicas``), with the hypertune protocol the
cloud set up: ``CLOUD_ML_TRIAL_ID``, ``TF_CONFIG``'s ``task.trial``, its own job
dir (the driver's template with the trial's id), the tuned parameters as flags
after the job's own, and ``CLOUD_ML_HP_METRIC_FILE`` in its job dir, which this
loop reads (the storage is shared). At most ``maxParallelTrials`` run at once,
each in a thread here. The study's state is ``study.json`` in the job dir,
written after every change, which ``plan`` and ``status`` read.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mlapply_ray_launcher import LOST_EXIT, STOPPED_EXIT, TASK_MARK, run_replicas  # type: ignore[import-not-found]

from reconciler.tuning import hypertune, search
from reconciler.tuning.hypertune import Measurement
from reconciler.tuning.study import (
    Trial,
    best,
    counted,
    outcome,
    to_stop,
    tuning_from_record,
)

STATE = "study.json"
POLL_SECONDS = 1.0


def flag_text(value: Any) -> str:
    """A tuned value as a flag carries it: ``backends.compiled.flag_text`` (the driver's
    tests keep the two equal)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Study:
    def __init__(self, spec: dict[str, Any], tasks: list[tuple[str, int, float]]) -> None:
        self.spec, self.tasks = spec, tasks
        self.study: dict[str, Any] = spec["study"]
        self.tuning = tuning_from_record(self.study["tuning"])
        self.parallel = max(1, int(self.study["parallel"]))
        self.trials: dict[str, dict[str, Any]] = {}
        self.running: dict[str, tuple[Future[int], threading.Event]] = {}
        self.exhausted = False
        self.cancelled = False
        self.state = Path(self.study["job_dir"]) / STATE

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_term)
        import ray

        ray.init(log_to_driver=True)
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            try:
                return self._loop(pool)
            except Exception:  # mlapply's own code: said as such, not as the machine's
                text = traceback.format_exc()
                print(text, file=sys.stderr, flush=True)
                last = text.strip().splitlines()[-1]
                return self._end(
                    pool,
                    "FAILED",
                    f"mlapply's study loop failed: {last[:300]}. This is a bug in mlapply, "
                    "not the trainer's or the machine's: the traceback is in the job's log",
                )

    def _loop(self, pool: ThreadPoolExecutor) -> int:
        while True:
            self._collect()
            views = [self._view(tid) for tid in self.trials]
            if self.cancelled:
                return self._end(pool, "CANCELLED", "the job was cancelled")
            for tid in to_stop(self.tuning, views):
                self.trials[tid]["stopping"] = True
                self.running[tid][1].set()
            over = outcome(self.tuning, views, self.exhausted)
            if over is not None:
                return self._end(pool, over[0], over[1])
            self._start(pool, views)
            self._write()
            time.sleep(POLL_SECONDS)

    # Trials ---------------------------------------------------------------------------

    def _start(self, pool: ThreadPoolExecutor, views: list[Trial]) -> None:
        room = min(self.parallel - len(self.running), self.tuning.max_trials - len(counted(views)))
        lost = [t for t in self.trials.values() if t["lost"] and not t.get("rerun")]
        history = [(t["params"], t["metric"], t["state"]) for t in self.trials.values()]
        chosen, exhausted = search.next_trials(
            self.tuning, room, [t["params"] for t in lost], history, int(self.study["seed"])
        )
        self.exhausted = self.exhausted or exhausted  # a grid stays walked
        for again in lost[: len(chosen)]:
            again["rerun"] = True
        for params in chosen:
            tid = str(len(self.trials) + 1)
            mark = self.study["trial_mark"]
            job_dir = self.study["trial_job_dir"].replace(mark, tid)
            output = self.study["trial_output_dir"].replace(mark, tid)
            self.trials[tid] = {
                "id": tid,
                "params": params,
                "state": "RUNNING",
                "metric": None,
                "start_time": time.time(),
                "end_time": None,
                "error": None,
                "lost": False,
                "job_dir": job_dir,
                "output_dir": output,
            }
            argv = [a.replace(self.study["job_dir_mark"], job_dir) for a in self.spec["argv"]]
            argv += [f"--{name}={flag_text(value)}" for name, value in params.items()]
            trial_spec = {
                **self.spec,
                "argv": argv,
                "trial": tid,
                "label": f"trial-{tid}",
                "env": {**self.spec.get("env", {}), "CLOUD_ML_TRIAL_ID": tid},
                "metric_file": self.study["trial_metric_file"].replace(mark, tid),
                "usage_file": self.study["trial_usage_file"].replace(mark, tid),
            }
            os.makedirs(job_dir, exist_ok=True)
            stop = threading.Event()
            self.running[tid] = (pool.submit(run_replicas, trial_spec, self.tasks, stop), stop)

    def _collect(self) -> None:
        for tid, (future, _) in list(self.running.items()):
            if not future.done():
                continue
            del self.running[tid]
            trial = self.trials[tid]
            trial["end_time"] = time.time()
            try:
                code = future.result()
            except Exception as exc:  # the trial's machinery, not its trainer
                trial.update(state="FAILED", error=f"mlapply could not run the trial: {exc}")
                continue
            measured = self._measured(tid)
            trial["metric"] = measured[-1].value if measured else None
            if code == LOST_EXIT:
                trial.update(state="FAILED", lost=True, error="a node under it was lost")
            elif code == STOPPED_EXIT and trial.get("stopping"):
                trial["state"] = "STOPPED"
            elif code != 0:
                ended = f"signal {-code}" if code < 0 else f"exit code {code}"
                trial.update(state="FAILED", error=f"the chief ended with {ended}")
            elif trial["metric"] is None:
                trial.update(
                    state="FAILED",
                    error=f"it reported no {self.tuning.metric} through cloudml-hypertune",
                )
            else:
                trial["state"] = "SUCCEEDED"

    def _measured(self, tid: str) -> tuple[Measurement, ...]:
        chief = self.tasks[-1]
        template = self.study["trial_metric_file"].replace(self.study["trial_mark"], tid)
        path = template.replace(TASK_MARK, f"{chief[0]}-{chief[1]}")
        return hypertune.measurements(hypertune.read(path).text, self.tuning.metric)

    def _view(self, tid: str) -> Trial:
        trial = self.trials[tid]
        measured = self._measured(tid) if trial["state"] == "RUNNING" else ()
        return Trial(
            tid,
            trial["params"],
            trial["state"],
            trial["metric"],
            trial["lost"],
            measured,
            trial["error"],
        )

    # The end --------------------------------------------------------------------------

    def _end(self, pool: ThreadPoolExecutor, state: str, why: str | None) -> int:
        for _, stop in self.running.values():
            stop.set()
        pool.shutdown(wait=True)
        self._collect()
        for trial in self.trials.values():
            if trial["state"] == "RUNNING":
                trial.update(state="CANCELLED", end_time=time.time())
        self._write(state, why)
        if state != "SUCCEEDED":
            print(f"mlapply: the study ended {state.lower()}: {why}", flush=True)
        return 0 if state == "SUCCEEDED" else 1

    def _write(self, state: str | None = None, why: str | None = None) -> None:
        views = [self._view(tid) for tid in self.trials]
        top = best(views, self.tuning.goal)
        document = {
            "trials": [
                {k: v for k, v in t.items() if k not in ("stopping", "rerun")}
                for t in self.trials.values()
            ],
            "best_trial": top.id if top else None,
            "metrics": {self.tuning.metric: top.metric} if top else {},
            "state": state,
            "error": why,
        }
        partial = self.state.with_name(STATE + ".partial")
        partial.write_text(json.dumps(document, indent=1), encoding="utf-8")
        partial.replace(self.state)

    def _on_term(self, *_: Any) -> None:
        self.cancelled = True
