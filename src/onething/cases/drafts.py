"""Drafts (申请草稿): an application filled in steps (情形 → 信息 → 材料 → 核对 → 提交), saved server-side.

A draft belongs to whoever fills it (anyone else: NotFound, as for applications). It keeps the answers, the
values as typed, the files uploaded so far, the delivery choice, the region, 为谁申请 and the consent with its
application reference. It expires ``consent_draft_idle_hours`` after the last step saved (the same idle time
as the draft's consent); an expired draft is gone (NotFound) and its files with it. On submission the
application is made by ``submit_application`` with the draft's id as its idempotency key, the draft's files
become the application's files (the per-application quota is checked again) and the draft is deleted, in one
transaction: a second submission of the same draft answers the application the first one made.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select
from sqlalchemy.orm import Session

from onething.accounts.api import Actor, NotFound, authorize
from onething.cases.errors import Conflict, Invalid, UploadQuotaExceeded
from onething.cases.events import Changes
from onething.cases.files import _clean_filename, _mib, check_daily_quota, checked_upload
from onething.cases.settings import get_case_settings
from onething.cases.tables import ApplicationRow, DraftFileRow, DraftRow, FileRow
from onething.db import session_scope

STEPS = ("info", "materials", "check")
MAX_LIVE_DRAFTS = 20  # per applicant: drafts hold typed personal data and files; more is abuse, not use
KEY_PREFIX = "draft-"


def _idle() -> timedelta:
    from onething.config import get_settings

    return timedelta(hours=int(get_settings().consent_draft_idle_hours))


@dataclass(frozen=True)
class DraftFile:
    id: str
    material: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime


@dataclass(frozen=True)
class Draft:
    id: str
    thing: str
    answers: dict[str, Any]
    form: dict[str, Any]
    delivery: dict[str, Any] | None
    region: str | None
    on_behalf_of: str | None
    consent_id: str | None
    ref: str
    step: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    files: tuple[DraftFile, ...]

    @property
    def idempotency_key(self) -> str:
        return KEY_PREFIX + self.id

    def file_for(self, material: str) -> DraftFile | None:
        return next((f for f in self.files if f.material == material), None)


def _view(session: Session, row: DraftRow) -> Draft:
    files = session.scalars(select(DraftFileRow).where(DraftFileRow.draft_id == row.id)
                            .order_by(DraftFileRow.uploaded_at)).all()
    return Draft(id=row.id, thing=row.thing, answers=dict(row.answers), form=dict(row.form),
                 delivery=dict(row.delivery) if row.delivery else None, region=row.region,
                 on_behalf_of=row.on_behalf_of, consent_id=row.consent_id, ref=row.ref, step=row.step,
                 created_at=row.created_at, updated_at=row.updated_at, expires_at=row.expires_at,
                 files=tuple(DraftFile(f.id, f.material, f.filename, f.content_type, f.size, f.sha256,
                                       f.uploaded_at) for f in files))


def _own(session: Session, actor: Actor, draft_id: str, now: datetime, *, lock: bool = False) -> DraftRow:
    """The actor's own live draft; another's, an unknown or an expired one is NotFound (``purge_expired`` deletes
    expired ones)."""
    query = select(DraftRow).where(DraftRow.id == draft_id, DraftRow.applicant_id == actor.user_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None or row.expires_at <= now:
        raise NotFound("draft", draft_id)
    return row


def start_draft(engine: Engine, actor: Actor, *, thing: str, answers: Mapping[str, Any], ref: str,
                consent_id: str | None, region: str | None, on_behalf_of: str | None, now: datetime) -> Draft:
    """A new draft at its first step (信息). The caller has planned ``answers`` for ``thing``."""
    authorize(actor, "application:submit")
    with session_scope(engine) as session:
        _check_room(session, actor, now)
        row = DraftRow(id=str(uuid.uuid4()), applicant_id=actor.user_id, thing=thing, answers=dict(answers),
                       form={}, delivery=None, region=region or None, on_behalf_of=on_behalf_of or None,
                       consent_id=None if on_behalf_of else consent_id, ref=ref, step="info", created_at=now,
                       updated_at=now, expires_at=now + _idle())
        session.add(row)
        session.flush()
        return _view(session, row)


def _check_room(session: Session, actor: Actor, now: datetime) -> None:
    _purge(session, now, DraftRow.applicant_id == actor.user_id)  # the applicant's own expired drafts go
    live = session.scalar(select(func.count()).select_from(DraftRow).where(DraftRow.applicant_id == actor.user_id))
    if (live or 0) >= MAX_LIVE_DRAFTS:
        raise Conflict(f"您已有 {live} 份未提交的申请，请先在“我的办件”中继续填写或等待其过期")


def check_room(engine: Engine, actor: Actor, now: datetime) -> None:
    """Conflict when the applicant already has ``MAX_LIVE_DRAFTS`` live drafts (before asking for a consent)."""
    with session_scope(engine) as session:
        _check_room(session, actor, now)


def get_draft(engine: Engine, actor: Actor, draft_id: str, now: datetime) -> Draft:
    with session_scope(engine) as session:
        return _view(session, _own(session, actor, draft_id, now))


def list_drafts(engine: Engine, actor: Actor, now: datetime) -> list[Draft]:
    """The actor's live drafts, latest first (继续填写 on 我的办件)."""
    with session_scope(engine) as session:
        rows = session.scalars(select(DraftRow).where(DraftRow.applicant_id == actor.user_id,
                                                      DraftRow.expires_at > now)
                               .order_by(DraftRow.updated_at.desc())).all()
        return [_view(session, row) for row in rows]


def save_draft(engine: Engine, actor: Actor, draft_id: str, *, now: datetime, form: Mapping[str, Any] | None = None,
               delivery: Mapping[str, Any] | None = None, step: str | None = None) -> Draft:
    """Save one step: ``form`` values merge into the saved ones; the idle expiry starts again."""
    if step is not None and step not in STEPS:
        raise Invalid([("step", "未知步骤")])
    with session_scope(engine) as session:
        row = _own(session, actor, draft_id, now, lock=True)
        if form is not None:
            row.form = {**row.form, **{k: v for k, v in form.items() if isinstance(k, str)}}
        if delivery is not None:
            row.delivery = {k: v for k, v in delivery.items() if k in ("method", "address") and isinstance(v, str)}
        if step is not None and STEPS.index(step) > STEPS.index(row.step):
            row.step = step
        row.updated_at = now
        row.expires_at = now + _idle()
        session.flush()
        return _view(session, row)


def add_draft_file(engine: Engine, actor: Actor, draft_id: str, *, material: str, materials: Mapping[str, str],
                   filename: str, content_type: str, data: bytes, now: datetime) -> DraftFile:
    """Store one file for a material of the draft's plan (``materials``: those to upload), replacing the one
    uploaded before for it. The same checks as an application's files: size, type, content, the per-application
    quota (over the draft's files) and the uploader's 24-hour quota."""
    authorize(actor, "application:upload")
    settings = get_case_settings()
    declared = checked_upload(settings, content_type, data)
    if material not in materials:
        raise Invalid([("material", f"不是本申请需要上传的材料：{material}")])
    with session_scope(engine) as session:
        row = _own(session, actor, draft_id, now, lock=True)
        # The day's quota before the replaced file goes: replacing is an upload too (else it would be unlimited).
        check_daily_quota(session, settings, actor.user_id, len(data), now)
        session.execute(delete(DraftFileRow).where(DraftFileRow.draft_id == row.id,
                                                   DraftFileRow.material == material))
        count, total = session.execute(select(func.count(), func.coalesce(func.sum(DraftFileRow.size), 0))
                                       .where(DraftFileRow.draft_id == row.id)).one()
        if count + 1 > settings.upload_max_files_per_application:
            raise UploadQuotaExceeded(f"每件申请最多上传 {settings.upload_max_files_per_application} 个文件")
        if total + len(data) > settings.upload_max_bytes_per_application:
            raise UploadQuotaExceeded(f"每件申请的文件合计不超过 {_mib(settings.upload_max_bytes_per_application)}")
        file = DraftFileRow(id=str(uuid.uuid4()), draft_id=row.id, material=material,
                            filename=_clean_filename(filename), content_type=declared, size=len(data),
                            sha256=hashlib.sha256(data).hexdigest(), content=data, uploaded_at=now,
                            uploaded_by=actor.user_id)
        session.add(file)
        row.updated_at = now
        row.expires_at = now + _idle()
        session.flush()
        return DraftFile(file.id, material, file.filename, declared, file.size, file.sha256, now)


def submitted_from(engine: Engine, actor: Actor, draft_id: str) -> str | None:
    """The application a (now deleted) draft of the actor's was submitted as: a second 提交 finds it."""
    with session_scope(engine) as session:
        return session.scalar(select(ApplicationRow.id).where(
            or_(ApplicationRow.applicant_id == actor.user_id, ApplicationRow.acted_by_id == actor.user_id),
            ApplicationRow.idempotency_key == KEY_PREFIX + draft_id))


def adopt_draft(engine: Engine, actor: Actor, draft_id: str, application_id: str, *, now: datetime) -> list[str]:
    """After submission: the draft's files become the application's files (materials the stored plan still asks
    for), the draft is deleted. Returns the materials whose file was not kept. A draft already gone: nothing."""
    kept: list[str] = []
    dropped: list[str] = []
    with session_scope(engine) as session:
        row = session.scalar(select(DraftRow).where(DraftRow.id == draft_id, DraftRow.applicant_id == actor.user_id)
                             .with_for_update())
        if row is None:
            return []
        app = session.scalar(select(ApplicationRow).where(
            ApplicationRow.id == application_id, ApplicationRow.idempotency_key == KEY_PREFIX + draft_id))
        if app is None:
            raise NotFound("application", application_id)
        wanted = {m["id"] for m in app.plan.get("materials", []) if m.get("status") != "exempt"}
        changes = Changes(actor, now)
        for file in session.scalars(select(DraftFileRow).where(DraftFileRow.draft_id == draft_id)).all():
            if file.material not in wanted:
                dropped.append(file.material)
                continue
            moved = FileRow(id=str(uuid.uuid4()), application_id=app.id, material=file.material,
                            filename=file.filename, content_type=file.content_type, size=file.size,
                            sha256=file.sha256, content=file.content, uploaded_at=file.uploaded_at,
                            uploaded_by=file.uploaded_by)
            session.add(moved)
            kept.append(moved.id)
            changes.audit("file.attached", "file", moved.id, application_id=app.id,
                          after={"material": moved.material, "sha256": moved.sha256, "size": moved.size})
        session.execute(delete(DraftFileRow).where(DraftFileRow.draft_id == draft_id))
        session.delete(row)
        session.flush()
        changes.write(session)
    return dropped


def purge_expired(engine: Engine, now: datetime) -> int:
    """Delete expired drafts and their files (housekeeping; starting a draft also deletes the applicant's own
    expired ones); the count deleted."""
    with session_scope(engine) as session:
        return _purge(session, now)


def _purge(session: Session, now: datetime, *where: Any) -> int:
    ids = list(session.scalars(select(DraftRow.id).where(DraftRow.expires_at <= now, *where)))
    if ids:
        session.execute(delete(DraftFileRow).where(DraftFileRow.draft_id.in_(ids)))
        session.execute(delete(DraftRow).where(DraftRow.id.in_(ids)))
    return len(ids)
