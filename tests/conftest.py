"""Shared fixtures: the shipped catalog, and real databases — SQLite and PostgreSQL — for integration tests.

The ``database_url`` fixture is parametrised over both backends, so every integration test that asks for it
runs twice. PostgreSQL never skips silently: in CI (``CI`` set) a missing server fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from onething.catalog.model import Catalog
from onething.catalog.service import load_valid_catalog
from onething.config import REPO_DIR, get_settings

from . import pg

CATALOG_DIR = REPO_DIR / "catalog"

# The suite runs as a deployment does, not as the demo: with a secret key of its own (never the demo's key file
# in var/), and — because the live servers are plain http on 127.0.0.1, where a client never sends a Secure
# cookie back — with secure cookies explicitly off. Tests that need the demo registries opt in (``demo_mode``);
# tests of the production defaults remove these (tests/integration/test_production_defaults.py).
TEST_SECRET_KEY = "test-only-secret-key-0123456789abcdef-not-for-production"
os.environ["ONETHING_SECRET_KEY"] = TEST_SECRET_KEY
os.environ["ONETHING_SECURE_COOKIES"] = "false"
# The audit sequencer thread (ADR 021) stays out of served test apps; its tests run rounds themselves.
os.environ["ONETHING_INPROCESS_SEQUENCER"] = "false"
os.environ.pop("ONETHING_DEMO", None)


@pytest.fixture(autouse=True)
def fresh_settings() -> None:
    """Each test starts from settings read afresh from its environment: a test that changed the environment
    and cleared the cache inside it must not leave its settings (secure cookies, demo mode …) to the next."""
    get_settings.cache_clear()


@pytest.fixture
def demo_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """ONETHING_DEMO=1 for one test: the demo registries answer for holders without a service."""
    monkeypatch.setenv("ONETHING_DEMO", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_valid_catalog(CATALOG_DIR)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    try:
        with pg.server_url() as url:
            yield url
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL unavailable on this machine: {exc}")


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> Iterator[str]:
    with pg.fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database of each backend (SQLite file per test; PostgreSQL schema reset)."""
    from onething import db

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
        engine = db.make_engine(url)
        db.upgrade(engine)
        yield url
        engine.dispose()
        return
    yield request.getfixturevalue("postgres_database")


@pytest.fixture
def postgres_database(postgres_url: str) -> str:
    """The session's PostgreSQL database, emptied and migrated for one test (PostgreSQL-only features)."""
    from sqlalchemy import text

    from onething import db

    engine = db.make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.upgrade(engine)
    engine.dispose()
    return postgres_url
