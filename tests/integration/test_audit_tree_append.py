"""Appends with no shared lock (ONETHING_AUDIT_APPEND=tree, hash format 3, ADR 021), on both databases.

Entries are written by the exchange's real fetches; the sequencer folds the chained entries written before
the switch and the unchained ones after into one tree; ``onething audit verify`` (a real subprocess) names
a changed entry — by its own hash when the content alone was changed, through the tree when its hash was
recomputed too — and a deleted one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from onething import db
from onething.accounts.api import actor_for_user, create_user
from onething.audit import chain, tree
from onething.audit import service as audit
from onething.audit.tables import AuditEntry, AuditHead
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

pytestmark = pytest.mark.usefixtures("demo_mode")


def _verify(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ONETHING_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "onething", "audit", "verify"], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def _log(database_url: str, monkeypatch: pytest.MonkeyPatch, fetches: int = 4) -> tuple[Engine, list[int]]:
    """Fetches before the switch (chained), then after it (unchained); the sequencer integrates them all."""
    monkeypatch.setenv("ONETHING_AUDIT_APPEND", "chain")
    get_settings.cache_clear()
    engine = db.make_engine(database_url)
    catalog = small_catalog()
    actors = make_users(engine)
    file_subject_records(engine, catalog)

    def fetch(n: int) -> None:
        service.checked_fetch(engine, catalog, actors[f"{GRANTED}-staff"], consumer=GRANTED, subject=SUBJECT,
                              resource=resource_id(Sharing.unconditional, False), fields=list(FIELDS),
                              purpose=procedure_id(GRANTED), application_ref=f"app-{n}", consent_id=None,
                              now=NOW + timedelta(minutes=n))

    for n in range(fetches):
        fetch(n)
    monkeypatch.setenv("ONETHING_AUDIT_APPEND", "tree")
    get_settings.cache_clear()
    with session_scope(engine) as session:
        head_before = session.scalar(select(AuditHead.count))
    for n in range(fetches, 2 * fetches):
        fetch(n)
    with session_scope(engine) as session:
        assert session.scalar(select(AuditHead.count)) == head_before  # no head row moved
        formats = list(session.execute(select(AuditEntry.hash_format).order_by(AuditEntry.id)).scalars())
        assert formats[-1] == chain.TREE_FORMAT and chain.FORMAT in formats
        tree.integrate(session, NOW + timedelta(hours=1))
        ids = list(session.execute(select(AuditEntry.id).order_by(AuditEntry.id)).scalars())
    return engine, ids


def _unlock(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))


def test_mixed_log_verifies(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, ids = _log(database_url, monkeypatch)
    result = _verify(database_url)
    assert result.returncode == 0, result.stderr
    assert f"intact: {len(ids)} entries" in result.stdout and "Merkle tree matches" in result.stdout
    engine.dispose()


@pytest.mark.parametrize("trial", ["change", "rehash", "delete"])
def test_tampering_with_unchained_entries_is_named(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                     trial: str) -> None:
    engine, _ = _log(database_url, monkeypatch)
    with session_scope(engine) as session:
        victim = session.scalars(select(AuditEntry).where(AuditEntry.hash_format == chain.TREE_FORMAT)
                                 .order_by(AuditEntry.id).offset(1).limit(1)).one()
        values = {c.key: getattr(victim, c.key) for c in AuditEntry.__table__.columns}
    _unlock(engine)
    with engine.begin() as connection:
        if trial == "delete":
            connection.execute(text("DELETE FROM audit_entries WHERE id = :k"), {"k": victim.id})
        elif trial == "change":
            connection.execute(text("UPDATE audit_entries SET department = 'evil' WHERE id = :k"), {"k": victim.id})
        else:  # a database owner recomputes the entry's own hash: only the tree can tell
            digest = chain.text_hash(chain.entry_text({**values, "department": "evil"}), values["prev_hash"])
            connection.execute(text("UPDATE audit_entries SET department = 'evil', hash = :h WHERE id = :k"),
                               {"h": digest, "k": victim.id})
    result = _verify(database_url)
    assert result.returncode == 1, result.stdout
    assert f"broken entry: {victim.id}" in result.stdout, result.stdout + result.stderr
    engine.dispose()


def test_appends_do_not_wait_for_each_other_on_postgresql(postgres_database: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Two transactions append at once: the second commits while the first is still open (a shared head row
    would make it wait; lock_timeout turns waiting into an error)."""
    monkeypatch.setenv("ONETHING_AUDIT_APPEND", "tree")
    get_settings.cache_clear()
    engine = db.make_engine(postgres_database)
    with session_scope(engine) as session:
        create_user(session, name="lockless", role="staff", department="mps", now=NOW)
    first = Session(engine)
    try:
        actor = actor_for_user(first, "lockless")
        audit.append(first, actor, "test.first", "thing", 1, now=NOW)
        with Session(engine) as second, second.begin():
            second.execute(text("SET LOCAL lock_timeout = '2s'"))
            audit.append(second, actor_for_user(second, "lockless"), "test.second", "thing", 2, now=NOW)
        first.commit()
    finally:
        first.close()
    with session_scope(engine) as session:
        assert tree.integrate(session, NOW).integrated >= 2
        assert tree.check_tree(session) is None
        assert audit.verify(session)[1] is None
