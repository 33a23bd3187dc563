"""The bare reference app of `onething bench submit`: FastAPI + SQLAlchemy Core, nothing else.

It answers ``POST /api/v1/applications`` the way a minimal service that stores the same rows would: it reads
the JSON body and, in one transaction, inserts an application, its tasks, its outbox events and one audit row,
copied from one real submission (the *template*, an application id in the same database) with fresh ids.
No authentication, no plan, no validation, no ORM, no rate limit, no audit chain: what is left is the HTTP
stack, JSON and the inserts — the floor any implementation of the same write pays. ``onething bench submit``
starts it with the same number of worker processes as ``onething serve`` and reports onething's ratio to it.

It imports nothing from onething on purpose: tables are reflected from the database. Columns in a unique
constraint or index (ids, 办件编号, idempotency key, event id, audit hash) get fresh values; any text equal to a
template row's id is replaced by the copy's id; integer autoincrement keys are left to the database.

    python benchmarks/reference_app.py --database URL --template APPLICATION_ID --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, Header
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
    inspect,
    select,
)

TABLES = ("applications", "tasks", "outbox_events", "audit_entries")


@dataclass
class Template:
    """One submission's rows (one audit row), and per table what must be fresh in each copy."""

    tables: dict[str, Table]
    rows: dict[str, list[dict[str, Any]]]
    fresh: dict[str, set[str]]        # columns in a unique constraint/index or a text primary key
    drop: dict[str, set[str]]         # integer primary keys the database numbers


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        return engine
    return create_engine(url, pool_size=10, max_overflow=10)


def load_template(engine: Engine, application_id: str) -> Template:
    metadata = MetaData()
    tables = {name: Table(name, metadata, autoload_with=engine) for name in TABLES}
    inspector = inspect(engine)
    fresh: dict[str, set[str]] = {}
    drop: dict[str, set[str]] = {}
    for name, table in tables.items():
        unique = {column for constraint in inspector.get_unique_constraints(name)
                  for column in constraint["column_names"]}
        unique |= {column for index in inspector.get_indexes(name) if index.get("unique")
                   for column in index["column_names"] if column}
        keys = list(table.primary_key.columns)
        drop[name] = {c.name for c in keys if isinstance(c.type, Integer)}
        fresh[name] = ({c.name for c in keys if isinstance(c.type, String)} | unique) - drop[name]
        # An application's unique (applicant, key) pair: the applicant stays, the key is fresh.
        fresh[name] -= {c.name for c in table.columns if c.foreign_keys}
    rows: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for name, table in tables.items():
            column = table.c.id if name == "applications" else table.c.application_id
            query = select(table).where(column == application_id).order_by(*table.primary_key.columns)
            rows[name] = [dict(row._mapping) for row in conn.execute(query.limit(1 if name == "audit_entries"
                                                                                  else 1000))]
    if not rows["applications"]:
        raise SystemExit(f"no application {application_id!r} to copy")
    return Template(tables=tables, rows=rows, fresh=fresh, drop=drop)


def _fresh_value(old: Any, column: Any) -> Any:
    token = uuid.uuid4()
    if isinstance(old, str) and old.isdigit():
        return str(token.int)[-len(old):].rjust(len(old), "0")
    length = getattr(column.type, "length", None) or 64
    text = str(token) if length == 36 else (token.hex * 2)[:length]
    return text


def copy_submission(conn: Connection, template: Template, idempotency_key: str | None = None,
                    body: dict[str, Any] | None = None) -> str:
    """Insert one copy of the template's rows (in the caller's transaction); the new application's id."""
    ids: dict[str, str] = {}
    for name in TABLES:
        for row in template.rows[name]:
            for column in template.fresh[name]:
                if column == "id" and isinstance(row.get("id"), str):
                    ids[row["id"]] = str(uuid.uuid4())
    for name in TABLES:
        table = template.tables[name]
        copies = []
        for row in template.rows[name]:
            copy = {}
            for key, value in row.items():
                if key in template.drop[name]:
                    continue
                if isinstance(value, str) and value in ids:
                    copy[key] = ids[value]
                elif key in template.fresh[name]:
                    copy[key] = _fresh_value(value, table.c[key])
                else:
                    copy[key] = value
            if name == "applications":
                if idempotency_key:
                    copy["idempotency_key"] = idempotency_key
                if body is not None:   # store what was posted, as a real service would
                    copy["answers"] = body.get("answers", copy["answers"])
                    copy["form"] = body.get("form", copy["form"])
            copies.append(copy)
        if copies:
            conn.execute(insert(table), copies)
    return ids[template.rows["applications"][0]["id"]]


def create_app() -> FastAPI:
    """The app, for ``REFERENCE_DATABASE_URL`` and ``REFERENCE_TEMPLATE`` (uvicorn factory)."""
    engine = _engine(os.environ["REFERENCE_DATABASE_URL"])
    template = load_template(engine, os.environ["REFERENCE_TEMPLATE"])
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/applications", status_code=201)
    def submit(body: dict[str, Any] = Body(...),
               idempotency_key: str | None = Header(default=None)) -> dict[str, str]:
        with engine.begin() as conn:
            return {"id": copy_submission(conn, template, idempotency_key, body)}

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--template", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ["REFERENCE_DATABASE_URL"] = args.database
    os.environ["REFERENCE_TEMPLATE"] = args.template
    uvicorn.run("reference_app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                app_dir=str(Path(__file__).parent), log_level="warning", access_log=False, server_header=False)


if __name__ == "__main__":
    sys.exit(main())
