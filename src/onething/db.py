"""Database plumbing: engine, sessions and the declarative Base. SQLite by default, PostgreSQL by URL.

Every context declares its tables on ``Base`` in its own ``tables.py``; Alembic migrations under
``migrations/`` create them. Services open one transaction per user action with ``session_scope``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, event, inspect, text
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from onething.config import get_settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    settings = get_settings()
    return create_engine(url, pool_pre_ping=True, pool_size=settings.db_pool_size,
                         max_overflow=settings.db_max_overflow)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    return engine_for(get_settings().resolved_database_url())


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or get_engine(), expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


UNREACHABLE = "unreachable"
NOT_MIGRATED = "not migrated"
READY = "ok"


def is_unavailable(exc: BaseException) -> bool:
    """Whether an error means the database cannot be used right now (down, unknown, refusing connections,
    locked) rather than a bug: the web layer answers 503 for these."""
    return isinstance(exc, OperationalError | InterfaceError)


def database_status(engine: Engine) -> str:
    """``ok``; ``unreachable`` when the server does not answer or the database does not exist; ``not migrated``
    only when the database answers and has no Alembic revision (run `onething db upgrade`)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            if not inspect(connection).has_table("alembic_version"):
                return NOT_MIGRATED
            if connection.execute(text("SELECT version_num FROM alembic_version")).first() is None:
                return NOT_MIGRATED
    except SQLAlchemyError:
        return UNREACHABLE
    return READY


def import_all_tables() -> None:
    """Import every context's tables so that Base.metadata is complete (Alembic, tests)."""
    import importlib

    for module in ("onething.catalog.tables", "onething.accounts.tables", "onething.cases.tables",
                   "onething.exchange.tables", "onething.delivery.tables",
                   "onething.certificates.tables", "onething.hub.tables", "onething.delegations.tables"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic (what `onething db upgrade` runs)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def alembic_config(engine: Engine | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    from onething.config import migrations_dir

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    url = (engine.url.render_as_string(hide_password=False) if engine is not None
           else get_settings().resolved_database_url())
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["engine"] = engine
    return config
