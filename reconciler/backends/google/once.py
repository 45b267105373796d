"""Calls that must not take effect twice (a job create, a model upload, a deploy).

When such a call's answer is lost (429, 5xx, a dropped connection), the call
may or may not have taken effect, so before sending it again the caller
looks whether it did (``done``): a create that went through is never sent a
second time, however the answer went missing.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from reconciler.backends.google.client import Caller
from reconciler.backends.google.errors import RETRYABLE, Aborted, GoogleApiError
from reconciler.diagnostics import MlapplyError


def at_most_once(
    caller: Caller, what: str, act: Callable[[], object], done: Callable[[], bool]
) -> None:
    for attempt in range(caller.attempts):
        if attempt:
            caller.sleep(random.uniform(0, caller.base_delay * 2**attempt))  # noqa: S311
            if done():
                return
        try:
            act()
            return
        except GoogleApiError as exc:
            # Lost answers, and calls a concurrent change aborted before they took effect.
            lost = exc.status in RETRYABLE or exc.status == 0 or isinstance(exc, Aborted)
            if not lost or attempt == caller.attempts - 1:
                raise
    raise MlapplyError(f"{what}: no answer after {caller.attempts} attempts")
