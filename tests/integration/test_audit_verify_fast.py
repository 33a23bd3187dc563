"""The fast verify path (raw columns hashed in a tight loop) agrees with the exact one, entry for entry.

``audit.service.walk`` reads ``at`` and the JSON columns raw; when that shortcut does not reproduce an entry's
hash it re-checks the entry through the ORM before naming it. These tests pin both halves: an entry stored in
a form the shortcut does not know is still accepted, and a changed entry is still the one named — and
``verify_chain`` holds the chain to many checkpoints in its single pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, text

from onething import db
from onething.accounts.api import actor_for_user, create_user
from onething.audit import service as audit
from onething.audit.checkpoints import create_checkpoint, verify_chain
from onething.audit.tables import AuditEntry

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)   # whole seconds: microseconds are zero


def _chain(database_url: str, entries: int = 12, checkpoint_every: int = 3) -> list[int]:
    engine = db.make_engine(database_url)
    with db.session_scope(engine) as session:
        create_user(session, name="auditee", role="staff", department="mps", now=NOW)
    with db.session_scope(engine) as session:
        actor = actor_for_user(session, "auditee")
    for n in range(entries):
        with db.session_scope(engine) as session:
            audit.append(session, actor, "bench.check", "thing", n, now=NOW + timedelta(seconds=n),
                         before={"status": "a"} if n % 2 else None, after={"名称": "示例", "n": n},
                         data={"list": [1, 2.5, None, True], "text": "引号\"与\\斜杠"}, application_id=f"app-{n}")
            if (n + 1) % checkpoint_every == 0:
                create_checkpoint(session, NOW + timedelta(seconds=n))
    with db.session_scope(engine) as session:
        ids = list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))
    engine.dispose()
    return ids


def _unlock(engine: Engine) -> None:
    """What a database owner could do: switch the append-only trigger off (PostgreSQL). SQLite has none."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))


def test_fast_and_exact_paths_agree(database_url: str) -> None:
    ids = _chain(database_url)
    engine = db.make_engine(database_url)
    with db.session_scope(engine) as session:
        assert audit.verify(session) == (len(ids), None)
        result = verify_chain(session)
        assert result.intact and result.count == len(ids) and result.checkpoints == 4
    _unlock(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET data = :d WHERE id = :k"),
                           {"d": '{"forged": true}', "k": ids[7]})
    with db.session_scope(engine) as session:
        assert audit.verify(session) == (8, ids[7])
        assert verify_chain(session).broken_id == ids[7]
    engine.dispose()


def test_unfamiliar_stored_timestamp_is_rechecked_not_named(database_url: str) -> None:
    """SQLite text without microseconds is the same instant: the exact re-check accepts it."""
    ids = _chain(database_url, entries=5)
    engine = db.make_engine(database_url)
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.execute(text("UPDATE audit_entries SET at = substr(at, 1, 19) WHERE id = :k"), {"k": ids[2]})
            raw = connection.execute(text("SELECT at FROM audit_entries WHERE id = :k"), {"k": ids[2]}).scalar()
        assert isinstance(raw, str) and len(raw) == 19
    with db.session_scope(engine) as session:
        assert audit.verify(session) == (len(ids), None)
        assert verify_chain(session).intact
    engine.dispose()


def test_checkpoint_counts_are_held_in_one_pass(database_url: str) -> None:
    ids = _chain(database_url, entries=9)
    engine = db.make_engine(database_url)
    _unlock(engine)
    with engine.begin() as connection:   # a checkpoint that claims one entry more than the chain has up to it
        connection.execute(text("UPDATE audit_checkpoints SET count = count + 1 WHERE last_id = :k"), {"k": ids[5]})
    with db.session_scope(engine) as session:
        result = verify_chain(session)
    assert result.broken_id == ids[5] and "checkpoint" in (result.problem or "")
    engine.dispose()
