"""``onething bench audit``: how fast the audit chain (审计链) takes entries, and how fast it is verified.

Entries are appended through ``audit.service.append`` — ``batch`` of them per transaction; the service writes
a checkpoint every ``audit_checkpoint_every`` entries — so the chain carries checkpoints like a real one.
Each entry is shaped like a data-fetch record (the most frequent kind).
A million entries through the ORM take a quarter of an hour on a small machine, so only ``service_entries``
(default 20 000) go through the service to measure its rate; the rest of the chain is seeded with SQLAlchemy
Core — the same content, hashed onto the chain with the service's own format-2 hash (``audit.chain``), the
head moved and a checkpoint written every ``audit_checkpoint_every`` entries — so that verify reads a chain
like a real one.
Then ``verify`` (the hash chain alone) and ``verify_chain`` (chain and every checkpoint, what
``onething audit verify`` runs) are timed on the full chain.
"""

from __future__ import annotations

import time
from typing import Any

from onething import db
from onething.bench.common import backend_of, machine, prepared_database, safe_url, table_of, utcnow

MAX_ENTRIES = 10_000_000


def _entry(i: int) -> dict[str, Any]:
    return {
        "action": "exchange.fetch.served", "subject_type": "data_subject", "subject_id": f"user:{i % 5000}",
        "application_id": f"bench-application-{i // 10:08d}", "department": "mps",
        "data": {"resource": "medical_death_certificate", "holder": "nhc", "purpose": "death-household-cancellation",
                 "fields": ["deceased_name", "deceased_id_number", "death_date"], "consent_id": f"consent-{i // 10}",
                 "grant_id": 1, "basis": "grant", "subject": "1101**********0011", "outcome": "served",
                 "reason": None, "detail": None, "found": True},
    }


def _seed(engine: Any, actor: Any, start: int, entries: int, every: int, hash_format: int,
          batch: int = 5000) -> None:
    """Chain ``entries`` more entries with Core (the service's hashing, head and checkpoints), fast."""
    from sqlalchemy import insert, select, update

    from onething.audit.service import HEAD_ID, entry_digest
    from onething.audit.tables import AuditCheckpoint, AuditEntry, AuditHead

    table, head_table, marks = table_of(AuditEntry), table_of(AuditHead), table_of(AuditCheckpoint)
    done = 0
    while done < entries:
        size = min(batch, entries - done)
        now = utcnow()
        with engine.begin() as conn:
            total, previous = conn.execute(select(head_table.c.count, head_table.c.last_hash)
                                           .where(head_table.c.id == HEAD_ID).with_for_update()).one()
            rows = []
            for i in range(start + done, start + done + size):
                entry = _entry(i)
                values = {"at": now, "actor_id": actor.user_id, "actor_name": actor.name,
                          "actor_role": actor.role.value, "before": None, "after": None,
                          **entry}  # already plain JSON: what append stores
                digest = entry_digest(values, previous, hash_format)
                rows.append({**values, "prev_hash": previous, "hash": digest, "hash_format": hash_format})
                previous = digest
            ids = conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars().all()
            checkpoints = [{"last_id": ids[k], "hash": rows[k]["hash"], "count": total + k + 1, "at": now}
                           for k in range(size) if (total + k + 1) % every == 0]
            if checkpoints:
                conn.execute(insert(marks), checkpoints)
            conn.execute(update(head_table).where(head_table.c.id == HEAD_ID)
                         .values(count=total + size, last_id=ids[-1], last_hash=previous))
        done += size


def run_audit(*, entries: int, database: str | None = None, batch: int = 500,
              service_entries: int = 20_000, hash_format: int | None = None) -> dict[str, Any]:
    """Append entries through the audit service (and seed the rest), then time verify and verify_chain.

    ``hash_format`` (default: the current one) writes the whole chain in that format — 1 to measure the
    verification of chains written before migration 0007 against the current format in one run."""
    from onething.accounts.api import actor_for_user, create_user
    from onething.audit.chain import FORMAT
    from onething.audit.checkpoints import verify_chain
    from onething.audit.service import append, verify
    from onething.config import get_settings

    if not 1 <= entries <= MAX_ENTRIES:
        raise ValueError(f"entries must be 1–{MAX_ENTRIES}")
    chosen = FORMAT if hash_format is None else hash_format
    if chosen not in (1, FORMAT):
        raise ValueError(f"hash format must be 1 or {FORMAT}")
    batch = max(1, min(batch, 10_000))
    every = get_settings().audit_checkpoint_every
    with prepared_database(database, publish=False) as (url, engine):
        with db.session_scope(engine) as session:
            create_user(session, name="bench-mps-staff", role="staff", department="mps", now=utcnow())
        with db.session_scope(engine) as session:
            actor = actor_for_user(session, "bench-mps-staff")
        through_service = max(1, min(entries, service_entries))
        started = time.perf_counter()
        done = 0
        while done < through_service:
            size = min(batch, through_service - done)
            with db.session_scope(engine) as session:
                now = utcnow()
                for i in range(done, done + size):
                    append(session, actor, now=now, hash_format=chosen, **_entry(i))
            done += size
        append_seconds = time.perf_counter() - started
        started = time.perf_counter()
        _seed(engine, actor, done, entries - done, every, chosen)
        seed_seconds = time.perf_counter() - started

        with db.session_scope(engine) as session:
            started = time.perf_counter()
            count, broken = verify(session)
            verify_seconds = time.perf_counter() - started
        with db.session_scope(engine) as session:
            started = time.perf_counter()
            result = verify_chain(session)
            chain_seconds = time.perf_counter() - started
        vacuumed: dict[str, float] = {}
        if engine.dialect.name == "postgresql":
            # A chain that has been in service a while has been vacuumed and analysed by autovacuum; one just
            # bulk-loaded has neither statistics nor hint bits. Time verify_chain both ways.
            from sqlalchemy import text

            started = time.perf_counter()
            with engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("VACUUM (ANALYZE) audit_entries"))
            vacuumed["vacuum_seconds"] = round(time.perf_counter() - started, 3)
            with db.session_scope(engine) as session:
                started = time.perf_counter()
                again = verify_chain(session)
                vacuumed["verify_chain_vacuumed_seconds"] = round(time.perf_counter() - started, 3)
            if not again.intact:  # pragma: no cover - vacuum never changes content
                raise RuntimeError("the chain no longer verifies after VACUUM")
    return {
        "bench": "audit", "backend": backend_of(url), "database": safe_url(url), "entries": entries,
        "hash_format": chosen,
        "batch": batch, "service_entries": through_service, "append_seconds": round(append_seconds, 3),
        "append_per_s": round(through_service / append_seconds, 1) if append_seconds else 0.0,
        "seeded_entries": entries - through_service, "seed_seconds": round(seed_seconds, 3),
        "verify_seconds": round(verify_seconds, 3), "verify_per_s": round(count / verify_seconds, 1),
        "verify_chain_seconds": round(chain_seconds, 3), "checkpoints": result.checkpoints,
        "verified": count, "intact": broken is None and result.intact, **vacuumed, "machine": machine(),
    }
