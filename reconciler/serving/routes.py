"""The paths a model server answers and the errors it gives, in each client's dialect.

Shared by ``mlapply serve`` (:mod:`reconciler.serving.server`) and the ray
backend's Serve application, which runs on a cluster: the standard library only
(the ray backend ships this file with :mod:`reconciler.serving.signature`).

- ML Engine: ``/v1/projects/P/models/M[/versions/V][:predict]``; errors are Google
  API errors, ``{"error": {"code", "message", "status"}}``, which its client raises.
- TF Serving REST: ``/v1/models/M[/versions/V][:predict]``; errors are
  ``{"error": "message"}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

NAME = r"[A-Za-z0-9_.\-]+"


class Dialect(str, Enum):
    """Which clients' request shape a request came in: its path and its errors."""

    ML_ENGINE = "ml-engine"
    TF_SERVING = "tf-serving"


ROUTES = [
    (
        Dialect.ML_ENGINE,
        re.compile(rf"/v1/projects/({NAME})/models/({NAME})(?:/versions/({NAME}))?"),
    ),
    (Dialect.TF_SERVING, re.compile(rf"/v1/models/({NAME})(?:/versions/({NAME}))?")),
]
STATUS_TEXT = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    408: "DEADLINE_EXCEEDED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class HttpError(Exception):
    def __init__(
        self, status: int, message: str, *, close: bool = False, model_failed: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close  # the connection cannot carry another request
        self.model_failed = model_failed  # the version's model raised (not the request)
        self.version: str | None = None  # the version that failed it, once known


@dataclass(frozen=True)
class Route:
    dialect: Dialect
    project: str | None
    model: str
    version: str | None
    verb: str | None  # "predict", or None for a GET of the resource


def json_body(content_type: str | None) -> None:
    """Refuse a prediction body not sent as ``application/json`` (415): a web page can
    post a form or ``text/plain`` to this machine without the browser asking the
    server first (a CORS "simple request", fetch.spec.whatwg.org, CORS-safelisted
    request-header, checked 2026-12-06), but never JSON. The clients send JSON as JSON:
    Google's discovery-based client and TF Serving's REST examples alike."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        raise HttpError(
            415,
            f"a prediction body is JSON sent as Content-Type: application/json, not "
            f"{media or 'no Content-Type'} (curl: -H 'Content-Type: application/json')",
        )


def dialect_of(path: str) -> Dialect:
    """The dialect to answer in before the path is known to be valid."""
    return Dialect.TF_SERVING if path.startswith("/v1/models") else Dialect.ML_ENGINE


def parse(path: str) -> Route:
    verb = None
    if ":" in path:
        path, verb = path.rsplit(":", 1)
        if verb != "predict":
            raise HttpError(404, f"unknown method :{verb}; this server answers :predict")
    for dialect, pattern in ROUTES:
        match = pattern.fullmatch(path)
        if match:
            groups = match.groups()
            if dialect is Dialect.ML_ENGINE:
                return Route(dialect, groups[0], groups[1], groups[2], verb)
            return Route(dialect, None, groups[0], groups[1], verb)
    raise HttpError(
        404,
        f"no such path: {path}; this server answers /v1/projects/P/models/M[/versions/V]:predict "
        "and /v1/models/M[/versions/V]:predict",
    )


def error_body(dialect: Dialect, status: int, message: str) -> dict[str, Any]:
    if dialect is Dialect.TF_SERVING:
        return {"error": message}
    code = STATUS_TEXT.get(status, "UNKNOWN")
    return {"error": {"code": status, "message": message, "status": code}}
