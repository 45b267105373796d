"""Cloud Storage through the JSON API: objects in one bucket.

Uploads are conditional where it matters (``ifGenerationMatch=0``: create
only), listings are paginated, and missing objects read as None.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reconciler.backends.google.client import Caller, upload_media
from reconciler.backends.google.errors import NotFound
from reconciler.diagnostics import MlapplyError

REWRITE_CALLS = 1000
"""Bounds one object's copy: each call copies at least Google's 1 MiB step, most far more."""


def split_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/some/name`` -> (bucket, "some/name")."""
    rest = uri.removeprefix("gs://")
    bucket, _, name = rest.partition("/")
    return bucket, name


def md5_base64(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


class Bucket:
    def __init__(self, caller: Caller, service: Any, name: str) -> None:
        self.caller = caller
        self.service = service
        self.name = name

    def uri(self, name: str) -> str:
        return f"gs://{self.name}/{name}"

    def get(self, name: str) -> dict[str, Any] | None:
        request = self.service.objects().get(bucket=self.name, object=name)
        try:
            found: dict[str, Any] = self.caller.execute(request, f"get {self.uri(name)}")
        except NotFound:
            return None
        return found

    def read(self, name: str, generation: int | None = None) -> bytes | None:
        """The object's content (that generation's, if given), or None if absent."""
        extra = {} if generation is None else {"generation": str(generation)}
        request = self.service.objects().get_media(bucket=self.name, object=name, **extra)
        try:
            data: bytes = self.caller.execute(request, f"read {self.uri(name)}")
        except NotFound:
            return None
        return data

    def upload(
        self,
        name: str,
        *,
        path: Path | None = None,
        data: bytes | None = None,
        if_generation_match: int | None = None,
    ) -> dict[str, Any]:
        """Write an object; ``if_generation_match=0`` creates it only if absent (else 412)."""
        extra = (
            {} if if_generation_match is None else {"ifGenerationMatch": str(if_generation_match)}
        )
        request = self.service.objects().insert(
            bucket=self.name, name=name, media_body=upload_media(path, data), **extra
        )
        created: dict[str, Any] = self.caller.execute(request, f"upload {self.uri(name)}")
        return created

    def upload_once(self, name: str, path: Path) -> str:
        """Upload unless an object with the same MD5 is there; returns its gs:// URI."""
        present = self.get(name)
        if present is None or present.get("md5Hash") != md5_base64(path):
            self.upload(name, path=path)
        return self.uri(name)

    def copy_in(self, source: dict[str, Any], name: str) -> None:
        """A server-side copy of ``source`` (an object as listed, of any bucket) to
        ``name`` here.

        ``objects.rewrite`` (storage v1 discovery document, revision 20261009): a call
        may copy part of a large object and answer a ``rewriteToken`` to send again.
        """
        token: str | None = None
        for _ in range(REWRITE_CALLS):
            extra = {"rewriteToken": token} if token else {}
            request = self.service.objects().rewrite(
                sourceBucket=source["bucket"],
                sourceObject=source["name"],
                destinationBucket=self.name,
                destinationObject=name,
                body={},
                **extra,
            )
            answer = self.caller.execute(request, f"copy gs://{source['bucket']}/{source['name']}")
            if answer.get("done"):
                return
            token = answer.get("rewriteToken")
        raise MlapplyError(
            f"copying gs://{source['bucket']}/{source['name']} to {self.uri(name)} did not "
            f"finish in {REWRITE_CALLS} calls",
            "apply again: the copy goes on from the objects already copied",
        )

    def list(self, prefix: str) -> Iterator[dict[str, Any]]:
        """Every object under ``prefix``, one page (up to 1000) per call."""
        token: str | None = None
        while True:
            request = self.service.objects().list(
                bucket=self.name, prefix=prefix, pageToken=token, maxResults=1000
            )
            page = self.caller.execute(request, f"list {self.uri(prefix)}")
            yield from page.get("items", [])
            token = page.get("nextPageToken")
            if not token:
                return

    def delete(self, name: str, generation: str | None = None) -> bool:
        extra = {} if generation is None else {"ifGenerationMatch": generation}
        request = self.service.objects().delete(bucket=self.name, object=name, **extra)
        try:
            self.caller.execute(request, f"delete {self.uri(name)}")
        except NotFound:
            return False
        return True


def remote_lister(
    caller: Caller, service: Callable[[], Any]
) -> Callable[[str], dict[str, tuple[int, str]]]:
    """gs:// data fingerprinted from object metadata: one paginated list per prefix
    (the pattern up to its first wildcard), then matched locally. Each file is
    (size, checksum@generation)."""
    listed: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def files(pattern: str) -> dict[str, tuple[int, str]]:
        bucket, name = split_uri(pattern)
        prefix = re.split(r"[*?\[]", name, maxsplit=1)[0]
        key = (bucket, prefix)
        if key not in listed:
            listed[key] = list(Bucket(caller, service(), bucket).list(prefix))
        folder = name.rstrip("/") + "/"
        found = {}
        for item in listed[key]:
            if fnmatch.fnmatchcase(item["name"], name) or item["name"].startswith(folder):
                checksum = item.get("md5Hash") or item.get("crc32c") or ""
                found[f"gs://{bucket}/{item['name']}"] = (
                    int(item.get("size", 0)),
                    f"{checksum}@{item.get('generation', '')}",
                )
        return found

    return files
