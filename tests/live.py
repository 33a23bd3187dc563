"""A real HTTP server for tests: uvicorn serving an app in a background thread on a free port.

Integration and e2e tests talk to it over real sockets (httpx, Chromium), so middleware, exception handlers,
static files and the database all behave as they do in production.

    with serve(create_app(engine=engine)) as server:
        httpx.get(server.url + "/healthz")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import Engine

from onething import db
from onething.catalog.service import publish_catalog
from onething.config import REPO_DIR, Settings
from onething.web.server import server_config

CATALOG_DIR = REPO_DIR / "catalog"


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: Any
    engine: Engine | None = None

    def __str__(self) -> str:
        return self.url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: Any, *, engine: Engine | None = None, timeout: float = 15.0,
          settings: Settings | None = None) -> Iterator[LiveServer]:
    """Run ``app`` on 127.0.0.1:<free port> until the block ends, configured exactly as `onething serve`
    configures uvicorn for ``settings`` (default: the environment's) — forwarded headers, no server header."""
    port = free_port()
    config = server_config(app, host="127.0.0.1", port=port, settings=settings or Settings(), lifespan="on",
                           timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"live-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the live server stopped while starting; see the log above")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the live server did not start within {timeout} s")
        time.sleep(0.02)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", app=app, engine=engine)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def published_engine(database_url: str, catalog_dir: Path = CATALOG_DIR) -> Engine:
    """An engine on a migrated database with ``catalog_dir`` published as a version (the app serves it)."""
    engine = db.make_engine(database_url)
    publish_catalog(catalog_dir, actor="test", engine=engine)
    return engine


@contextmanager
def serve_catalog(database_url: str, catalog_dir: Path = CATALOG_DIR) -> Iterator[LiveServer]:
    """Publish a catalog into a migrated database and serve the whole app against it."""
    from onething.web.app import create_app

    engine = published_engine(database_url, catalog_dir)
    try:
        with serve(create_app(engine=engine), engine=engine) as server:
            yield server
    finally:
        engine.dispose()
