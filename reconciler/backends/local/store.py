"""The local backend's state: SQLite (WAL) in the stack home, with migrations.

It holds what a cloud API would: jobs (with the trials of tuning jobs),
models, versions, staged packages and locks, each row carrying the stack it
belongs to so a stack is read with one query per table. ``PRAGMA user_version``
is the schema version; migrations run in order when a store is opened for
writing. Opening for reading never creates anything: a stack that has never
been applied reads as empty.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from reconciler import diskspace
from reconciler.backends.base import (
    JobState,
    LiveJob,
    LiveModel,
    LivePackage,
    LiveSnapshot,
    LiveTrial,
    LiveVersion,
    VersionState,
)
from reconciler.backends.served import Served, total
from reconciler.diagnostics import MlapplyError
from reconciler.manifests.discover import home_file, mark_home
from reconciler.stack.resources import LABEL_STACK
from reconciler.tuning.hypertune import Measurement

STATE_FILE = "state.db"

_MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE jobs (
        name TEXT PRIMARY KEY, stack TEXT NOT NULL, labels TEXT NOT NULL, state TEXT NOT NULL,
        create_time REAL, start_time REAL, end_time REAL, error TEXT, spec TEXT,
        pid INTEGER, exit_code INTEGER, job_dir TEXT, peak_rss_bytes INTEGER, mean_cpu REAL
    );
    CREATE INDEX jobs_stack ON jobs (stack);
    CREATE TABLE models (
        name TEXT PRIMARY KEY, stack TEXT NOT NULL, labels TEXT NOT NULL, description TEXT,
        region TEXT, online_prediction_logging INTEGER, default_version TEXT, create_time REAL
    );
    CREATE INDEX models_stack ON models (stack);
    CREATE TABLE versions (
        model TEXT NOT NULL, name TEXT NOT NULL, stack TEXT NOT NULL, labels TEXT NOT NULL,
        state TEXT NOT NULL, description TEXT, deployment_uri TEXT, create_time REAL,
        error TEXT, spec TEXT, PRIMARY KEY (model, name)
    );
    CREATE INDEX versions_stack ON versions (stack);
    CREATE TABLE packages (
        name TEXT PRIMARY KEY, stack TEXT NOT NULL, labels TEXT NOT NULL, digest TEXT NOT NULL,
        uri TEXT NOT NULL, create_time REAL
    );
    CREATE INDEX packages_stack ON packages (stack);
    CREATE TABLE locks (
        stack TEXT PRIMARY KEY, holder TEXT NOT NULL, pid INTEGER, host TEXT, acquired REAL
    );
    """,
    # 2: a job that failed for the machinery (its supervisor lost), not for its trainer.
    """
    ALTER TABLE jobs ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: what a job reported (hypertune, metrics.json), and the trials of studies.
    """
    ALTER TABLE jobs ADD COLUMN metrics TEXT;
    ALTER TABLE jobs ADD COLUMN best_trial TEXT;
    CREATE TABLE trials (
        name TEXT PRIMARY KEY, study TEXT NOT NULL, stack TEXT NOT NULL, trial TEXT NOT NULL,
        params TEXT NOT NULL, state TEXT NOT NULL, create_time REAL, start_time REAL,
        end_time REAL, error TEXT, pid INTEGER, exit_code INTEGER, job_dir TEXT,
        peak_rss_bytes INTEGER, mean_cpu REAL, lost INTEGER NOT NULL DEFAULT 0, metrics TEXT,
        metric REAL, measurements TEXT
    );
    CREATE INDEX trials_stack ON trials (stack);
    CREATE INDEX trials_study ON trials (study);
    """,
    # 4: CPU and memory over time, per task of a job or of a trial (``telemetry``).
    """
    CREATE TABLE samples (
        job TEXT NOT NULL, task TEXT NOT NULL, time REAL NOT NULL, cpu REAL NOT NULL,
        rss_bytes INTEGER NOT NULL
    );
    CREATE INDEX samples_job ON samples (job, task, time);
    """,
    # 5: traffic split between a model's versions (rollouts), and what each version
    # served: one row per version per flush of `mlapply serve` (``served``).
    """
    ALTER TABLE models ADD COLUMN traffic TEXT;
    CREATE TABLE served (
        stack TEXT NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL, time REAL NOT NULL,
        requests INTEGER NOT NULL, errors INTEGER NOT NULL, latency TEXT NOT NULL
    );
    CREATE INDEX served_version ON served (model, version, time);
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)
_TRIALS_SCHEMA = 3
_SAMPLES_SCHEMA = 4
_SERVED_SCHEMA = 5
SERVED_KEPT_SECONDS = 7 * 24 * 3600
"""How long what versions served is kept (a rollout's steps read it)."""

Series = dict[str, list[tuple[float, float, int]]]
"""Samples by task: (time, cpu, rss_bytes), oldest first."""


def latest_figures(series: Series) -> tuple[float, int]:
    """CPUs and resident bytes of a job's tasks together, at their latest samples."""
    last = [points[-1] for points in series.values() if points]
    return sum(p[1] for p in last), sum(p[2] for p in last)


@dataclass(frozen=True)
class LockInfo:
    holder: str
    """The lock's id, for `mlapply unlock ID`."""
    pid: int
    host: str
    acquired: float


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, _LazyJSON):
        return value.text
    return json.dumps(value, sort_keys=True)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class _LazyJSON(Mapping[str, Any]):
    """A JSON object decoded on first use: plans read thousands of specs and need few."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._value: dict[str, Any] | None = None

    def _decoded(self) -> dict[str, Any]:
        if self._value is None:
            self._value = json.loads(self.text)
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._decoded()[key]

    def get(self, key: str, default: Any = None) -> Any:
        # A key the text does not hold is answered undecoded: a plan asks every
        # version's record whether it is rolling out, and nearly none is.
        if self._value is None and json.dumps(key) not in self.text:
            return default
        return self._decoded().get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


def _lazy(text: str | None) -> Mapping[str, Any] | None:
    return None if text is None else _LazyJSON(text)


_LOCK_WAIT_SECONDS = 30.0


def _enable_wal(db: sqlite3.Connection) -> None:
    """Switch to WAL, waiting out other processes that hold the file.

    SQLite answers a journal-mode change with "database is locked" at once,
    without its busy handler, while another connection is mid-switch or
    reading; so several processes opening a new store together retry here.
    """
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    pause = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


class LocalStore:
    def __init__(self, home: Path, *, create: bool = False) -> None:
        self.home = home
        self.path = home / STATE_FILE
        self._db: sqlite3.Connection | None = None
        if create:
            self._writer()
        elif self.path.exists():
            # A reader never migrates (reading writes nothing, a full disk included):
            # rows of an older schema read with the newer columns' defaults.
            self._db = self._connect(migrate=False)
            if self.schema_version == 0:  # created, never written: an empty store
                self.close()
        else:
            self._refuse_if_lost()

    def _refuse_if_lost(self) -> None:
        """A store never written (missing, empty) beside the folders of jobs it recorded
        is a lost state, not an empty stack: reading it as empty would retrain and
        overwrite those jobs (a job folder without a record is a start that stopped
        half-way). A job ran when its folder has logs: its supervisor starts only once
        the job is recorded (a first apply's new folder has none yet). Refused before
        anything is read or written."""
        try:
            found = list(islice((self.home / "jobs").iterdir(), 1000))
        except OSError:
            return
        folders = sum((folder / "logs").is_dir() for folder in found)
        if folders:
            raise MlapplyError(
                f"{self.path} is missing or empty, but {self.home / 'jobs'} holds "
                f"{folders} job folder(s): the stack's state is lost, not empty",
                self._restore(),
            )

    def _restore(self) -> str:
        return (
            f"restore {self.path.name} from a backup (nothing was changed); to start the "
            f"stack afresh instead, move {self.home} aside (its jobs then train again)"
        )

    def _connect(self, *, migrate: bool = True) -> sqlite3.Connection:
        home_file(self.path.parent, self.path.name, database=True)
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = 30000")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as unreadable:
            db.close()
            if isinstance(unreadable, sqlite3.OperationalError):
                raise  # locked, or the disk: not the file's content
            raise MlapplyError(
                f"{self.path} is not a readable mlapply state: {unreadable}", self._restore()
            ) from None
        if version == 0:
            try:
                self._refuse_if_lost()
            except MlapplyError:
                db.close()
                raise
        if version > SCHEMA_VERSION:
            db.close()
            raise MlapplyError(
                f"the state in {self.path} was written by a newer mlapply (schema {version})",
                "upgrade mlapply to read it",
            )
        if version < SCHEMA_VERSION and migrate:
            # mlapply's own bookkeeping: upgrading it in place is safe on any open for writing.
            _enable_wal(db)
            with _transaction(db, "BEGIN IMMEDIATE"):
                # Another process may have migrated since the read above: read again
                # under the write lock.
                version = db.execute("PRAGMA user_version").fetchone()[0]
                for script in _MIGRATIONS[version:]:
                    for statement in filter(str.strip, script.split(";")):
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return db

    @property
    def schema_version(self) -> int:
        if self._db is None:
            return 0
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        return version

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _writer(self) -> sqlite3.Connection:
        if self._db is None:
            with self._space():
                self.home.mkdir(parents=True, exist_ok=True)
                mark_home(self.home)
                self._db = self._connect()
        return self._db

    # Writing ------------------------------------------------------------------

    def _write(self, *statements: tuple[str, Sequence[Any]]) -> None:
        """Run statements in one transaction (all or none of them, a full disk too)."""
        db = self._writer()
        with self._space(), _transaction(db):
            for sql, params in statements:
                db.execute(sql, params)

    @contextmanager
    def _space(self) -> Iterator[None]:
        """A full disk as one clear error naming the store (SQLite rolls back)."""
        try:
            yield
        except (sqlite3.OperationalError, OSError) as exc:
            if diskspace.is_disk_full(exc):
                raise diskspace.disk_full(str(self.path)) from exc
            raise

    _RUNTIME_COLUMNS = ("pid", "exit_code", "job_dir", "peak_rss_bytes", "mean_cpu")

    def put_job(self, job: LiveJob, **runtime: Any) -> None:
        """Insert or replace a job; ``runtime`` sets the local runner's columns."""
        unknown = set(runtime) - set(self._RUNTIME_COLUMNS)
        if unknown:
            raise ValueError(f"unknown job columns: {sorted(unknown)}")
        row = (
            job.name,
            job.labels.get(LABEL_STACK, ""),
            _json(dict(job.labels)),
            job.state.value,
            job.create_time,
            job.start_time,
            job.end_time,
            job.error,
            _json(job.spec),
            int(job.lost),
        )
        updates = [
            (f"UPDATE jobs SET {column} = ? WHERE name = ?", (value, job.name))  # noqa: S608
            for column, value in runtime.items()
        ]
        self._write(
            (
                "INSERT OR REPLACE INTO jobs (name, stack, labels, state, create_time, start_time,"
                " end_time, error, spec, lost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            ),
            *updates,
        )

    _UPDATABLE_JOB_COLUMNS = (
        "state",
        "start_time",
        "end_time",
        "error",
        "lost",
        "metrics",
        "best_trial",
        *_RUNTIME_COLUMNS,
    )

    def update_job(self, name: str, **columns: Any) -> None:
        """Set some columns of a job (its state, times, error, runner columns)."""
        unknown = set(columns) - set(self._UPDATABLE_JOB_COLUMNS)
        if unknown:
            raise ValueError(f"unknown job columns: {sorted(unknown)}")
        self._write(
            *(
                (f"UPDATE jobs SET {column} = ? WHERE name = ?", (value, name))  # noqa: S608
                for column, value in columns.items()
            )
        )

    # Trials ---------------------------------------------------------------------

    def put_trial(self, trial: TrialRow) -> None:
        """Record a trial before its supervisor starts (as a job is)."""
        self._write(
            (
                "INSERT INTO trials (name, study, stack, trial, params, state, create_time,"
                " job_dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trial.name,
                    trial.study,
                    trial.stack,
                    trial.trial,
                    _json(dict(trial.params)),
                    trial.state,
                    time.time(),
                    trial.job_dir,
                ),
            )
        )

    _UPDATABLE_TRIAL_COLUMNS = (
        *("state", "start_time", "end_time", "error", "lost", "metrics", *_RUNTIME_COLUMNS),
        *("study", "metric", "measurements"),
    )

    def update_trial(self, name: str, **columns: Any) -> None:
        unknown = set(columns) - set(self._UPDATABLE_TRIAL_COLUMNS)
        if unknown:
            raise ValueError(f"unknown trial columns: {sorted(unknown)}")
        self._write(
            *(
                (f"UPDATE trials SET {column} = ? WHERE name = ?", (value, name))  # noqa: S608
                for column, value in columns.items()
            )
        )

    def adopt_trials(self, study: str, others: Sequence[str]) -> None:
        """Make the trials of earlier attempts of a study (lost ones) this attempt's."""
        self._write(
            *(("UPDATE trials SET study = ? WHERE study = ?", (study, old)) for old in others)
        )

    def trials_of(self, study: str) -> list[TrialRow]:
        if self._db is None:
            return []
        rows = self._db.execute(
            "SELECT * FROM trials WHERE study = ? ORDER BY CAST(trial AS INTEGER)", (study,)
        )
        return [_trial(row) for row in rows.fetchall()]

    def put_model(self, model: LiveModel) -> None:
        row = (
            model.name,
            model.labels.get(LABEL_STACK, ""),
            _json(dict(model.labels)),
            model.description,
            model.region,
            int(model.online_prediction_logging),
            model.default_version,
            model.create_time,
            _json(dict(model.traffic)) if model.traffic else None,
        )
        self._write(
            (
                "INSERT OR REPLACE INTO models (name, stack, labels, description, region,"
                " online_prediction_logging, default_version, create_time, traffic)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        )

    def put_version(self, version: LiveVersion) -> None:
        row = (
            version.model,
            version.name,
            version.labels.get(LABEL_STACK, ""),
            _json(dict(version.labels)),
            version.state.value,
            version.description,
            version.deployment_uri,
            version.create_time,
            version.error,
            _json(version.spec),
        )
        self._write(("INSERT OR REPLACE INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row))

    def put_package(self, package: LivePackage) -> None:
        row = (
            package.name,
            package.labels.get(LABEL_STACK, ""),
            _json(dict(package.labels)),
            package.digest,
            package.uri,
            package.create_time,
        )
        self._write(("INSERT OR REPLACE INTO packages VALUES (?, ?, ?, ?, ?, ?)", row))

    def delete_job(self, name: str) -> None:
        statements: list[tuple[str, Sequence[Any]]] = [("DELETE FROM jobs WHERE name = ?", (name,))]
        if self.schema_version >= _SAMPLES_SCHEMA:
            # Its own samples and its trials' (by their recorded names: an adopted trial
            # keeps the name of the attempt that started it).
            statements.append(
                (
                    "DELETE FROM samples WHERE job = ? OR job IN"
                    " (SELECT name FROM trials WHERE study = ?)",
                    (name, name),
                )
            )
        self._write(*statements)

    # Samples ------------------------------------------------------------------

    def add_samples(self, job: str, samples: Sequence[tuple[str, float, float, int]]) -> None:
        """Record (task, time, cpu, rss_bytes) samples of a job or trial (by its name)."""
        self._write(
            *(("INSERT INTO samples VALUES (?, ?, ?, ?, ?)", (job, *sample)) for sample in samples)
        )

    def thin_samples(self, job: str, task: str) -> None:
        """Halve a task's series (``telemetry.thinned``) in one transaction."""
        from reconciler.backends.telemetry import thinned

        series = self.samples_of(job).get(task, [])
        self._write(
            ("DELETE FROM samples WHERE job = ? AND task = ?", (job, task)),
            *(
                ("INSERT INTO samples VALUES (?, ?, ?, ?, ?)", (job, task, *point))
                for point in thinned(series)
            ),
        )

    def samples_of(self, job: str, since: float | None = None) -> Series:
        """A job's (or trial's) series by task, after ``since`` when given."""
        if self._db is None or self.schema_version < _SAMPLES_SCHEMA:
            return {}
        rows = self._db.execute(
            "SELECT task, time, cpu, rss_bytes FROM samples WHERE job = ? AND time > ?"
            " ORDER BY task, time",
            (job, since if since is not None else float("-inf")),
        )
        series: Series = {}
        for task, at, cpu, rss in rows.fetchall():
            series.setdefault(task, []).append((at, cpu, rss))
        return series

    def delete_package(self, name: str) -> None:
        self._write(("DELETE FROM packages WHERE name = ?", (name,)))

    def delete_model(self, name: str) -> None:
        self._write(("DELETE FROM models WHERE name = ?", (name,)))

    def delete_version(self, model: str, name: str) -> None:
        self._write(
            ("DELETE FROM versions WHERE model = ? AND name = ?", (model, name)),
            (
                "UPDATE models SET default_version = NULL WHERE name = ? AND default_version = ?",
                (model, name),
            ),
        )

    def set_default(self, model: str, version: str | None) -> None:
        """Make ``version`` the default: it takes all the model's traffic."""
        statements: list[tuple[str, Sequence[Any]]] = [
            ("UPDATE models SET default_version = ? WHERE name = ?", (version, model))
        ]
        if self.schema_version >= _SERVED_SCHEMA:
            statements.append(("UPDATE models SET traffic = NULL WHERE name = ?", (model,)))
        self._write(*statements)

    def set_traffic(self, model: str, split: Mapping[str, int]) -> None:
        """Split the model's traffic by percent per version; all of it to the default
        is no split (one statement: the default is read where it is written)."""
        shares = {v: p for v, p in split.items() if p}
        whole = next(iter(shares)) if list(shares.values()) == [100] else None
        self._write(
            (
                "UPDATE models SET traffic = CASE WHEN default_version = ? THEN NULL"
                " ELSE ? END WHERE name = ?",
                (whole, _json(shares) if shares else None, model),
            )
        )

    # What versions served ------------------------------------------------------

    def add_served(self, stack: str, rows: Sequence[tuple[str, str, float, Served]]) -> None:
        """Record (model, version, time, figures) rows of what versions served since the
        last rows; rows older than ``SERVED_KEPT_SECONDS`` go."""
        if not rows:
            return
        oldest = min(at for _, _, at, _ in rows) - SERVED_KEPT_SECONDS
        self._write(
            *(
                (
                    "INSERT INTO served VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (stack, model, version, at, f.requests, f.errors, _json(list(f.latency))),
                )
                for model, version, at, f in rows
            ),
            ("DELETE FROM served WHERE stack = ? AND time < ?", (stack, oldest)),
        )

    def served_since(self, model: str, version: str, since: float) -> Served:
        """What a version served since ``since``, added up."""
        if self._db is None or self.schema_version < _SERVED_SCHEMA:
            return Served()
        rows = self._db.execute(
            "SELECT requests, errors, latency FROM served"
            " WHERE model = ? AND version = ? AND time >= ?",
            (model, version, since),
        )
        return total([Served(r, e, tuple(_load(latency) or ())) for r, e, latency in rows])

    def served_series(
        self, model: str, version: str, since: float, step: float
    ) -> list[tuple[float, Served]]:
        """What a version served in each ``step`` seconds since ``since``, oldest first."""
        if self._db is None or self.schema_version < _SERVED_SCHEMA:
            return []
        rows = self._db.execute(
            "SELECT time, requests, errors, latency FROM served"
            " WHERE model = ? AND version = ? AND time >= ? ORDER BY time",
            (model, version, since),
        )
        slots: dict[int, Served] = {}
        for at, requests, errors, latency in rows:
            slot = int((at - since) // step)
            slots[slot] = slots.get(slot, Served()) + Served(
                requests, errors, tuple(_load(latency) or ())
            )
        return [(since + slot * step, figures) for slot, figures in sorted(slots.items())]

    # Locks --------------------------------------------------------------------

    def try_lock(self, stack: str, holder: str, pid: int, host: str) -> LockInfo | None:
        """Take the stack's lock; None when taken, else who holds it."""
        db = self._writer()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT * FROM locks WHERE stack = ?", (stack,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO locks VALUES (?, ?, ?, ?, ?)",
                    (stack, holder, pid, host, time.time()),
                )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return (
            None
            if row is None
            else LockInfo(row["holder"], row["pid"], row["host"], row["acquired"])
        )

    def unlock(self, stack: str, holder: str) -> bool:
        """Release (or break) the lock if ``holder`` holds it; whether it did."""
        db = self._writer()
        with _transaction(db):
            done = db.execute("DELETE FROM locks WHERE stack = ? AND holder = ?", (stack, holder))
        return done.rowcount > 0

    def lock_info(self, stack: str) -> LockInfo | None:
        if self._db is None:
            return None
        row = self._db.execute("SELECT * FROM locks WHERE stack = ?", (stack,)).fetchone()
        return (
            None
            if row is None
            else LockInfo(row["holder"], row["pid"], row["host"], row["acquired"])
        )

    # Reading ------------------------------------------------------------------

    def read(self, stack: str) -> LiveSnapshot:
        """Everything of one stack: one query per table."""
        if self._db is None:
            return LiveSnapshot(stack)
        db = self._db
        with _transaction(db):
            jobs = db.execute("SELECT * FROM jobs WHERE stack = ? ORDER BY name", (stack,))
            live_jobs = tuple(_job(row) for row in jobs.fetchall())
            models = db.execute("SELECT * FROM models WHERE stack = ? ORDER BY name", (stack,))
            live_models = tuple(_model(row) for row in models.fetchall())
            versions = db.execute(
                "SELECT * FROM versions WHERE stack = ? ORDER BY model, name", (stack,)
            )
            live_versions = tuple(_version(row) for row in versions.fetchall())
            packages = db.execute("SELECT * FROM packages WHERE stack = ? ORDER BY name", (stack,))
            live_packages = tuple(_package(row) for row in packages.fetchall())
            trials: dict[str, list[TrialRow]] = {}
            if self.schema_version >= _TRIALS_SCHEMA:
                found = db.execute(
                    "SELECT * FROM trials WHERE stack = ? ORDER BY CAST(trial AS INTEGER)",
                    (stack,),
                )
                for row in found.fetchall():
                    trials.setdefault(row["study"], []).append(_trial(row))
        if trials:
            live_jobs = tuple(
                dataclasses.replace(j, trials=tuple(t.live() for t in trials[j.name]))
                if j.name in trials
                else j
                for j in live_jobs
            )
        return LiveSnapshot(stack, live_jobs, live_models, live_versions, live_packages)

    def read_job(self, name: str) -> LiveJob | None:
        """One job by its live name, with its trials (what apply polls while it waits)."""
        if self._db is None:
            return None
        row = self._db.execute("SELECT * FROM jobs WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        job = _job(row)
        trials = self.trials_of(name) if self.schema_version >= _TRIALS_SCHEMA else []
        return dataclasses.replace(job, trials=tuple(t.live() for t in trials)) if trials else job

    def read_all_jobs(self) -> tuple[LiveJob, ...]:
        if self._db is None:
            return ()
        rows = self._db.execute("SELECT * FROM jobs ORDER BY name").fetchall()
        return tuple(_job(row) for row in rows)

    def job_runtime(self, name: str) -> Mapping[str, Any]:
        if self._db is None:
            return {}
        row = self._db.execute("SELECT * FROM jobs WHERE name = ?", (name,)).fetchone()
        return {c: row[c] for c in (*self._RUNTIME_COLUMNS, "state")} if row else {}


@contextmanager
def _transaction(db: sqlite3.Connection, begin: str = "BEGIN") -> Iterator[None]:
    db.execute(begin)
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _job(row: sqlite3.Row) -> LiveJob:
    return LiveJob(
        name=row["name"],
        labels=_load(row["labels"]),
        state=JobState(row["state"]),
        create_time=row["create_time"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        error=row["error"],
        spec=_lazy(row["spec"]),
        lost=bool(row["lost"]) if "lost" in row.keys() else False,  # noqa: SIM118 (a Row is not a dict)
        metrics=(_load(row["metrics"]) or {}) if "metrics" in row.keys() else {},  # noqa: SIM118
        best_trial=row["best_trial"] if "best_trial" in row.keys() else None,  # noqa: SIM118
    )


@dataclass(frozen=True)
class TrialRow:
    """A trial of a local study: a job of its own, recorded in ``trials``."""

    name: str
    """Its supervisor's name for it: ``<study job>-trial-<id>``."""
    study: str
    """The live name of the study's job (the attempt that now owns it)."""
    stack: str
    trial: str
    params: Mapping[str, Any]
    state: str = "QUEUED"
    job_dir: str | None = None
    """mlapply's folder of the trial (request, logs)."""
    pid: int | None = None
    start_time: float | None = None
    end_time: float | None = None
    error: str | None = None
    lost: bool = False
    metric: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    measurements: tuple[Measurement, ...] = ()
    create_time: float | None = None
    peak_rss_bytes: int | None = None
    mean_cpu: float | None = None

    def live(self) -> LiveTrial:
        return LiveTrial(
            id=self.trial,
            params=self.params,
            state=self.state,
            metric=self.metric,
            start_time=self.start_time,
            end_time=self.end_time,
            error=self.error,
            lost=self.lost,
        )


def _trial(row: sqlite3.Row) -> TrialRow:
    return TrialRow(
        name=row["name"],
        study=row["study"],
        stack=row["stack"],
        trial=row["trial"],
        params=_load(row["params"]),
        state=row["state"],
        job_dir=row["job_dir"],
        pid=row["pid"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        error=row["error"],
        lost=bool(row["lost"]),
        metric=row["metric"],
        metrics=_load(row["metrics"]) or {},
        measurements=tuple(Measurement(*m) for m in _load(row["measurements"]) or ()),
        create_time=row["create_time"],
        peak_rss_bytes=row["peak_rss_bytes"],
        mean_cpu=row["mean_cpu"],
    )


def _model(row: sqlite3.Row) -> LiveModel:
    return LiveModel(
        name=row["name"],
        labels=_load(row["labels"]),
        description=row["description"] or "",
        region=row["region"] or "",
        online_prediction_logging=bool(row["online_prediction_logging"]),
        default_version=row["default_version"],
        create_time=row["create_time"],
        # A Row's ``in`` looks at its values: its keys say whether the column exists yet.
        traffic=(_load(row["traffic"]) or {}) if "traffic" in row.keys() else {},  # noqa: SIM118
    )


def _version(row: sqlite3.Row) -> LiveVersion:
    return LiveVersion(
        name=row["name"],
        labels=_load(row["labels"]),
        model=row["model"],
        state=VersionState(row["state"]),
        description=row["description"] or "",
        deployment_uri=row["deployment_uri"],
        create_time=row["create_time"],
        error=row["error"],
        spec=_lazy(row["spec"]),
    )


def _package(row: sqlite3.Row) -> LivePackage:
    return LivePackage(
        name=row["name"],
        labels=_load(row["labels"]),
        digest=row["digest"],
        uri=row["uri"],
        create_time=row["create_time"],
    )
