"""What every bench shares: throwaway databases, latency summaries, and fictional applicants.

``throwaway_database`` gives a migrated database with the shipped catalog published: a SQLite file in a
temporary folder by default, or — for a ``postgresql…`` URL — a new database created on that server and
dropped with ``WITH (FORCE)`` at the end, so the server's own databases are never touched.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table
from sqlalchemy.engine import make_url

from onething import db
from onething.config import get_settings


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (0.0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 / max / mean of latencies, in milliseconds, rounded to 0.01 ms."""
    ordered = sorted(seconds)
    mean = sum(ordered) / len(ordered) if ordered else 0.0
    return {name: round(value * 1000, 2) for name, value in (
        ("p50_ms", percentile(ordered, 0.50)), ("p95_ms", percentile(ordered, 0.95)),
        ("p99_ms", percentile(ordered, 0.99)), ("max_ms", ordered[-1] if ordered else 0.0), ("mean_ms", mean))}


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def backend_of(url: str) -> str:
    return make_url(url).get_backend_name()


def _libpq(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as psycopg's connection string."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def _fresh_postgres(server_url: str) -> Iterator[str]:
    import psycopg

    name = f"onething_bench_{uuid.uuid4().hex[:12]}"  # generated here, never user input
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def throwaway_url(url: str | None) -> Iterator[str]:
    """A database URL for one bench run: fresh and removed afterwards, unless a SQLite file was named.

    ``None`` → a SQLite file under a new temporary folder; ``postgresql…`` → a new database on that server
    (the URL's own database is only used to run CREATE/DROP DATABASE); ``sqlite:///path`` → that file.
    """
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix="onething-bench-"))
        try:
            yield f"sqlite:///{folder / 'bench.sqlite3'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    if backend_of(url) == "postgresql":
        with _fresh_postgres(url) as fresh:
            yield fresh
        return
    yield url


@contextmanager
def prepared_database(url: str | None, *, publish: bool = True) -> Iterator[tuple[str, Engine]]:
    """A throwaway database, migrated to head, with the shipped catalog published (``publish``)."""
    from onething.catalog.service import publish_catalog

    with throwaway_url(url) as fresh:
        engine = db.make_engine(fresh)
        try:
            db.upgrade(engine)
            if publish:
                publish_catalog(get_settings().resolved_catalog_dir(), actor="bench", engine=engine)
            yield fresh, engine
        finally:
            engine.dispose()


def table_of(model: Any) -> Table:
    """The Core table of a mapped class (typed, for inserts and updates that bypass the ORM)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def resident_id(serial: int) -> str:
    """A fictional, checksum-valid resident ID (公民身份号码) numbered ``serial`` (0 ≤ serial < 36 500 000)."""
    from datetime import date, timedelta

    from stdnum.cn import ric

    day, sequence = divmod(serial, 1000)
    born = date(1950, 1, 1) + timedelta(days=day % 20000)
    body = f"110101{born:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")  # it reads the first 17 characters


def utcnow() -> datetime:
    return datetime.now(UTC)


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPUs and memory as this process sees them."""
    import os
    import platform

    memory_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {"cpus": os.cpu_count(), "memory_gib": memory_gib, "python": platform.python_version(),
            "platform": platform.platform(terse=True)}
