"""How `onething serve` runs uvicorn, in one place so that tests start the very same configuration.

Forwarded headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only from the proxies the operator
lists in ``ONETHING_TRUSTED_PROXIES`` (comma-separated IPs or CIDRs). Uvicorn's own default trusts them from
any loopback peer, so a client on the same host — or behind a local proxy that passes the header through —
could name any address it liked and start a fresh sign-in rate-limit count with each request. With no proxy
listed, uvicorn's proxy-header middleware is not installed at all and the client is the TCP peer.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import uvicorn

from onething.config import Settings


def trusted_proxies(settings: Settings) -> list[str]:
    """The listed proxies as normalised networks; a malformed entry is a configuration error, not ignored."""
    networks: list[str] = []
    for entry in settings.trusted_proxies.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(f"ONETHING_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR network") from None
    return networks


def server_config(app: Any, *, host: str, port: int, settings: Settings, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration of `onething serve` for ``app``; ``options`` pass through (tests: lifespan …)."""
    proxies = trusted_proxies(settings)
    # An empty list, not None: None would let uvicorn fall back to $FORWARDED_ALLOW_IPS or 127.0.0.1.
    # Our own logging, and no ``server: uvicorn`` header telling a scanner what to try.
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, server_header=False,
                          proxy_headers=bool(proxies), forwarded_allow_ips=proxies, **options)
