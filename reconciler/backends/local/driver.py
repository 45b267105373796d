"""The local backend's driver: live state from the SQLite store; jobs as detached
supervisors; versions as SavedModel folders in the stack home. It provides every
facet but ``Predictions`` (``mlapply predict`` runs its versions in-process).

Reading writes one thing only, inside the stack home: a job whose supervisor
has died (a reboot, kill -9) is recorded FAILED and lost, with that reason,
and the tasks it left are ended; it never reads RUNNING forever.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from reconciler.backends import exports, logtext
from reconciler.backends.base import (
    JobState,
    JobSubmission,
    LiveJob,
    LiveModel,
    LivePackage,
    LiveSnapshot,
    LiveVersion,
    VersionDeployment,
    VersionState,
)
from reconciler.backends.exportcopy import copy_export
from reconciler.backends.facets import (
    Driver,
    Jobs,
    LocalModels,
    LogChunk,
    Logs,
    Serving,
    StackLock,
    Studies,
    TensorBoard,
    Traffic,
    Usage,
)
from reconciler.backends.holders import holder_gone
from reconciler.backends.local import runtimes, trialrequest
from reconciler.backends.local.lock import break_lock, describe_holder, stack_lock
from reconciler.backends.local.processes import (
    START_SECONDS,
    end_orphans,
    spawn_supervisor,
    supervisor_alive,
)
from reconciler.backends.local.profile import PROFILE as profile
from reconciler.backends.local.runtime import READY, ensure_runtime, env_python, runtime_cache
from reconciler.backends.local.store import LocalStore, TrialRow, latest_figures
from reconciler.backends.packaging import BuildError, StagedPackage, build_sdist
from reconciler.backends.recorded import keep_history
from reconciler.backends.served import Served
from reconciler.backends.tensorboard import logdir_spec
from reconciler.diagnostics import MlapplyError
from reconciler.identity.content import RemoteLister
from reconciler.stack.resources import DEFAULT_RUNTIME_VERSION, LABEL_STACK, StackSettings

LOG_LINES_WHEN_NOT_EXPORTED = 10


def _starter_gone(job_dir: str | None) -> bool:
    """Whether the process that recorded a job and was starting its supervisor is gone
    (killed between the two: the supervisor will never start)."""
    request = _request(Path(job_dir)) if job_dir else {}
    if "starter" not in request:
        return False
    return holder_gone(socket.gethostname(), int(request["starter"]), float(request["submitted"]))


def _request(folder: Path) -> dict[str, Any]:
    try:
        found = json.loads((folder / "request.json").read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def built_runtimes() -> frozenset[str]:
    """The keys of the runtime environments this machine has ready."""
    cache = runtime_cache()
    try:
        return frozenset(p.parent.name for p in cache.glob(f"*/{READY}"))
    except OSError:
        return frozenset()


class LocalDriver(
    Driver, Jobs, Studies, Serving, Traffic, StackLock, Logs, Usage, TensorBoard, LocalModels
):
    name = "local"
    poll_seconds = 0.1  # a read of the local store costs milliseconds

    def __init__(self, home: Path) -> None:
        self.home = home

    @classmethod
    def for_stack(cls, settings: StackSettings) -> LocalDriver:
        return cls(settings.home)

    def remote_lister(self) -> RemoteLister | None:
        return None  # gs:// data is fingerprinted by its patterns here

    def read_live(self, stack: str) -> LiveSnapshot:
        store = LocalStore(self.home)
        try:
            snapshot = store.read(stack)
            jobs = tuple(self._checked(store, job) for job in snapshot.jobs)
        finally:
            store.close()
        return dataclasses.replace(snapshot, jobs=jobs, environments=built_runtimes())

    def _checked(self, store: LocalStore, job: LiveJob) -> LiveJob:
        if not (job.state.active or job.state is JobState.CANCELLING):
            return job
        runtime = store.job_runtime(job.name)
        if runtime.get("job_dir") is None or supervisor_alive(
            runtime.get("pid"), runtime.get("job_dir"), job.create_time
        ):
            return job
        starting = time.time() - (job.create_time or 0) < START_SECONDS
        if runtime.get("pid") is None and starting and not _starter_gone(runtime.get("job_dir")):
            return job  # recorded, its supervisor being started (its pid comes next)
        # Re-read: the supervisor may have finished between the two reads.
        fresh = next(
            (j for j in store.read(job.labels.get(LABEL_STACK, "")).jobs if j.name == job.name),
            job,
        )
        if not (fresh.state.active or fresh.state is JobState.CANCELLING):
            return fresh
        end_orphans(runtime.get("pid"), str(runtime.get("job_dir")))
        lost = dataclasses.replace(
            fresh,
            state=JobState.FAILED,
            end_time=time.time(),
            lost=True,
            error=f"its supervisor (pid {runtime.get('pid')}) is gone: the machine restarted or "
            "the process was killed"
            if runtime.get("pid") is not None
            else "the apply that started it ended before its supervisor started",
        )
        # Recorded once, so the store never shows a dead job as running (inside the home).
        with contextlib.suppress(MlapplyError, OSError, sqlite3.Error):
            writer = LocalStore(self.home, create=True)
            try:
                writer.update_job(
                    lost.name,
                    state=lost.state.value,
                    end_time=lost.end_time,
                    error=lost.error,
                    lost=1,
                )
            finally:
                writer.close()
        return lost

    def lock(
        self, stack: str, timeout: float, note: Callable[[str], None] = lambda _: None
    ) -> AbstractContextManager[str]:
        return stack_lock(self.home, stack, timeout, note)

    def unlock(self, stack: str, lock_id: str) -> str:
        return describe_holder(break_lock(self.home, stack, lock_id))

    def submit_job(self, submission: JobSubmission) -> None:
        self._submit(submission)

    def submit_study(self, submission: JobSubmission) -> None:
        """A study runs under one supervisor too, which starts each trial as a job."""
        self._submit(submission)

    def _submit(self, submission: JobSubmission) -> None:
        """Stage the trainer's package and start the job under a detached supervisor.
        A job already recorded under this name and identity was submitted before
        (an earlier apply stopped before it saw the answer): it is not started again."""
        job, name = submission.job, submission.record.name
        found = self.get_job(submission.record.stack or "", name)
        if found is not None and found.hash == submission.record.hash:
            return
        if job.source is not None:
            try:
                staged = self.stage_package(
                    job.source, job.trainer, submission.record.labels, job.source_excluded
                )
            except BuildError as failed:
                self._record_unstarted(submission.record, failed)
                raise
            package, digest = staged.path, staged.digest
        else:
            local = [Path(u) for u in job.package_uris if not u.startswith("gs://")]
            if len(local) != len(job.package_uris) or len(local) != 1:
                raise MlapplyError(
                    "the local backend runs a Trainer with one local package "
                    "(spec.packageUris) or a spec.source"
                )
            package, digest = local[0], submission.record.hash or name
        runtime = runtimes.resolve(job.runtime_version, job.python_version)
        if isinstance(runtime, str):
            raise MlapplyError(runtime)
        job_dir = str(self.trainer_dir(name))
        task = {
            "module": job.module,
            "package": str(package),
            "digest": digest,
            "processes": {pool.role.tf_config: pool.replicas for pool in job.pools},
            "runtime": {**runtime._asdict(), "key": runtime.key},
            "timeout_seconds": job.timeout_seconds,
            "env": dict(job.env),
        }
        request: dict[str, Any] = {
            **task,
            "args": job.argv(job_dir),
            "job_dir": job_dir,
            "output_dir": job.layout.output_dir(job_dir),
        }
        if job.tuning is not None:
            record = submission.record
            request["study"] = trialrequest.study_request(
                job.tuning,
                job.argv(trialrequest.JOB_DIR_MARK),
                parallel=min(job.tuning.max_parallel_trials, profile.trial_slots(job.pools)),
                seed=int((record.hash or "0")[:8], 16),
                adopt=self._lost_attempts(record),
                job_dir=job_dir,
                layout=job.layout,
                stack=record.stack or "",
                trial=task,
            )
        self.start_job(dataclasses.replace(submission.record, state=JobState.QUEUED), request)

    def _lost_attempts(self, record: LiveJob) -> list[str]:
        """Earlier attempts of this study lost to the machinery: their trials go on."""
        return [
            j.name
            for j in self.read_live(record.stack or "").jobs
            if j.hash == record.hash and j.lost and j.name != record.name
        ]

    def _record_unstarted(self, record: LiveJob, failed: BuildError) -> None:
        """A job whose package did not build is recorded FAILED with the build's output
        as its preparation log, as the cloud fails a job whose package will not
        install: status, plan and ``mlapply logs`` say why it never started."""
        folder = self.job_dir(record.name)
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "logs").mkdir(parents=True)
        (folder / "logs" / "prepare.log").write_text(failed.output, encoding="utf-8")
        with self._store() as store:
            store.put_job(
                dataclasses.replace(
                    record,
                    state=JobState.FAILED,
                    error=failed.with_hint(),
                    create_time=time.time(),
                    end_time=time.time(),
                ),
                job_dir=str(folder),
            )

    def get_job(self, stack: str, name: str) -> LiveJob | None:
        """One job, by name: a query of its row and its trials (apply polls this)."""
        store = LocalStore(self.home)
        try:
            found = store.read_job(name)
            if found is None or found.stack != stack:
                return None
            return self._checked(store, found)
        finally:
            store.close()

    def read_log(self, name: str, task: str, trial: str | None = None, offset: int = 0) -> LogChunk:
        path = self._log_file(name, task, trial)
        try:
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                start = max(0, size + offset) if offset < 0 else min(offset, size)
                handle.seek(start)
                data = handle.read()
        except OSError:
            return LogChunk(b"", max(offset, 0), False)
        return LogChunk(data, start + len(data), True)

    def _log_file(self, name: str, task: str, trial: str | None = None) -> Path:
        if trial is None:
            return self.job_dir(name) / "logs" / f"{task}.log"
        row = self._trial(name, trial)
        folder = Path(row.job_dir) if row and row.job_dir else self.job_dir(name) / "trials" / trial
        return folder / "logs" / f"{task}.log"

    def _trial(self, name: str, trial: str) -> TrialRow | None:
        """A trial's record: an adopted trial keeps the name and folder it was started
        with, under the attempt that started it."""
        store = LocalStore(self.home)  # reads only
        try:
            return next((t for t in store.trials_of(name) if t.trial == trial), None)
        finally:
            store.close()

    def job_usage(self, names: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        store = LocalStore(self.home)  # reads only: a home never applied stays absent
        try:
            return {name: self._usage(store, name) for name in names}
        finally:
            store.close()

    def _usage(self, store: LocalStore, name: str) -> dict[str, Any]:
        """A job's recorded figures, and while it runs its latest samples (a study's:
        its running trials') and the trainer's last report."""
        from reconciler.backends.local import reports  # status and apply only: plan stays light
        from reconciler.tuning.study import FINISHED

        figures: dict[str, Any] = dict(store.job_runtime(name))
        if "state" not in figures or not JobState(figures["state"]).active:
            return figures
        running = [t for t in store.trials_of(name) if t.state not in FINISHED]
        keys = [t.name for t in running] if running else [name]
        latest = [latest_figures(s) for s in map(store.samples_of, keys) if s]
        if latest:  # none before its first sample
            figures["cpu"] = sum(cpu for cpu, _ in latest)
            figures["rss_bytes"] = sum(rss for _, rss in latest)
        where = [(Path(t.job_dir), t.trial) for t in running if t.job_dir]
        said = [reports.last_report(folder, trial) for folder, trial in where]
        said = said or [reports.last_report(self.job_dir(name), None)]
        figures["reported"] = next((r for r, _ in reversed(said) if r), {})
        figures["skipped_reports"] = sum(skipped for _, skipped in said)
        return figures

    def usage_series(
        self, name: str, trial: str | None = None, since: float | None = None
    ) -> Mapping[str, Sequence[tuple[float, float, int]]]:
        row = self._trial(name, trial) if trial else None
        if trial and row is None:
            return {}
        store = LocalStore(self.home)
        try:
            return store.samples_of(row.name if row else name, since)
        finally:
            store.close()

    def log_tail(self, name: str) -> str:
        """The last meaningful line of the chief's log, or of the preparation's."""
        for task in ("chief-0", "prepare"):
            lines = logtext.meaningful(logtext.read_tail(self._log_file(name, task)))
            if lines:
                return lines[-1][:160]
        return ""

    def tensorboard_runs(self, jobs: Sequence[LiveJob]) -> list[tuple[str, str]]:
        runs: list[tuple[str, str]] = []
        with self._store() as store:
            for job in jobs:
                base = f"{job.manifest_name or job.name}/{job.name}"
                trials = store.trials_of(job.name)
                if not trials:
                    runs.append((base, str(self.trainer_dir(job.name))))
                for trial in trials:
                    request = _request(Path(trial.job_dir or ""))
                    if "job_dir" in request:
                        runs.append((f"{base}/trial-{trial.trial}", str(request["job_dir"])))
        return runs

    def tensorboard_argv(self, runs: Sequence[tuple[str, str]], host: str, port: int) -> list[str]:
        """TensorBoard of the default runtime (built first if need be), as the runtime
        images carried it."""
        spec = logdir_spec(runs)  # before a runtime is built for it
        runtime = runtimes.resolve(DEFAULT_RUNTIME_VERSION, runtimes.this_python())
        if isinstance(runtime, str):
            raise MlapplyError(runtime)
        env = ensure_runtime(runtime, sys.stderr)
        return [
            *(str(env_python(env)), "-m", "tensorboard.main"),
            *(f"--logdir_spec={spec}", f"--host={host}", f"--port={port}"),
            "--reload_interval=5",
        ]

    def export_of(self, stack: str, job: LiveJob, export_path: str | None) -> str:
        """A job's export; a tuning job's is its best trial's (its own job dir)."""
        folder = self.job_dir(job.name)
        request = _request(folder)
        if "study" in request:
            folder = self._best_trial_folder(job, request["study"]["tuning"]["metric"])
            request = _request(folder)
        job_dir = str(request.get("job_dir", self.trainer_dir(job.name)))
        out = str(request.get("output_dir", Path(job_dir) / "output"))
        try:
            return exports.find_export(job.name, out, job_dir, export_path, exports.saved_models)
        except exports.NoExport as missing:
            # A trainer that catches its own errors exits 0 without exporting.
            said = self._chief_says(folder)
            if not said:
                raise
            hint = f"{missing.hint}\nthe chief's log ends:\n{said}"
            raise exports.NoExport(missing.message, hint) from None

    def _best_trial_folder(self, job: LiveJob, metric: str) -> Path:
        with self._store() as store:
            row = next((t for t in store.trials_of(job.name) if t.trial == job.best_trial), None)
        if row is None or not row.job_dir:
            raise exports.NoExport(
                f"tuning job {job.name} has no succeeded trial that reported {metric}",
                "see its trials with mlapply status, and their logs with mlapply logs",
            )
        return Path(row.job_dir)

    def _chief_says(self, folder: Path) -> str:
        text = logtext.read_tail(folder / "logs" / "chief-0.log")
        return "\n".join(logtext.meaningful(text)[-LOG_LINES_WHEN_NOT_EXPORTED:])

    def start_job(self, job: LiveJob, request: Mapping[str, Any]) -> Path:
        """Record the job QUEUED and start its detached supervisor; returns the job folder.

        ``request``: module, args (a list), package and digest (the staged sdist),
        processes (tasks per role), runtime (a resolved ``runtimes.Runtime``),
        timeout_seconds, job_dir and output_dir (the trainer's), optional trial and env.
        """
        job_dir = self.job_dir(job.name)
        if job_dir.exists():
            if self.get_job(job.stack or "", job.name) is not None:
                raise MlapplyError(f"job {job.name} exists already")
            # The record is written before the supervisor starts, so a folder without
            # one is a start that stopped half-way: nothing runs from it.
            shutil.rmtree(job_dir)
            shutil.rmtree(self.trainer_dir(job.name), ignore_errors=True)
        job_dir.mkdir(parents=True)
        self.trainer_dir(job.name).mkdir(parents=True, exist_ok=True)
        (job_dir / "request.json").write_text(
            json.dumps(
                {**request, "job": job.name, "submitted": time.time(), "starter": os.getpid()},
                indent=2,
            ),
            encoding="utf-8",
        )
        store = LocalStore(self.home, create=True)
        try:
            store.put_job(
                dataclasses.replace(job, state=JobState.QUEUED, create_time=time.time()),
                job_dir=str(job_dir),
            )
            store.update_job(job.name, pid=spawn_supervisor(job_dir, self.home))
        finally:
            store.close()
        return job_dir

    def cancel_job(self, name: str, *, grace: float = 15.0) -> None:
        """End a job's process group and see it recorded CANCELLED.

        The supervisor records the cancel itself; if it is gone before it could
        (killed before its handler was set, or long dead), this records it.
        """
        store = LocalStore(self.home, create=True)
        try:
            runtime = store.job_runtime(name)
            pid, job_dir = runtime.get("pid"), runtime.get("job_dir")
            if supervisor_alive(pid, job_dir):
                os.killpg(int(pid), signal.SIGTERM)  # type: ignore[arg-type]
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline and supervisor_alive(pid, job_dir):
                    time.sleep(0.1)
            current = next((j for j in store.read_all_jobs() if j.name == name), None)
            if current is not None and not current.state.finished:
                store.update_job(name, state="CANCELLED", end_time=time.time())
        finally:
            store.close()

    # Verbs of apply -------------------------------------------------------------------

    def job_dir(self, name: str) -> Path:
        """mlapply's folder of a job: its request, logs and the supervisor's output."""
        return self.home / "jobs" / name

    def trainer_dir(self, name: str) -> Path:
        """The trainer's ``--job-dir``, apart from mlapply's records (as the bucket path
        was on the cloud); its output dir is inside it."""
        return self.home / "outputs" / name

    def stage_package(
        self,
        source: Path,
        name: str,
        labels: Mapping[str, str],
        excluded: frozenset[str] = frozenset(),
    ) -> StagedPackage:
        """Build (or reuse) the trainer's sdist in the staging folder and record it."""
        staged = build_sdist(source, name, self.home / "packages", excluded=excluded)
        store = LocalStore(self.home, create=True)
        try:
            store.put_package(
                LivePackage(
                    staged.path.name, dict(labels), staged.digest, str(staged.path), time.time()
                )
            )
        finally:
            store.close()
        return staged

    @contextmanager
    def _store(self) -> Iterator[LocalStore]:
        store = LocalStore(self.home, create=True)
        try:
            yield store
        finally:
            store.close()

    def relabel_job(self, job: LiveJob) -> None:
        """Rewrite a job's record (labels, spec); its state stays the runner's."""
        with self._store() as store:
            current = next(
                (j for j in store.read(job.stack or "").jobs if j.name == job.name), None
            )
            state = current.state if current else job.state
            store.put_job(dataclasses.replace(job, state=state))

    def put_model(self, model: LiveModel) -> None:
        with self._store() as store:
            store.put_model(model)

    def delete_model(self, name: str) -> None:
        shutil.rmtree(self.home / "models" / name, ignore_errors=True)
        with self._store() as store:
            store.delete_model(name)

    def deploy_version(self, deployment: VersionDeployment) -> None:
        """Copy a SavedModel into the model's folder and record the version READY."""
        version, export = deployment.record, deployment.export
        if export.startswith("gs://"):
            raise MlapplyError(
                f"the local backend deploys local SavedModels, not {export}",
                "copy it here (gsutil cp -r) and point source.uri at the folder",
            )
        target = self.home / "models" / version.model / version.name
        copy_export(Path(export), target)
        ready = dataclasses.replace(
            version, state=VersionState.READY, deployment_uri=str(target), create_time=time.time()
        )
        with self._store() as store:
            store.put_version(ready)

    def update_version(self, version: LiveVersion) -> None:
        """Rewrite a version's mutable fields; where it serves from stays."""
        with self._store() as store:
            current = next(
                (
                    v
                    for v in store.read(version.stack or "").versions
                    if v.model == version.model and v.name == version.name
                ),
                None,
            )
            if current is not None:
                version = dataclasses.replace(
                    version,
                    state=current.state,
                    deployment_uri=current.deployment_uri,
                    create_time=current.create_time,
                    spec=keep_history(version.spec, current.spec),
                )
            store.put_version(version)

    def delete_version(self, model: str, name: str) -> None:
        shutil.rmtree(self.home / "models" / model / name, ignore_errors=True)
        with self._store() as store:
            store.delete_version(model, name)

    def model_folders(self, snapshot: LiveSnapshot) -> Mapping[str, Mapping[str, str]]:
        """Each model's versions that serve, by the folder they were copied to."""
        found: dict[str, dict[str, str]] = {}
        for version in snapshot.versions:
            if version.state is VersionState.READY and version.deployment_uri:
                found.setdefault(version.model, {})[version.name] = version.deployment_uri
        return found

    def set_default(self, model: str, version: str) -> None:
        with self._store() as store:
            store.set_default(model, version)

    def set_traffic(self, model: str, split: Mapping[str, int]) -> None:
        """`mlapply serve` follows the split within its refresh (``--refresh-seconds``)."""
        with self._store() as store:
            store.set_traffic(model, split)

    def served(
        self, stack: str, model: str, versions: Sequence[str], since: float
    ) -> Mapping[str, Served]:
        """What `mlapply serve` counted for each version (``record_served``)."""
        store = LocalStore(self.home)
        try:
            found = {v: store.served_since(model, v, since) for v in versions}
        finally:
            store.close()
        return {v: f for v, f in found.items() if f.requests}

    def served_series(
        self, stack: str, model: str, versions: Sequence[str], since: float, step: float
    ) -> Mapping[str, Sequence[tuple[float, Served]]]:
        store = LocalStore(self.home)
        try:
            return {
                v: found for v in versions if (found := store.served_series(model, v, since, step))
            }
        finally:
            store.close()

    def record_served(self, stack: str, rows: Sequence[tuple[str, str, float, Served]]) -> None:
        """Keep what `mlapply serve` counted: (model, version, time, figures) rows."""
        with self._store() as store:
            store.add_served(stack, rows)

    def purge(self, stack: str, jobs: Collection[str]) -> int:
        """Remove what destroy leaves after its plan: the listed finished jobs (records,
        folders) and staged packages. Returns how many runs were removed."""
        removed = 0
        with self._store() as store:
            snapshot = store.read(stack)
            for job in snapshot.jobs:
                if job.state.finished and job.name in jobs:
                    shutil.rmtree(self.job_dir(job.name), ignore_errors=True)
                    shutil.rmtree(self.trainer_dir(job.name), ignore_errors=True)
                    store.delete_job(job.name)
                    removed += 1
            for package in snapshot.packages:
                Path(package.uri).unlink(missing_ok=True)
                store.delete_package(package.name)
        return removed
