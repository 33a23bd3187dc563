"""The citizen's data-use view (谁用了我的数据, after Estonia's Data Tracker) and data-error corrections.

Uses are read from the audit chain itself — the same entries ``fetch`` appends — so the page cannot say
anything the tamper-evident record does not. A person who finds an error reports it; the holder gets a
correction task (数据纠错) with a ``settings.correction_days`` working-day limit on its workbench.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from onething.accounts.errors import NotFound
from onething.accounts.model import Actor, Role
from onething.accounts.permissions import authorize
from onething.audit.service import append
from onething.audit.tables import AuditEntry
from onething.catalog.model import Catalog
from onething.exchange.errors import InvalidRequest, InvalidTransition
from onething.exchange.fetch import FETCH_ACTION
from onething.exchange.grants import resource_of
from onething.exchange.model import Correction, CorrectionStatus, DataUse
from onething.exchange.tables import CorrectionRow
from onething.workdays import add_working_days

MAX_DESCRIPTION = 2000


def _use(entry: AuditEntry) -> DataUse:
    data = entry.data if isinstance(entry.data, dict) else {}
    grant_id = data.get("grant_id")
    return DataUse(entry_id=entry.id, at=entry.at, outcome=str(data.get("outcome") or entry.action.rsplit(".", 1)[-1]),
                   reason=data.get("reason"), department=entry.department, resource=data.get("resource"),
                   holder=data.get("holder"), fields=tuple(data.get("fields") or ()),
                   application_ref=entry.application_id, purpose=data.get("purpose"),
                   consent_id=data.get("consent_id"), grant_id=int(grant_id) if grant_id is not None else None,
                   basis=data.get("basis"),
                   certificate=data["certificate"] if isinstance(data.get("certificate"), dict) else None)


def data_uses(session: Session, actor: Actor, *, limit: int = 200, before_id: int | None = None) -> list[DataUse]:
    """Every use of the signed-in person's data, newest first: served, refused and unavailable alike."""
    statement = select(AuditEntry).where(AuditEntry.subject_type == "data_subject",
                                         AuditEntry.subject_id == f"user:{actor.user_id}",
                                         AuditEntry.action.startswith(FETCH_ACTION + ".", autoescape=True))
    if before_id is not None:
        statement = statement.where(AuditEntry.id < before_id)
    entries = session.execute(statement.order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 1000)))).scalars()
    return [_use(entry) for entry in entries]


def to_correction(row: CorrectionRow) -> Correction:
    return Correction(id=row.id, resource=row.resource, holder=row.holder, reporter_user_id=row.reporter_user_id,
                      fields=tuple(row.fields), description=row.description, status=CorrectionStatus(row.status),
                      reported_at=row.reported_at, due=row.due, answered_at=row.answered_at, answer=row.answer,
                      use_entry_id=row.use_entry_id)


def report_data_error(session: Session, catalog: Catalog, actor: Actor, *, resource: str, fields: Sequence[str],
                      description: str, now: datetime, correction_days: int,
                      use_entry_id: int | None = None) -> Correction:
    """A person reports an error in their data (报告数据有误): a correction task for the holder."""
    target = resource_of(catalog, resource)
    if actor.role is not Role.applicant:
        raise InvalidRequest([("actor", "仅数据主体本人可以报告数据有误")])
    if use_entry_id is not None:
        mine = session.scalar(select(AuditEntry.id).where(
            AuditEntry.id == use_entry_id, AuditEntry.subject_type == "data_subject",
            AuditEntry.subject_id == f"user:{actor.user_id}"))
        if mine is None:
            raise NotFound("data use", use_entry_id)
    errors: list[tuple[str, str]] = []
    outside = [f for f in fields if f not in target.fields]
    if outside:
        errors.append(("fields", f"{target.name}不含字段：{', '.join(outside)}"))
    description = (description or "").strip()
    if not description or len(description) > MAX_DESCRIPTION:
        errors.append(("description", f"请说明哪里有误、正确的应是什么（不超过 {MAX_DESCRIPTION} 个字符）"))
    if errors:
        raise InvalidRequest(errors)
    row = CorrectionRow(resource=target.id, holder=target.holder, reporter_user_id=actor.user_id,
                        fields=sorted(set(fields)), description=description, use_entry_id=use_entry_id,
                        status=CorrectionStatus.open.value, reported_at=now,
                        due=add_working_days(now, correction_days, catalog.calendar))
    session.add(row)
    session.flush()
    correction = to_correction(row)
    # The description may quote the person's data: it stays in the corrections table, not on the chain.
    append(session, actor, "exchange.correction.reported", "correction", row.id, now=now, department=target.holder,
           after={"resource": target.id, "fields": row.fields, "due": row.due.isoformat()})
    return correction


def answer_correction(session: Session, actor: Actor, correction_id: int, *, corrected: bool, answer: str,
                      now: datetime) -> Correction:
    """The holder's staff answer a correction: corrected, or not (with the reason)."""
    row = session.execute(select(CorrectionRow).where(CorrectionRow.id == correction_id)
                          .with_for_update()).scalar_one_or_none()
    if row is None or actor.department != row.holder:
        raise NotFound("correction", correction_id)
    authorize(actor, "correction:answer", row.holder)
    if row.status != CorrectionStatus.open.value:
        raise InvalidTransition(f"correction {correction_id} is already {row.status}")
    answer = (answer or "").strip()
    if not answer or len(answer) > MAX_DESCRIPTION:
        raise InvalidRequest([("answer", "请填写处理结果")])
    row.status = (CorrectionStatus.corrected if corrected else CorrectionStatus.rejected).value
    row.answered_at, row.answered_by, row.answer = now, actor.user_id, answer
    session.flush()
    append(session, actor, f"exchange.correction.{row.status}", "correction", row.id, now=now,
           department=row.holder, before={"status": "open"}, after={"status": row.status})
    return to_correction(row)


def list_corrections(session: Session, actor: Actor, *, status: str | None = None) -> list[Correction]:
    """A holder's correction tasks (its staff); an applicant's own reports; everything for operators/auditors."""
    statement = select(CorrectionRow)
    if actor.role in (Role.staff, Role.dept_admin):
        authorize(actor, "task:read", actor.department)
        statement = statement.where(CorrectionRow.holder == actor.department)
    elif actor.role is Role.applicant:
        statement = statement.where(CorrectionRow.reporter_user_id == actor.user_id)
    else:
        authorize(actor, "report:read")
    if status:
        statement = statement.where(CorrectionRow.status == status)
    rows = session.execute(statement.order_by(CorrectionRow.due, CorrectionRow.id)).scalars()
    return [to_correction(row) for row in rows]
