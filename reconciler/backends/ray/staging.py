"""What the Ray driver puts where: each job's working directory (uploaded by Ray's
SDK as the job's runtime environment), the stack's folder in the shared storage
(staged data, job folders, labels given after submission), and its purge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from reconciler.backends.compiled import CompiledJob, Inputs
from reconciler.diagnostics import MlapplyError
from reconciler.identity.content import trainer_fingerprint
from reconciler.identity.hashcache import HashCache, hash_file
from reconciler.tuning.study import tuning_record

LAUNCHER = "mlapply_ray_launcher.py"
STUDY = "mlapply_ray_study.py"
JOB_DIR_MARK = "\0job-dir\0"
TRIAL_MARK = "\0trial\0"
"""Stand for a trial's job dir and id in a study's argv and templates (no path holds NUL)."""
REPO = Path(__file__).resolve().parents[3]
STUDY_IMPORTS = (
    "reconciler/__init__.py",
    "reconciler/diagnostics.py",
    "reconciler/stack/resources.py",
    "reconciler/tuning/__init__.py",
    "reconciler/tuning/grid.py",
    "reconciler/tuning/hypertune.py",
    "reconciler/tuning/search.py",
    "reconciler/tuning/study.py",
)
"""What study.py imports, shipped beside it (``reconciler/stack/__init__.py`` as an
empty file: the real one imports the whole manifest layer)."""
LAUNCHER_IMPORTS = ("reconciler/__init__.py", "reconciler/backends/telemetry.py")
"""What the launcher imports to sample its tasks' CPU and memory, shipped with every job
(``reconciler/backends/__init__.py`` as an empty file, as above)."""
EMPTY_PACKAGES = ("reconciler/stack/__init__.py", "reconciler/backends/__init__.py")
TASK = "{task}"
"""``launcher.TASK_MARK``: a replica's task (``chief-0``) in the files it writes."""
CHIEF = "chief-0"


def metric_file(job_dir: str) -> str:
    """Where a job's (or trial's) task writes its cloudml-hypertune reports."""
    return f"{job_dir}/hypertune/{TASK}.metrics"


def usage_file(job_dir: str) -> str:
    """Where the launcher writes a task's CPU and memory series (telemetry.py)."""
    return f"{job_dir}/usage/{TASK}.json"


def stack_folder(storage: Path, stack: str) -> Path:
    return storage / "mlapply" / stack


def job_dir(storage: Path, stack: str, job: str) -> Path:
    return stack_folder(storage, stack) / "jobs" / job


def data(storage: Path, stack: str, inputs: Inputs, pattern: str) -> str:
    """A dataset pattern as the job reads it: the files it matches, copied once by
    content into the storage (comma-separated paths)."""
    files = sorted(p for p in inputs.base_dir.glob(pattern) if p.is_file())
    if not files:
        raise MlapplyError(f"dataset {inputs.dataset}: {pattern} matches no files")
    staged = []
    for path in files:
        target = stack_folder(storage, stack) / "data" / hash_file(str(path))[:16] / path.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(target.suffix + ".partial")
            shutil.copyfile(path, partial)
            partial.replace(target)
        staged.append(str(target))
    return ",".join(staged)


def working_dir(
    home: Path,
    name: str,
    job: CompiledJob,
    argv: list[str],
    cpus: float,
    job_dir: str,
    study: dict[str, Any] | None = None,
) -> Path:
    """The job's working directory: the launcher and what it imports, ``job.json`` and,
    in ``package/``, the trainer's files its identity hashed (what its sdist would hold)."""
    if job.source is None:
        raise MlapplyError(
            f"job {job.name}: the ray backend runs a trainer from its source folder",
            "give the Trainer spec.source (packageUris are not fetched onto the cluster yet)",
        )
    work = home / "ray" / "submit" / name
    shutil.rmtree(work, ignore_errors=True)
    package = work / "package"
    files = trainer_fingerprint(job.source, HashCache(None), job.source_excluded)
    for relative in files.files:
        target = package / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(job.source / relative, target)
    shutil.copyfile(Path(__file__).with_name("launcher.py"), work / LAUNCHER)
    shipped: tuple[str, ...] = LAUNCHER_IMPORTS
    if study is not None:
        shutil.copyfile(Path(__file__).with_name("study.py"), work / STUDY)
        shipped += STUDY_IMPORTS
    for relative in shipped:
        (work / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / relative, work / relative)
    for relative in EMPTY_PACKAGES:
        (work / relative).parent.mkdir(parents=True, exist_ok=True)
        (work / relative).write_text("", encoding="utf-8")
    spec: dict[str, Any] = {
        "job": name,
        "module": job.module,
        "argv": argv,
        "env": dict(job.env),
        "runtime_version": job.runtime_version,
        "metric_file": metric_file(job_dir),
        "usage_file": usage_file(job_dir),
        "roles": [
            {"type": pool.role.tf_config, "replicas": pool.replicas, "cpus": cpus}
            for pool in job.pools
        ],
    }
    if study is not None:
        spec["study"] = study
    (work / "job.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return work


def study_request(job: CompiledJob, job_dir: str, seed: int) -> dict[str, Any]:
    """What study.py needs beside the job's spec: the tuning spec, how many trials at
    once, the search's seed, and where each trial writes (templates)."""
    assert job.tuning is not None
    trial_dir = job.layout.trial_dir(job_dir, TRIAL_MARK)
    return {
        "tuning": tuning_record(job.tuning),
        "parallel": job.tuning.max_parallel_trials,
        "seed": seed,
        "job_dir": job_dir,
        "job_dir_mark": JOB_DIR_MARK,
        "trial_mark": TRIAL_MARK,
        "trial_job_dir": trial_dir,
        "trial_output_dir": job.layout.output_dir(trial_dir),
        "trial_metric_file": metric_file(trial_dir),
        "trial_usage_file": usage_file(trial_dir),
    }


def _labels_file(storage: Path, stack: str, job: str) -> Path:
    return stack_folder(storage, stack) / "labels" / f"{job}.json"


def relabel(storage: Path, stack: str, job: str, labels: dict[str, str], spec: Any) -> None:
    path = _labels_file(storage, stack, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"labels": labels, "spec": spec}), encoding="utf-8")
    partial.replace(path)


def relabelled(storage: Path, stack: str, job: str) -> tuple[dict[str, str], Any] | None:
    try:
        found = json.loads(_labels_file(storage, stack, job).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return dict(found["labels"]), found.get("spec")


def purge(storage: Path, stack: str) -> int:
    """Remove the stack's folder in the storage; 1 if there was one."""
    folder = stack_folder(storage, stack)
    if not folder.exists():
        return 0
    shutil.rmtree(folder)
    return 1
