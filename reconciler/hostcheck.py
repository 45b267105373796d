"""Which ``Host`` headers mlapply's servers answer: the defence against DNS rebinding.

A web page a user visits can rebind a name it controls to 127.0.0.1; the browser
then sends that page's requests to a server on this machine as the page's own
origin, able to read the answers (jobs, logs, plans, predictions). Such a
request's ``Host`` header carries the page's name. So ``console`` and ``serve``
answer only a Host that is an IP address (no name, nothing to rebind),
``localhost``, the name they listen on, or a name given with ``--allow-host`` (a
proxy's, or ``*`` for any); any other gets 403 naming the option. It is the rule
Jupyter Server keeps (``ServerApp.allow_remote_access`` and ``local_hostnames``:
"requests get a 403 forbidden response if the 'Host' header shows that the browser
thinks it's on a non-local domain", jupyter-server's configuration, checked
2026-12-06).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ANY = "*"
LOCAL_NAMES = frozenset({"localhost"})


def host_name(header: str) -> str:
    """The name or address of a Host header, without its port or IPv6 brackets."""
    text = header.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    return text.rpartition(":")[0] if text.count(":") == 1 else text


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Hosts:
    """The Host names a server answers, beside IP addresses and ``localhost``."""

    def __init__(self, listen: str, allowed: Iterable[str] = ()) -> None:
        self.names = {host_name(name) for name in allowed} | LOCAL_NAMES | {host_name(listen)}
        self.any = ANY in self.names

    def answers(self, header: str | None) -> bool:
        if self.any:
            return True
        if not header:
            return False  # HTTP/1.1 requires one; a browser always sends it
        name = host_name(header).rstrip(".")
        return name in self.names or _is_address(name)

    def refusal(self, header: str | None) -> str:
        return (
            f"this server does not answer for host {header!r}: open it by address or as "
            "localhost, or start it with --allow-host NAME (a proxy's name, or '*' for any)"
        )

    def middleware(
        self, answer: Callable[[web.Request, int, str], web.StreamResponse]
    ) -> Middleware:
        """An aiohttp middleware refusing other hosts with ``answer(request, 403, why)``."""

        @web.middleware
        async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
            header = request.headers.get("Host")
            if not self.answers(header):
                return answer(request, 403, self.refusal(header))
            return await handler(request)

        return check
