"""Google API errors, translated once into mlapply's.

``googleapiclient.errors.HttpError`` carries the status and the API's own
message; callers see :class:`GoogleApiError` (or a subclass by status) whose
text names the call, the resource and what to do.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlsplit

from reconciler.diagnostics import MlapplyError

# Retried with backoff: 408, 429 and 5xx, the list of Cloud Storage's retry strategy
# (cloud.google.com/storage/docs/retry-strategy, checked 2026-12-01), applied to every
# Google call here; and 409 when its status is ABORTED (below).
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


class GoogleApiError(MlapplyError):
    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class NotFound(GoogleApiError):
    pass


class AlreadyExists(GoogleApiError):
    pass


class PermissionDenied(GoogleApiError):
    pass


class PreconditionFailed(GoogleApiError):
    pass


class Aborted(GoogleApiError):
    """409 with status ABORTED: a concurrent change to the resource stopped the call
    before it took effect. Google's error model gives 409 to ALREADY_EXISTS and to
    ABORTED ("concurrency conflict, such as read-modify-write conflict";
    cloud.google.com/apis/design/errors, checked 2026-12-07); only the body's
    ``error.status`` tells them apart. Nothing happened: the call may be made again."""


def api_status(content: bytes | str | None) -> str:
    """The ``error.status`` of a Google error body (ALREADY_EXISTS, ABORTED ...), or ""."""
    text = content.decode(errors="replace") if isinstance(content, bytes) else (content or "")
    try:
        body: Any = json.loads(text)
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("status", "")) if isinstance(error, dict) else ""


def retryable(status: int, content: bytes | str | None) -> bool:
    return status in RETRYABLE or (status == 409 and api_status(content) == "ABORTED")


def api_message(content: bytes | str | None) -> str:
    """The ``error.message`` of a Google error body, or the body's first line."""
    text = content.decode(errors="replace") if isinstance(content, bytes) else (content or "")
    try:
        body: Any = json.loads(text)
    except ValueError:
        return text.strip().splitlines()[0] if text.strip() else ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", "")).strip()
    return str(error or text).strip()


VERTEX_ROLES = (
    "check that the credentials' account has the Vertex AI User and Storage Object "
    "Admin roles on the project and the staging bucket (and Monitoring Viewer for a "
    "rollout's gates)"
)


def translate(
    status: int,
    content: bytes | str | None,
    what: str,
    resource: str = "",
    roles: str = VERTEX_ROLES,
) -> GoogleApiError:
    """One error for a failed call; ``what`` says what was asked, ``resource`` where,
    ``roles`` what to grant when permission is denied (the product's roles)."""
    message = api_message(content)
    detail = f": {message}" if message else ""
    if status == 404:
        return NotFound(status, f"not found: {what}{detail}")
    if status == 409 and api_status(content) == "ABORTED":
        return Aborted(
            status,
            f"a concurrent change to the resource aborted {what}{detail}",
            "something else changed it at the same time; apply again",
        )
    if status == 409:
        return AlreadyExists(status, f"already exists: {what}{detail}")
    if status == 412:
        return PreconditionFailed(status, f"precondition failed: {what}{detail}")
    if status in (401, 403):
        where = f" on {resource}" if resource else ""
        return PermissionDenied(status, f"permission denied: {what}{where}{detail}", roles)
    if status == 400:
        return GoogleApiError(status, f"the API refused {what}{detail}")
    return GoogleApiError(status, f"{what} failed with HTTP {status}{detail}")


def resource_of(uri: str) -> str:
    """The resource a request URI addresses: its path after the API version, without
    the custom verb and the query (``projects/p/locations/l/customJobs``)."""
    path = urlsplit(uri).path
    for marker in ("/v1/", "/storage/v1/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return unquote(path.split(":", 1)[0])
