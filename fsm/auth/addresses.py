"""The address a request came from, believing X-Forwarded-For only from our own proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from fsm.settings import Network

# Longer than any address; a hop longer than this is junk and is cut to keep keys short.
_MAX_HOP_CHARS = 64


def _is_trusted(hop: str, trusted: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(hop)
    except ValueError:
        return False
    return any(address in network for network in trusted)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], *, trusted: Sequence[Network]
) -> str | None:
    """The right-most hop that is not one of our proxies.

    Only a trusted peer's X-Forwarded-For is read: anyone else may write anything there.
    Each trusted proxy appends the address it saw, so reading from the right, the first
    hop that is not a trusted proxy is the client; the hops left of it are the client's word.

    Args:
        peer: the address of the TCP connection.
        forwarded_for: every X-Forwarded-For header, in order.
        trusted: the proxies (addresses or blocks) the operator named.
    """
    if peer is None or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    hops = [hop for hop in hops if hop]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop[:_MAX_HOP_CHARS]
    # Every hop is one of ours: the request started inside, at the left-most of them.
    return hops[0] if hops else peer
