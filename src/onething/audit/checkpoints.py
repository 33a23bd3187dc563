"""Checkpoints of the audit chain (审计检查点), the full verification, and the auditor's search.

A checkpoint records the chain's head — last entry id, its hash, the number of entries — at a moment. They
are published (``GET /api/v1/audit/checkpoints``) so that an outside party can keep copies and later hold the
platform to them: a chain rewritten from some entry on, with every later hash recomputed, still links up, but
it no longer matches the hashes published before the rewrite. One is written every
``settings.audit_checkpoint_every`` entries — by ``audit.service`` as it appends, at each entry whose position
is a multiple, so no query is spent on it — and on demand (``create_checkpoint``, ``onething audit
checkpoint``). ``maybe_checkpoint`` remains for callers that want one when enough entries have gone by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from onething.accounts.model import Actor
from onething.accounts.permissions import authorize
from onething.audit.service import HEAD_ID, walk
from onething.audit.tables import AuditCheckpoint, AuditEntry, AuditHead


@dataclass(frozen=True)
class Verification:
    """The result of ``verify_chain``: entries checked, the first broken entry (or None), and why."""

    count: int
    broken_id: int | None
    problem: str | None
    checkpoints: int

    @property
    def intact(self) -> bool:
        return self.broken_id is None and self.problem is None


def create_checkpoint(session: Session, now: datetime) -> AuditCheckpoint | None:
    """Record the current head as a checkpoint; None when the chain is empty or the head is already one."""
    head = session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()).scalar_one_or_none()
    if head is None or head.last_id is None:
        return None
    if session.scalar(select(AuditCheckpoint.id).where(AuditCheckpoint.last_id == head.last_id)) is not None:
        return None
    checkpoint = AuditCheckpoint(last_id=head.last_id, hash=head.last_hash, count=head.count, at=now)
    session.add(checkpoint)
    session.flush()
    return checkpoint


def maybe_checkpoint(session: Session, now: datetime, every: int) -> AuditCheckpoint | None:
    """Write a checkpoint when ``every`` or more entries were appended since the last one."""
    if every <= 0:
        return None
    count = session.scalar(select(AuditHead.count).where(AuditHead.id == HEAD_ID))
    last = session.scalar(select(func.max(AuditCheckpoint.count)))
    if count is None or count - (last or 0) < every:
        return None
    return create_checkpoint(session, now)


def list_checkpoints(session: Session, limit: int = 1000) -> Sequence[AuditCheckpoint]:
    """Checkpoints, newest first (public: they carry hashes only, no content)."""
    return session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.last_id.desc()).limit(limit)
    ).scalars().all()


def verify_chain(session: Session) -> Verification:
    """Recompute the whole chain (``audit.service.verify``), then hold it to every checkpoint.

    A checkpoint fails when its entry is gone, carries another hash, or the number of entries up to it
    differs (an entry before it was removed or inserted). The first broken entry is named.

    One pass: the walk notes each checkpointed entry's position and hash as it goes (the position of an entry
    in the id-ordered chain is the number of entries up to it), instead of a count query per checkpoint.
    """
    checkpoints = session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.last_id)).scalars().all()
    count, broken, seen = walk(session, watch={c.last_id for c in checkpoints})
    if broken is not None:
        return Verification(count, broken, f"entry {broken} does not match its content or predecessor",
                            len(checkpoints))
    for checkpoint in checkpoints:
        position, entry_hash = seen.get(checkpoint.last_id, (None, None))
        if entry_hash != checkpoint.hash or position != checkpoint.count:
            return Verification(count, checkpoint.last_id,
                                f"checkpoint {checkpoint.id} (entry {checkpoint.last_id}) no longer matches",
                                len(checkpoints))
    return Verification(count, None, None, len(checkpoints))


@dataclass(frozen=True)
class EntryFilter:
    """What an auditor searches by; every criterion is optional and they combine with AND."""

    action: str | None = None
    action_prefix: str | None = None
    actor_name: str | None = None
    department: str | None = None
    application_id: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_id: int | None = None
    limit: int = 100


def search_entries(session: Session, actor: Actor, query: EntryFilter) -> Sequence[AuditEntry]:
    """The auditor's search of the log (审计查询), oldest first, paged by ``after_id``. Read only."""
    authorize(actor, "audit:read")
    statement = select(AuditEntry)
    if query.action:
        statement = statement.where(AuditEntry.action == query.action)
    if query.action_prefix:
        statement = statement.where(AuditEntry.action.startswith(query.action_prefix, autoescape=True))
    if query.actor_name:
        statement = statement.where(AuditEntry.actor_name == query.actor_name)
    if query.department:
        statement = statement.where(AuditEntry.department == query.department)
    if query.application_id:
        statement = statement.where(AuditEntry.application_id == query.application_id)
    if query.subject_type:
        statement = statement.where(AuditEntry.subject_type == query.subject_type)
    if query.subject_id:
        statement = statement.where(AuditEntry.subject_id == query.subject_id)
    if query.since:
        statement = statement.where(AuditEntry.at >= query.since)
    if query.until:
        statement = statement.where(AuditEntry.at < query.until)
    if query.after_id:
        statement = statement.where(AuditEntry.id > query.after_id)
    limit = max(1, min(query.limit, 1000))
    return session.execute(statement.order_by(AuditEntry.id).limit(limit)).scalars().all()
