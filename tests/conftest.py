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
from onething.config import REPO_DIR

from . import pg

CATALOG_DIR = REPO_DIR / "catalog"


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
