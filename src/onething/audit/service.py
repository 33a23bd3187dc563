"""Append to and verify the audit chain (审计链).

``append`` is called by every context's services inside their own transaction, so an entry is written if and
only if the state change it records is committed. Appends are serialised on the ``audit_head`` row — on
PostgreSQL with ``SELECT … FOR UPDATE``; SQLite serialises writers itself, and a no-op ``UPDATE`` first makes
this transaction the writer before it reads the head — so the chain never forks. Later work (checkpoints
signed off-site, ``onething audit verify``) builds on ``entry_hash`` and ``verify``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from onething.accounts.model import Actor
from onething.audit.tables import GENESIS_HASH, AuditEntry, AuditHead

HEAD_ID = 1


def _plain(value: Any) -> Any:
    """JSON-ready copy of a value: what is stored is exactly what is hashed."""
    if value is None:
        return None
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _timestamp(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC datetime")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_content(entry: AuditEntry | dict[str, Any]) -> dict[str, Any]:
    """The hashed fields of an entry (everything but its id and hashes), in canonical form."""
    def get(key: str) -> Any:
        return entry[key] if isinstance(entry, dict) else getattr(entry, key)

    return {
        "at": _timestamp(get("at")), "actor_id": get("actor_id"), "actor_name": get("actor_name"),
        "actor_role": get("actor_role"), "action": get("action"), "subject_type": get("subject_type"),
        "subject_id": get("subject_id"), "application_id": get("application_id"),
        "department": get("department"), "before": get("before"), "after": get("after"), "data": get("data"),
    }


def entry_hash(content: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of the content and ``prev_hash``."""
    canonical = json.dumps({"content": content, "prev_hash": prev_hash}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _lock_head(session: Session) -> tuple[int, str]:
    if session.get_bind().dialect.name == "sqlite":
        # Take SQLite's write lock before reading, so no other writer can chain onto the same head.
        session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(count=AuditHead.count))
    row = session.execute(
        select(AuditHead.count, AuditHead.last_hash).where(AuditHead.id == HEAD_ID).with_for_update()
    ).one_or_none()
    if row is None:
        # A schema made without the migration (which seeds the head): start the chain here.
        session.execute(insert(AuditHead).values(id=HEAD_ID, count=0, last_id=None, last_hash=GENESIS_HASH))
        return 0, GENESIS_HASH
    return int(row[0]), str(row[1])


def append(session: Session, actor: Actor, action: str, subject_type: str, subject_id: str | int, *,
           now: datetime, before: Any = None, after: Any = None, data: Any = None,
           application_id: str | None = None, department: str | None = None) -> AuditEntry:
    """Append one entry inside the caller's transaction and return it (flushed, with its id)."""
    values: dict[str, Any] = {
        "at": now.astimezone(UTC), "actor_id": actor.user_id, "actor_name": actor.name,
        "actor_role": actor.role.value, "action": action, "subject_type": subject_type,
        "subject_id": str(subject_id), "application_id": application_id, "department": department,
        "before": _plain(before), "after": _plain(after), "data": _plain(data),
    }
    count, prev_hash = _lock_head(session)
    digest = entry_hash(entry_content(values), prev_hash)
    entry = AuditEntry(**values, prev_hash=prev_hash, hash=digest)
    session.add(entry)
    session.flush()
    session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID)
                    .values(count=count + 1, last_id=entry.id, last_hash=digest))
    return entry


def verify(session: Session, batch: int = 1000) -> tuple[int, int | None]:
    """Walk the chain in order: (entries checked, id of the first bad entry or None when intact).

    An entry is bad when its ``prev_hash`` is not its predecessor's hash or its ``hash`` does not match its
    content. A chain cut short at the end (the head names a later entry) reports the head's last id.
    """
    prev_hash = GENESIS_HASH
    count = 0
    last_id: int | None = None
    stream = session.execute(select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=batch))
    for entry in stream.scalars():
        count += 1
        if entry.prev_hash != prev_hash or entry.hash != entry_hash(entry_content(entry), entry.prev_hash):
            return count, entry.id
        prev_hash = entry.hash
        last_id = entry.id
    head = session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID)).scalar_one_or_none()
    if head is not None and (head.last_hash != prev_hash or head.count != count):
        return count, head.last_id if head.last_id != last_id else last_id
    return count, None


def entries_for(session: Session, application_id: str) -> Sequence[AuditEntry]:
    """The audit entries of one application, oldest first (the case's timeline)."""
    return session.execute(
        select(AuditEntry).where(AuditEntry.application_id == application_id).order_by(AuditEntry.id)
    ).scalars().all()
