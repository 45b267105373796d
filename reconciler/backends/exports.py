"""Finding the SavedModel a job exported, the same way on every backend.

Trainers export in many places: under the output flag's folder
(``OUTPUT/export/<exporter>/<timestamp>`` from an Estimator exporter), or
under the job dir only (``JOB_DIR/keras_export``). The search takes the
newest folder holding ``saved_model.pb`` under the output dir, else under the
job dir. A ModelVersion's ``exportPath`` is normalised and may be relative to
either, but never leaves the job dir. When nothing is found, the error lists
each folder searched and the settings that would fix it.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from reconciler.diagnostics import MlapplyError

Lister = Callable[[str], Sequence[tuple[str, Any]]]
"""A folder -> (each folder under it holding saved_model.pb, a key ordering them by age)."""


def saved_models(folder: str) -> list[tuple[str, int]]:
    """A :data:`Lister` of a folder on this machine: each directory under it holding
    saved_model.pb, with its write time."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return [
        (str(p.parent), os.stat(p).st_mtime_ns) for p in root.rglob("saved_model.pb") if p.is_file()
    ]


class NoExport(MlapplyError):
    """The job exported no SavedModel where mlapply looked."""


def folders(output_dir: str, job_dir: str, export_path: str | None) -> list[str]:
    """The folders to search, in order (``exportPath`` relative to each base first)."""
    bases = [output_dir.rstrip("/"), job_dir.rstrip("/")]
    if not export_path:
        return list(dict.fromkeys(bases))
    relative = posixpath.normpath(export_path.strip().strip("/") or ".")
    found = []
    for base in bases:
        candidate = posixpath.normpath(posixpath.join(base, relative))
        # normpath would fold gs://b into gs:/b; keep the scheme's two slashes.
        candidate = candidate.replace(":/", "://", 1) if "://" in base else candidate
        inside = candidate == bases[1] or candidate.startswith(bases[1] + "/")
        if inside and candidate not in found:
            found.append(candidate)
    return found


def find_export(
    job: str, output_dir: str, job_dir: str, export_path: str | None, lister: Lister
) -> str:
    """The newest SavedModel folder of ``job``; raises :class:`NoExport` naming where it looked."""
    searched = folders(output_dir, job_dir, export_path)
    for folder in searched:
        found = lister(folder)
        if found:
            return max(found, key=lambda item: (item[1], item[0]))[0]
    if export_path and not searched:
        raise NoExport(
            f"source.exportPath {export_path!r} leaves the folder of job {job}",
            f"give a path relative to its output dir ({output_dir}) or job dir ({job_dir})",
        )
    where = "\n".join(f"  {folder}" for folder in searched)
    raise NoExport(
        f"job {job} exported no SavedModel (no saved_model.pb) in:\n{where}",
        "export with tf.saved_model.save or model.export to the folder the Trainer's "
        "output flag (spec.flags.output) names, or point the ModelVersion's "
        "source.exportPath at the folder it writes (relative to the output dir or the job dir)",
    )
