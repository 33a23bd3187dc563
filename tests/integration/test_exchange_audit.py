"""Tamper trials on the audit chain, on both databases: change, delete or reorder an entry directly with SQL, or
rewrite the chain from an entry on with every hash recomputed — `onething audit verify` (a real subprocess
against the same database) exits 1 and names the entry; on an intact chain it exits 0 with the count."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from onething import db
from onething.audit.checkpoints import create_checkpoint, maybe_checkpoint, verify_chain
from onething.audit.service import entry_digest
from onething.audit.tables import AuditEntry
from onething.catalog.model import Sharing
from onething.config import get_settings
from onething.db import session_scope
from onething.exchange import service

from .exchange_support import (
    FIELDS,
    GRANTED,
    NOW,
    SUBJECT,
    file_subject_records,
    make_users,
    procedure_id,
    resource_id,
    small_catalog,
)

# The exchange's holders are the demo registries here (holders without a service of their own).
pytestmark = pytest.mark.usefixtures("demo_mode")


@pytest.fixture(autouse=True)
def _chained_appends(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the hash chain (ADR 005/006): appends chained under the head row, as before
    ADR 021 made unchained appends the default."""
    monkeypatch.setenv("ONETHING_AUDIT_APPEND", "chain")
    get_settings.cache_clear()


def _verify(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ONETHING_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "onething", "audit", "verify"], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def _chain(database_url: str, fetches: int = 6) -> tuple[Engine, list[int]]:
    """A real chain built through the services: users' fetches of unconditional data, served."""
    engine = db.make_engine(database_url)
    catalog = small_catalog()
    actors = make_users(engine)
    file_subject_records(engine, catalog)
    for n in range(fetches):
        service.checked_fetch(engine, catalog, actors[f"{GRANTED}-staff"], consumer=GRANTED, subject=SUBJECT,
                              resource=resource_id(Sharing.unconditional, False), fields=list(FIELDS),
                              purpose=procedure_id(GRANTED), application_ref=f"app-{n}", consent_id=None,
                              now=NOW + timedelta(minutes=n))
    with session_scope(engine) as session:
        ids = list(session.execute(select(AuditEntry.id).order_by(AuditEntry.id)).scalars())
    return engine, ids


def _columns(row: AuditEntry) -> dict[str, object]:
    return {column.key: getattr(row, column.key) for column in AuditEntry.__table__.columns}


def _unlock(engine: Engine) -> None:
    """What a database owner could do: switch the append-only trigger off (PostgreSQL). SQLite has none."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))


def test_intact_chain_verifies(database_url: str) -> None:
    engine, ids = _chain(database_url)
    result = _verify(database_url)
    assert result.returncode == 0, result.stderr
    assert f"intact: {len(ids)} entries" in result.stdout
    engine.dispose()


@pytest.mark.parametrize("trial", ["change", "delete", "reorder"])
def test_tampering_is_named(database_url: str, trial: str) -> None:
    engine, ids = _chain(database_url)
    k = ids[2]
    _unlock(engine)
    with engine.begin() as connection:
        if trial == "change":
            connection.execute(text("UPDATE audit_entries SET department = :d WHERE id = :k"), {"d": "evil", "k": k})
            expected = k
        elif trial == "delete":
            connection.execute(text("DELETE FROM audit_entries WHERE id = :k"), {"k": k})
            expected = ids[3]
        else:  # swap two neighbours' places in the order
            connection.execute(text("UPDATE audit_entries SET id = :tmp WHERE id = :k"), {"tmp": -k, "k": k})
            connection.execute(text("UPDATE audit_entries SET id = :k WHERE id = :n"), {"k": k, "n": ids[3]})
            connection.execute(text("UPDATE audit_entries SET id = :n WHERE id = :tmp"), {"n": ids[3], "tmp": -k})
            expected = k
    result = _verify(database_url)
    assert result.returncode == 1, result.stdout
    assert f"broken entry: {expected}" in result.stdout
    assert f"BROKEN at entry {expected}" in result.stderr
    engine.dispose()


def test_deleting_the_last_entry_is_named(database_url: str) -> None:
    engine, ids = _chain(database_url)
    _unlock(engine)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entries WHERE id = :k"), {"k": ids[-1]})
    result = _verify(database_url)
    assert result.returncode == 1 and f"broken entry: {ids[-1]}" in result.stdout
    engine.dispose()


def test_rewritten_chain_fails_its_published_checkpoint(database_url: str) -> None:
    """Recomputing every hash after a change makes the chain link up again — but not match the checkpoint."""
    engine, ids = _chain(database_url)
    with session_scope(engine) as session:
        checkpoint = create_checkpoint(session, NOW + timedelta(hours=1))
        assert checkpoint is not None and checkpoint.last_id == ids[-1]
        assert create_checkpoint(session, NOW + timedelta(hours=1)) is None  # nothing new since
    _unlock(engine)
    with session_scope(engine) as session:
        rows = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
        prev = rows[1].hash
        for row in rows[2:]:
            department = "evil" if row.id == ids[2] else row.department
            digest = entry_digest({**_columns(row), "department": department}, prev, row.hash_format)
            session.execute(text("UPDATE audit_entries SET department = :d, prev_hash = :p, hash = :h WHERE id = :i"),
                            {"d": department, "p": prev, "h": digest, "i": row.id})
            prev = digest
        session.execute(text("UPDATE audit_head SET last_hash = :h WHERE id = 1"), {"h": prev})
    with session_scope(engine) as session:
        result = verify_chain(session)
    assert result.broken_id == ids[-1] and "checkpoint" in (result.problem or "")
    cli = _verify(database_url)
    assert cli.returncode == 1 and f"broken entry: {ids[-1]}" in cli.stdout
    engine.dispose()


def test_checkpoints_every_n_entries(database_url: str) -> None:
    engine, ids = _chain(database_url, fetches=3)
    with session_scope(engine) as session:
        assert maybe_checkpoint(session, NOW, every=len(ids) + 1) is None
        made = maybe_checkpoint(session, NOW, every=len(ids))
        assert made is not None and made.count == len(ids)
        assert maybe_checkpoint(session, NOW, every=1) is None
    engine.dispose()


def test_appends_write_a_checkpoint_at_every_nth_entry(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service checkpoints as it appends — one per transaction and several in one batch — at exactly the
    positions that are multiples of ``audit_checkpoint_every``, with that entry's hash; verify holds to them."""
    from onething.accounts.model import SYSTEM
    from onething.audit.service import append_many
    from onething.audit.tables import AuditCheckpoint
    from onething.config import get_settings

    monkeypatch.setenv("ONETHING_AUDIT_CHECKPOINT_EVERY", "3")
    get_settings.cache_clear()
    try:
        engine, ids = _chain(database_url, fetches=4)  # 4 entries, one per transaction: a checkpoint at the 3rd
        with session_scope(engine) as session:  # 7 more in one transaction: positions 6 and 9 fall inside it
            ids += append_many(session, [{"actor": SYSTEM, "action": "test.batch", "subject_type": "t",
                                          "subject_id": str(n)} for n in range(7)], NOW)
        with session_scope(engine) as session:
            marks = session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.count)).scalars().all()
            hashes = {row.id: row.hash for row in session.execute(select(AuditEntry.id, AuditEntry.hash))}
            assert [(m.count, m.last_id) for m in marks] == [(3, ids[2]), (6, ids[5]), (9, ids[8])]
            assert all(m.hash == hashes[m.last_id] for m in marks)
            result = verify_chain(session)
            assert result.intact and result.count == 11 and result.checkpoints == 3
    finally:
        get_settings.cache_clear()
    engine.dispose()


def test_postgresql_refuses_update_and_delete(postgres_database: str) -> None:
    """PostgreSQL only: SQLite has no append-only trigger (ADR 005); verify is its defence."""
    engine, ids = _chain(postgres_database, fetches=1)
    assert engine.dialect.name == "postgresql"
    for statement in ("UPDATE audit_entries SET department = 'x' WHERE id = :k",
                      "DELETE FROM audit_entries WHERE id = :k"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement), {"k": ids[0]})
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("TRUNCATE audit_entries"))
    engine.dispose()
