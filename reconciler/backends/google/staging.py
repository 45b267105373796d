"""Staging in the bucket: packages, dataset files, SavedModels, a stack's objects.

Everything of a stack lives under ``<bucket path>/mlapply/<stack>/``:
``packages/`` (sdists by content digest, uploaded once), ``data/<sha16>/``
(local dataset files, content-addressed), ``jobs/<name>/`` (job dirs),
``models/<model>/<version>/`` (uploaded SavedModels), the records and the lock.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from reconciler.backends.base import LivePackage
from reconciler.backends.compiled import CompiledJob, Inputs
from reconciler.backends.google.lock import break_lock, bucket_lock
from reconciler.backends.google.storage import Bucket, split_uri
from reconciler.backends.google.times import seconds
from reconciler.backends.packaging import build_sdist
from reconciler.diagnostics import MlapplyError
from reconciler.identity.hashcache import hash_file
from reconciler.stack.resources import LABEL_STACK

LOCK = "lock"


class Staging:
    def __init__(self, bucket: Callable[[], Bucket], staging_uri: str, home: Path) -> None:
        self._bucket = bucket
        name, base = split_uri(staging_uri)
        self.bucket_name = name
        self.base = f"{base.strip('/')}/mlapply/".lstrip("/")
        self.home = home

    def prefix(self, stack: str) -> str:
        """The object-name prefix of everything of ``stack``."""
        return f"{self.base}{stack}/"

    def lock_name(self, stack: str) -> str:
        return self.prefix(stack) + LOCK

    def lock(
        self, stack: str, timeout: float, note: Callable[[str], None]
    ) -> AbstractContextManager[str]:
        """The stack's apply lock: an object in the bucket (google/lock.py)."""
        return bucket_lock(self._bucket(), self.lock_name(stack), stack, timeout, note)

    def unlock(self, stack: str, lock_id: str) -> str:
        return break_lock(self._bucket(), self.lock_name(stack), stack, lock_id)

    def packages(self, stack: str) -> tuple[LivePackage, ...]:
        """The stack's staged packages (``<name>-<digest>.tar.gz``)."""
        bucket = self._bucket()
        return tuple(
            LivePackage(
                item["name"].rsplit("/", 1)[1],
                {LABEL_STACK: stack},
                item["name"].rsplit("-", 1)[-1].removesuffix(".tar.gz"),
                bucket.uri(item["name"]),
                seconds(item.get("timeCreated")),
            )
            for item in bucket.list(self.prefix(stack) + "packages/")
        )

    def saved_models(self, folder: str) -> list[tuple[str, str]]:
        """Folders under ``folder`` (an object prefix) holding saved_model.pb, with
        when each was written (exports.Lister)."""
        return [
            (item["name"].rsplit("/", 1)[0], item.get("updated", ""))
            for item in self._bucket().list(folder + "/")
            if item["name"].endswith("/saved_model.pb")
        ]

    def job_dir(self, stack: str, job: str) -> str:
        return f"gs://{self.bucket_name}/{self.prefix(stack)}jobs/{job}"

    def package_uris(self, stack: str, job: CompiledJob) -> list[str]:
        """The job's package on gs://: its source built into an sdist (uploaded once
        per digest), or its packageUris with local files uploaded."""
        bucket = self._bucket()
        if job.source is not None:
            staged = build_sdist(
                job.source, job.trainer, self.home / "packages", excluded=job.source_excluded
            )
            name = f"{self.prefix(stack)}packages/{staged.path.name}"
            if bucket.get(name) is None:
                bucket.upload(name, path=staged.path)
            return [bucket.uri(name)]
        uris = []
        for uri in job.package_uris:
            if uri.startswith("gs://"):
                uris.append(uri)
            else:
                path = Path(uri)
                uris.append(bucket.upload_once(f"{self.prefix(stack)}packages/{path.name}", path))
        return uris

    def data(self, stack: str, inputs: Inputs, pattern: str) -> str:
        """A dataset pattern as the job reads it: gs:// as written, local files
        uploaded once by content (comma-separated URIs)."""
        if pattern.startswith("gs://"):
            return pattern
        files = sorted(p for p in inputs.base_dir.glob(pattern) if p.is_file())
        if not files:
            raise MlapplyError(f"dataset {inputs.dataset}: {pattern} matches no files")
        bucket = self._bucket()
        return ",".join(
            bucket.upload_once(
                f"{self.prefix(stack)}data/{hash_file(str(path))[:16]}/{path.name}", path
            )
            for path in files
        )

    def saved_model(
        self, stack: str, model: str, version: str, export: str, folder: str | None = None
    ) -> str:
        """The SavedModel at ``export`` in ``models/<model>/<version>/``, or in its
        ``folder`` for a server that loads numbered folders (vertex/servers.py); the URI of
        ``models/<model>/<version>``. A folder here is uploaded, objects in gs:// are
        copied by Cloud Storage itself; each file only when not there already."""
        bucket = self._bucket()
        prefix = f"{self.prefix(stack)}models/{model}/{version}"
        into = f"{prefix}/{folder}/" if folder else f"{prefix}/"
        if not export.startswith("gs://"):
            here = Path(export)
            if not (here / "saved_model.pb").is_file():
                raise MlapplyError(f"no SavedModel under {here}")
            for path in sorted(p for p in here.rglob("*") if p.is_file()):
                bucket.upload_once(f"{into}{path.relative_to(here).as_posix()}", path)
            return bucket.uri(prefix)
        source_bucket, source = split_uri(export.rstrip("/") + "/")
        objects = list(Bucket(bucket.caller, bucket.service, source_bucket).list(source))
        if not any(o["name"] == source + "saved_model.pb" for o in objects):
            raise MlapplyError(f"no saved_model.pb in {export}")
        present = {o["name"]: o.get("crc32c") for o in bucket.list(into)}  # one listing
        for item in objects:
            name = f"{into}{item['name'][len(source) :]}"
            # Every object has a CRC32C (composite ones have no MD5).
            if item.get("crc32c") is None or present.get(name) != item["crc32c"]:
                bucket.copy_in(item, name)
        return bucket.uri(prefix)

    def purge(self, stack: str) -> int:
        """Delete the stack's objects but its lock; how many were deleted."""
        bucket = self._bucket()
        lock = self.lock_name(stack)
        return sum(
            bucket.delete(item["name"])
            for item in list(bucket.list(self.prefix(stack)))
            if item["name"] != lock
        )
