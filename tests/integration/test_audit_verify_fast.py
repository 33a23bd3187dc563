"""The fast verify paths agree with the exact hashes, entry for entry, in both hash formats (ADR 006).

Format 1 (entries written before migration 0007): ``audit.service.walk`` reads ``at`` and the JSON columns
raw; when that shortcut does not reproduce an entry's hash it re-checks the entry through the ORM before naming
it. These tests pin both halves: an entry stored in a form the shortcut does not know is still accepted, and
a changed entry is still the one named — and ``verify_chain`` holds the chain to many checkpoints in its single
pass. Format 2 (new entries): a chain that starts in format 1 and goes on in format 2 verifies as one; a change
to either part, or a format-2 entry relabelled as format 1, is named; on SQLite the walk split across
processes names the same entries and holds the same checkpoints as the walk in one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from onething import db
from onething.accounts.api import actor_for_user, create_user
from onething.accounts.model import Actor
from onething.audit import service as audit
from onething.audit.checkpoints import create_checkpoint, verify_chain
from onething.audit.tables import AuditEntry

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)   # whole seconds: microseconds are zero


def _auditee(engine: Engine) -> Actor:
    with db.session_scope(engine) as session:
        create_user(session, name="auditee", role="staff", department="mps", now=NOW)
    with db.session_scope(engine) as session:
        return actor_for_user(session, "auditee")


def _spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Wrap ``audit.<name>`` so each call notes whether it returned or raised; the list of outcomes."""
    outcomes: list[str] = []
    real = getattr(audit, name)

    def spy(*args: object) -> object:
        try:
            result = real(*args)
        except Exception:
            outcomes.append("raised")
            raise
        outcomes.append("returned")
        return result

    monkeypatch.setattr(audit, name, spy)
    return outcomes


def _chain(database_url: str, entries: int = 12, checkpoint_every: int = 3, hash_format: int = 1,
           format2_from: int | None = None) -> list[int]:
    """A chain of ``entries`` through ``audit.append``, in ``hash_format`` (format 2 from ``format2_from`` on)."""
    engine = db.make_engine(database_url)
    actor = _auditee(engine)
    for n in range(entries):
        with db.session_scope(engine) as session:
            entry_format = 2 if format2_from is not None and n >= format2_from else hash_format
            audit.append(session, actor, "bench.check", "thing", n, now=NOW + timedelta(seconds=n),
                         hash_format=entry_format,
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


@pytest.mark.parametrize("format2_from", [None, 5], ids=["format-1", "format-1-then-2"])
def test_fast_and_exact_paths_agree(database_url: str, format2_from: int | None) -> None:
    """A chain in format 1, and one that goes on in format 2 from its 6th entry, verify as one; a forged
    ``data`` in the 8th entry (format 1, or format 2) is the one named."""
    ids = _chain(database_url, format2_from=format2_from)
    engine = db.make_engine(database_url)
    with db.session_scope(engine) as session:
        formats = [f for (f,) in session.execute(select(AuditEntry.hash_format).order_by(AuditEntry.id))]
        assert formats == ([1] * 12 if format2_from is None else [1] * 5 + [2] * 7)
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


@pytest.mark.parametrize("change", [
    "UPDATE audit_entries SET hash_format = 1 WHERE id = :k",             # relabelled as the old format
    "UPDATE audit_entries SET actor_name = actor_name || :sep WHERE id = :k",  # a separator smuggled in
    "UPDATE audit_entries SET department = 'mps' WHERE id = :k",           # NULL became text
    "UPDATE audit_entries SET at = :later WHERE id = :k",                  # the time moved
])
def test_format_2_names_the_changed_entry(database_url: str, change: str) -> None:
    ids = _chain(database_url, entries=8, hash_format=2)
    engine = db.make_engine(database_url)
    _unlock(engine)
    with engine.begin() as connection:
        later = NOW + timedelta(days=1, microseconds=5)
        connection.execute(text(change), {"k": ids[4], "sep": "\x1f",
                                          "later": later if engine.dialect.name == "postgresql"
                                          else later.strftime("%Y-%m-%d %H:%M:%S.%f")})
    with db.session_scope(engine) as session:
        assert audit.verify(session) == (5, ids[4])
    engine.dispose()


def test_append_refuses_separator_characters(database_url: str) -> None:
    engine = db.make_engine(database_url)
    actor = _auditee(engine)
    with db.session_scope(engine) as session, pytest.raises(ValueError, match="U\\+001E or U\\+001F"):
        audit.append(session, actor, "bench.check", "thing", "a\x1fb", now=NOW)
    engine.dispose()


def test_sqlite_walk_across_processes_agrees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Long SQLite chains are split by id range across processes; the joins between ranges are checked too."""
    url = f"sqlite:///{tmp_path / 'chain.sqlite3'}"
    setup = db.make_engine(url)
    db.upgrade(setup)
    setup.dispose()
    ids = _chain(url, entries=40, checkpoint_every=7, format2_from=3)
    monkeypatch.setattr(audit, "PARALLEL_FROM", 1)
    walks = _spy(monkeypatch, "_walk_sqlite_parallel")
    engine = db.make_engine(url)
    with db.session_scope(engine) as session:
        assert audit.verify(session) == (len(ids), None)
        assert verify_chain(session).intact
    assert len(walks) == 2   # the walk across processes ran, not the one in-process
    with engine.begin() as connection:   # an entry deleted at what is likely a range boundary
        connection.execute(text("DELETE FROM audit_entries WHERE id = :k"), {"k": ids[21]})
    with db.session_scope(engine) as session:
        assert audit.verify(session) == (22, ids[22])
    with engine.begin() as connection:   # and a changed one before it: that one is named first
        connection.execute(text("UPDATE audit_entries SET action = 'x' WHERE id = :k"), {"k": ids[10]})
    with db.session_scope(engine) as session:
        assert audit.verify(session) == (11, ids[10])
    engine.dispose()


@pytest.mark.parametrize("overlapped", [True, False])
def test_postgresql_walks_agree(postgres_database: str, monkeypatch: pytest.MonkeyPatch, overlapped: bool) -> None:
    """PostgreSQL's two walks — hash and link passes overlapped in one exported snapshot, or one statement when
    snapshots cannot be exported — give the same answers: intact, checkpoints held, the first broken named."""
    from sqlalchemy.exc import DBAPIError

    if not overlapped:
        def refuse(*args: object) -> None:
            raise DBAPIError("SELECT pg_export_snapshot()", {}, Exception("not here"))
        monkeypatch.setattr(audit, "_walk_postgres_overlapped", refuse)
    walks = _spy(monkeypatch, "_walk_postgres_overlapped")
    ids = _chain(postgres_database, entries=10, checkpoint_every=4, format2_from=2)
    engine = db.make_engine(postgres_database)
    with db.session_scope(engine) as session:
        assert audit.verify(session) == (len(ids), None)
        result = verify_chain(session)
        assert result.intact and result.checkpoints == 2
    _unlock(engine)
    with engine.begin() as connection:   # a later entry unlinked, an earlier one rehashed wrong: the earlier first
        connection.execute(text("UPDATE audit_entries SET prev_hash = :p WHERE id = :k"), {"p": "f" * 64, "k": ids[8]})
        connection.execute(text("UPDATE audit_entries SET subject_id = 'x' WHERE id = :k"), {"k": ids[5]})
    with db.session_scope(engine) as session:
        assert audit.verify(session) == (6, ids[5])
    with engine.begin() as connection:   # only the unlinked one left
        connection.execute(text("UPDATE audit_entries SET subject_id = '5' WHERE id = :k"), {"k": ids[5]})
    with db.session_scope(engine) as session:
        assert audit.verify(session) == (9, ids[8])
    engine.dispose()
    # Overlapped: every walk ended in the overlapped path (it raised nothing); else none did.
    assert walks == (["returned"] * 4 if overlapped else ["raised"] * 4)
