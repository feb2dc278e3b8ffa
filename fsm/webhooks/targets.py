"""Which URLs a webhook may be sent to.

A webhook must not become a way into our own network: a target whose host resolves to a
private, loopback, link-local, shared (CGNAT), multicast, reserved or unspecified address
(IPv4 or IPv6, IPv4-mapped included) is refused, and only HTTPS is accepted. The
`FSM_WEBHOOK_ALLOW_PRIVATE_TARGETS` setting (development: a receiver on this machine) lifts
both. The check runs when an endpoint is registered and again before every attempt, since
DNS may change in between; redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

__all__ = ["TargetRefused", "check_target", "is_public_address"]


class TargetRefused(ValueError):
    """The URL may not receive webhooks; the message says why."""


def is_public_address(address: str) -> bool:
    """The address is on the public internet (not ours, not special-purpose)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse a URL that is not HTTPS or whose host has a non-public address.

    Raises:
        TargetRefused: naming the reason.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused("must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise TargetRefused("must not carry credentials")
    if allow_private:
        return
    if parts.scheme != "https":
        raise TargetRefused("must use https")
    try:
        port = parts.port or 443
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except (OSError, ValueError) as exc:
        raise TargetRefused(f"host {parts.hostname} does not resolve") from exc
    for *_, sockaddr in infos:
        if not is_public_address(str(sockaddr[0])):
            raise TargetRefused(f"host {parts.hostname} has a private or reserved address")
