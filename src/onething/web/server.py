"""How `onething serve` runs uvicorn, in one place so that tests start the very same configuration.

Forwarded headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only from the proxies the operator
lists in ``ONETHING_TRUSTED_PROXIES`` (comma-separated IPs or CIDRs). Uvicorn's own default trusts them from
any loopback peer, so a client on the same host — or behind a local proxy that passes the header through —
could name any address it liked and start a fresh sign-in rate-limit count with each request. With no proxy
listed, uvicorn's proxy-header middleware is not installed at all and the client is the TCP peer.

Several processes (``onething serve --workers N``, default: the number of CPUs) use uvicorn's own process
manager (``uvicorn.supervisors.Multiprocess``): the parent binds the socket once, starts N worker processes
that each build the app with :func:`worker_app` and accept from the shared socket, and restarts a worker that
dies. It is part of uvicorn, which we already depend on and which is maintained; gunicorn with uvicorn's
worker class would add a second server and a second configuration for the same result (uvicorn's gunicorn
worker now lives in a separate package). Each process has its own database pool
(``ONETHING_DB_POOL_SIZE`` + ``ONETHING_DB_MAX_OVERFLOW`` connections at most).
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from onething.config import Settings, get_settings

# What each worker process imports and calls to build its app (uvicorn's ``factory=True``).
WORKER_APP = "onething.web.server:worker_app"


def worker_app() -> Any:
    """The app of one worker process of `onething serve --workers N`: its own logging, engine and pool."""
    from onething.logging import configure_logging
    from onething.web.app import create_app

    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app()


def default_workers(settings: Settings) -> int:
    """``ONETHING_WORKERS`` if set; one process in the demo; else one per CPU."""
    if settings.workers is not None:
        return max(1, settings.workers)
    return 1 if settings.demo else max(1, os.cpu_count() or 1)


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


def server_config(app: Any, *, host: str, port: int, settings: Settings, workers: int = 1,
                  **options: Any) -> uvicorn.Config:
    """The uvicorn configuration of `onething serve` for ``app``; ``options`` pass through (tests: lifespan …).

    With ``workers`` > 1 the app is :data:`WORKER_APP`, built in each worker process.
    """
    proxies = trusted_proxies(settings)
    if workers > 1:
        app = WORKER_APP
        options.setdefault("factory", True)
        options["workers"] = workers
    # An empty list, not None: None would let uvicorn fall back to $FORWARDED_ALLOW_IPS or 127.0.0.1.
    # Our own logging, and no ``server: uvicorn`` header telling a scanner what to try.
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, server_header=False,
                          proxy_headers=bool(proxies), forwarded_allow_ips=proxies, **options)


def run(config: uvicorn.Config) -> None:
    """Serve ``config``: in this process, or with N worker processes sharing one bound socket."""
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()
