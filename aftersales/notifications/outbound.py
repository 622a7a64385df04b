"""The one HTTP client notifications call out with: a timeout, no redirects, no private hosts.

An SMS gateway or robot webhook is a URL an administrator typed; without the address check it
would let them make the server call its own network (SSRF). Loopback and private addresses are
allowed only with ``NOTIFICATIONS_ALLOW_PRIVATE_HOSTS`` (tests, on-premises gateways).
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aftersales.notifications import conf

TIMEOUT_SECONDS = 15


class OutboundError(Exception):
    """The call failed or was refused (``response_code`` when the server answered)."""

    def __init__(self, message: str, *, response_code: int | None = None) -> None:
        super().__init__(message)
        self.response_code = response_code


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def check_url(url: str) -> None:
    """Refuse anything but http(s) to a public address (unless private hosts are allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundError("Only http and https URLs with a host are allowed.")
    if conf.allow_private_hosts():
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as error:
        raise OutboundError(f"Cannot resolve {parts.hostname}: {error}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise OutboundError(f"{parts.hostname} resolves to a non-public address.")


def request(
    url: str, *, method: str = "POST", body: bytes | None = None, headers: dict[str, str]
) -> Response:
    """Send one request; a 4xx/5xx answer or a network error raises :class:`OutboundError`."""
    check_url(url)
    call = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    try:
        with _OPENER.open(call, timeout=TIMEOUT_SECONDS) as answer:
            return Response(status=answer.status, body=answer.read(65536))
    except urllib.error.HTTPError as error:
        raise OutboundError(
            f"HTTP {error.code}: {error.read(2000).decode('utf-8', errors='replace')}",
            response_code=error.code,
        ) from None
    except (urllib.error.URLError, OSError) as error:
        raise OutboundError(f"{type(error).__name__}: {error}") from None
