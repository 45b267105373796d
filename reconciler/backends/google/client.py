"""Credentials, clients and calls with retries.

Credentials are Application Default Credentials (a service account key in
GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`,
or the metadata server's workload identity). Clients are built from the
discovery documents shipped in google-api-python-client (no discovery
fetch). ``MLAPPLY_<API>_ENDPOINT`` (``MLAPPLY_AIPLATFORM_ENDPOINT``,
``MLAPPLY_STORAGE_ENDPOINT``, ``MLAPPLY_ML_ENDPOINT``) points an API at
another root, such as an emulator, and ``MLAPPLY_GCP_ANONYMOUS=1`` sends no
credentials (for emulators only).

Every call goes through :meth:`Caller.execute`: 429 and 5xx answers and
dropped connections are retried with exponential backoff and full jitter;
other errors become :mod:`reconciler.backends.google.errors`.
"""

from __future__ import annotations

import json
import os
import random
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.backends.google.errors import (
    VERTEX_ROLES,
    GoogleApiError,
    resource_of,
    retryable,
    translate,
)
from reconciler.diagnostics import MlapplyError

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def endpoint_override(api: str) -> str | None:
    value = os.environ.get(f"MLAPPLY_{api.upper()}_ENDPOINT")
    return value.rstrip("/") + "/" if value else None


def credentials() -> Any:
    if os.environ.get("MLAPPLY_GCP_ANONYMOUS") == "1":
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        found, _ = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError as exc:
        raise MlapplyError(
            "no Google credentials found",
            "run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS "
            "to a service account key file, or run where workload identity provides them",
        ) from exc
    return found


def build_service(api: str, version: str, creds: Any, root: str | None = None) -> Any:
    """A discovery client from the shipped document; ``root`` replaces its rootUrl.

    Replacing rootUrl in the document (rather than client_options) keeps media
    upload URLs on the same scheme and host as the other calls.
    """
    from googleapiclient import discovery
    from googleapiclient.discovery_cache import get_static_doc

    root = endpoint_override(api) or root
    document = get_static_doc(api, version)
    if document is None:
        raise MlapplyError(f"google-api-python-client has no {api} {version} document")
    if root is None:
        return discovery.build_from_document(document, credentials=creds)
    loaded = json.loads(document)
    loaded["rootUrl"] = root
    loaded["mtlsRootUrl"] = root
    loaded["baseUrl"] = root + loaded.get("servicePath", "")
    return discovery.build_from_document(loaded, credentials=creds)


class Caller:
    """Runs requests with retries; counts calls per method (for the plan's cost).
    ``roles`` is the hint a permission error gives: the product's roles to grant."""

    def __init__(
        self, attempts: int = 7, base_delay: float | None = None, roles: str = VERTEX_ROLES
    ) -> None:
        self.attempts = attempts
        self.roles = roles
        env = os.environ.get("MLAPPLY_GCP_RETRY_BASE_SECONDS")
        self.base_delay = base_delay if base_delay is not None else float(env or 1.0)
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self.sleep: Callable[[float], None] = time.sleep

    def execute(self, request: Any, what: str, *, retry: bool = True) -> Any:
        """Execute ``request``; ``retry=False`` for calls that must not repeat blindly."""
        import httplib2
        from googleapiclient.errors import HttpError

        method = getattr(request, "methodId", None) or "request"
        for attempt in range(self.attempts):
            with self._lock:
                self.calls[method] = self.calls.get(method, 0) + 1
            try:
                return request.execute(num_retries=0)
            except HttpError as exc:
                status = int(exc.resp.status)
                if not retry or not retryable(status, exc.content) or attempt == self.attempts - 1:
                    resource = resource_of(str(getattr(request, "uri", "")))
                    raise translate(status, exc.content, what, resource, self.roles) from exc
            except (OSError, ssl.SSLError, httplib2.HttpLib2Error) as exc:  # dropped connections
                if not retry or attempt == self.attempts - 1:
                    raise GoogleApiError(0, f"{what} failed: {exc}") from exc
            self.sleep(random.uniform(0, self.base_delay * 2**attempt))  # noqa: S311
        raise AssertionError("unreachable")


RESUMABLE_ABOVE = 8 * 2**20  # bytes; bigger files go in resumable chunks of this size


def upload_media(path: Path | None = None, data: bytes | None = None) -> Any:
    """The media of an upload: files over 8 MiB are sent in resumable 8 MiB chunks,
    so a large dataset is never read into memory whole."""
    from googleapiclient.http import MediaFileUpload, MediaInMemoryUpload

    if path is not None:
        big = path.stat().st_size > RESUMABLE_ABOVE
        return MediaFileUpload(
            str(path),
            mimetype="application/octet-stream",
            resumable=big,
            chunksize=RESUMABLE_ABOVE if big else -1,
        )
    return MediaInMemoryUpload(data or b"", mimetype="application/octet-stream", resumable=False)
