"""Integration fixtures: the whole app served over real HTTP against each real database backend."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.live import LiveServer, serve_catalog


@pytest.fixture
def live_server(database_url: str) -> Iterator[LiveServer]:
    """The app on a free port, serving the shipped catalog published into ``database_url`` (SQLite, PostgreSQL)."""
    with serve_catalog(database_url) as server:
        yield server


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client
