"""``audit.append_many`` chains exactly as successive ``audit.append`` calls do, on both databases.

The same entries are appended one by one in a transaction that is then rolled back, and again as one batch
from the same head: every hashed column, ``prev_hash``, ``hash`` and the head come out identical (only ids
may differ — PostgreSQL does not give back sequence values on rollback), and the chain verifies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from onething import db
from onething.accounts.api import actor_for_user, create_user
from onething.audit import service as audit
from onething.audit.tables import AuditEntry, AuditHead
from onething.config import get_settings

NOW = datetime(2026, 11, 25, 2, 0, 0, 123456, tzinfo=UTC)
COLUMNS = ("at", "actor_id", "actor_name", "actor_role", "action", "subject_type", "subject_id",
           "application_id", "department", "before", "after", "data", "prev_hash", "hash")


@pytest.fixture(autouse=True)
def _chained_appends(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the hash chain (ADR 005/006): appends chained under the head row, as before
    ADR 021 made unchained appends the default."""
    monkeypatch.setenv("ONETHING_AUDIT_APPEND", "chain")
    get_settings.cache_clear()


def _entries(actor: Any) -> list[dict[str, Any]]:
    return [
        {"actor": actor, "action": "application.submitted", "subject_type": "application", "subject_id": "a-1",
         "application_id": "a-1", "after": {"status": "submitted", "version": 1},
         "data": {"thing": "示例", "procedures": ["p1", "p2"], "n": 2.5, "none": None}},
        {"actor": actor, "action": "task.created", "subject_type": "task", "subject_id": 17, "application_id": "a-1",
         "department": "mps", "after": {"status": "waiting"}, "data": {"text": "引号\"与\\斜杠"}},
        {"actor": actor, "action": "task.ready", "subject_type": "task", "subject_id": "t-2", "application_id": None,
         "before": {"status": "waiting"}, "after": {"status": "ready"},
         "data": {"due": datetime(2026, 12, 1, tzinfo=UTC)}, "now": NOW + timedelta(seconds=3)},
    ]


def _rows(session: Session, after_id: int) -> list[tuple[Any, ...]]:
    found = session.scalars(select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id)).all()
    return [tuple(getattr(entry, column) for column in COLUMNS) for entry in found]


def _head(session: Session) -> tuple[int, str]:
    head = session.scalars(select(AuditHead)).one()
    return head.count, head.last_hash


def test_append_many_chains_as_successive_appends(database_url: str) -> None:
    engine = db.make_engine(database_url)
    with db.session_scope(engine) as session:
        create_user(session, name="auditee", role="staff", department="mps", now=NOW)
    with db.session_scope(engine) as session:
        actor = actor_for_user(session, "auditee")
        audit.append(session, actor, "seed", "thing", 0, now=NOW)  # a head that is not the genesis
    with db.session_scope(engine) as session:
        start = int(session.scalar(select(AuditHead.last_id)) or 0)

    session = Session(engine)
    try:
        for entry in _entries(actor):
            arguments = dict(entry)
            audit.append(session, arguments.pop("actor"), now=arguments.pop("now", NOW), **arguments)
        one_by_one, head_one_by_one = _rows(session, start), _head(session)
        session.rollback()
    finally:
        session.close()

    with db.session_scope(engine) as session:
        ids = audit.append_many(session, _entries(actor), NOW)
        assert len(ids) == 3 and ids == sorted(ids) and ids[0] > start
    with db.session_scope(engine) as session:
        batched, head_batched = _rows(session, start), _head(session)
        assert session.scalar(select(AuditHead.last_id)) == ids[-1]
        assert audit.verify(session) == (4, None)
    engine.dispose()

    assert len(one_by_one) == 3
    assert batched == one_by_one
    assert head_batched == head_one_by_one == (4, one_by_one[-1][-1])


def test_append_many_of_nothing_writes_nothing(database_url: str) -> None:
    engine = db.make_engine(database_url)
    with db.session_scope(engine) as session:
        assert audit.append_many(session, [], NOW) == []
    with db.session_scope(engine) as session:
        assert audit.verify(session) == (0, None)
        assert session.scalar(select(AuditEntry.id).limit(1)) is None
    engine.dispose()


def test_append_returns_the_written_entry(database_url: str) -> None:
    engine = db.make_engine(database_url)
    with db.session_scope(engine) as session:
        create_user(session, name="auditee", role="staff", department="mps", now=NOW)
    with db.session_scope(engine) as session:
        actor = actor_for_user(session, "auditee")
        entry = audit.append(session, actor, "one", "thing", 5, now=NOW, data={"k": [1, None]})
        entry_id, digest = entry.id, entry.hash
        assert session.get(AuditEntry, entry_id) is entry
    with db.session_scope(engine) as session:
        stored = session.get(AuditEntry, entry_id)
        assert stored is not None and stored.hash == digest and stored.data == {"k": [1, None]}
        assert stored.at == NOW and stored.subject_id == "5"
        assert audit.verify(session) == (1, None)
    engine.dispose()
