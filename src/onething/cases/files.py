"""Uploaded materials (申请材料附件): size and type limits, content hash, linked to the material they prove."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session

from onething.accounts.api import Actor, NotFound, authorize
from onething.cases.errors import (
    Conflict,
    DailyUploadQuotaExceeded,
    Invalid,
    TooLarge,
    UnsupportedType,
    UploadQuotaExceeded,
)
from onething.cases.events import Changes
from onething.cases.model import APPLICATION_ACTIVE, ApplicationStatus
from onething.cases.settings import CaseSettings, get_case_settings
from onething.cases.tables import ApplicationRow, FileRow
from onething.cases.views import file_view
from onething.db import session_scope
from onething.delegations import api as delegations

# The first bytes each accepted type must start with: a declared type is not trusted on its own.
MAGIC: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/ofd": (b"PK\x03\x04",),  # OFD (GB/T 33190) is a zip container
}
MAX_FILENAME = 255


def _clean_filename(filename: str) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:MAX_FILENAME] or "upload"


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def checked_upload(settings: CaseSettings, content_type: str, data: bytes) -> str:
    """The declared type of an acceptable upload (size, declared type, content's first bytes); else the error."""
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if len(data) > settings.upload_max_bytes:
        raise TooLarge(f"文件超过 {settings.upload_max_bytes // (1024 * 1024)} MB 上限")
    if declared not in settings.upload_content_types:
        raise UnsupportedType("仅接受：" + "、".join(settings.upload_content_types))
    if not data:
        raise Invalid([("file", "文件为空")])
    if not data.startswith(MAGIC.get(declared, (b"",))):
        raise UnsupportedType(f"文件内容与声明的类型 {declared} 不符")
    return declared


def daily_uploads(session: Session, user_id: int, now: datetime) -> tuple[int, int]:
    """Files and bytes ``user_id`` uploaded in the last 24 hours, to applications and to drafts alike."""
    from onething.cases.tables import DraftFileRow

    count, total = session.execute(
        select(func.count(), func.coalesce(func.sum(FileRow.size), 0))
        .where(FileRow.uploaded_by == user_id, FileRow.uploaded_at > now - timedelta(days=1))).one()
    draft_count, draft_total = session.execute(
        select(func.count(), func.coalesce(func.sum(DraftFileRow.size), 0))
        .where(DraftFileRow.uploaded_by == user_id, DraftFileRow.uploaded_at > now - timedelta(days=1))).one()
    return int(count) + int(draft_count), int(total) + int(draft_total)


def check_daily_quota(session: Session, settings: CaseSettings, user_id: int, size: int, now: datetime) -> None:
    day_count, day_total = daily_uploads(session, user_id, now)
    if day_count + 1 > settings.upload_max_files_per_day:
        raise DailyUploadQuotaExceeded(f"每人 24 小时内最多上传 {settings.upload_max_files_per_day} 个文件，"
                                       "请明天再试")
    if day_total + size > settings.upload_max_bytes_per_day:
        raise DailyUploadQuotaExceeded(f"每人 24 小时内上传的文件合计不超过 "
                                       f"{_mib(settings.upload_max_bytes_per_day)}，请明天再试")


def _check_quotas(session: Session, settings: CaseSettings, actor: Actor, application_id: str, size: int,
                  now: datetime) -> None:
    """Per application (count, bytes) and per applicant over the last 24 hours (count, bytes)."""
    count, total = session.execute(
        select(func.count(), func.coalesce(func.sum(FileRow.size), 0))
        .where(FileRow.application_id == application_id)).one()
    if count + 1 > settings.upload_max_files_per_application:
        raise UploadQuotaExceeded(f"每件申请最多上传 {settings.upload_max_files_per_application} 个文件，"
                                  f"本申请已上传 {count} 个")
    if total + size > settings.upload_max_bytes_per_application:
        raise UploadQuotaExceeded(f"每件申请的文件合计不超过 {_mib(settings.upload_max_bytes_per_application)}，"
                                  f"本申请已上传 {_mib(total)}")
    check_daily_quota(session, settings, actor.user_id, size, now)


def attach_file(engine: Engine, actor: Actor, application_id: str, *, material: str, filename: str,
                content_type: str, data: bytes, now: datetime) -> dict[str, Any]:
    """Store one uploaded file for a material of the applicant's own application (上传材料) — or, for an agent,
    of an application they submitted on the applicant's behalf while the delegation is in force."""
    authorize(actor, "application:upload")
    settings = get_case_settings()
    declared = checked_upload(settings, content_type, data)
    with session_scope(engine) as session:
        # Locked (PostgreSQL) so that two uploads at once cannot both pass the application's quota.
        app = session.scalar(select(ApplicationRow).where(
            ApplicationRow.id == application_id,
            or_(ApplicationRow.applicant_id == actor.user_id, ApplicationRow.acted_by_id == actor.user_id))
                             .with_for_update())
        if app is not None and app.applicant_id != actor.user_id and (
                app.delegation_id not in delegations.acting_delegations(session, actor, now)):
            app = None  # an agent uploads to what they submitted only while the delegation is in force
        if app is None:
            raise NotFound("application", application_id)
        if ApplicationStatus(app.status) not in APPLICATION_ACTIVE:
            raise Conflict("申请已结束，不能再上传材料")
        materials = {m["id"] for m in app.plan.get("materials", [])}
        if material not in materials:
            raise Invalid([("material", f"不是本申请的材料：{material}")])
        _check_quotas(session, settings, actor, app.id, len(data), now)
        row = FileRow(
            id=str(uuid.uuid4()), application_id=app.id, material=material, filename=_clean_filename(filename),
            content_type=declared, size=len(data), sha256=hashlib.sha256(data).hexdigest(), content=data,
            uploaded_at=now, uploaded_by=actor.user_id,
        )
        session.add(row)
        session.flush()
        changes = Changes(actor, now)
        changes.audit("file.attached", "file", row.id, application_id=app.id,
                      after={"material": material, "sha256": row.sha256, "size": row.size})
        changes.write(session)
        return file_view(row)
