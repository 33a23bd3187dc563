"""Run an ASGI app on a port in a background thread — the sandbox peers (department, SMS gateway, national hub)
in tests and demos. The thread is a daemon; leaving the block stops the server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn


@contextmanager
def serve_in_thread(app: Any, port: int, *, host: str = "127.0.0.1", name: str,
                    lifespan: Literal["on", "off"] = "off", timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` on ``host:port`` until the block ends; yield its base URL. RuntimeError naming ``name``
    when it does not start within ``timeout`` seconds."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                           lifespan=lifespan, timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name=f"{name}-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"{name} did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
