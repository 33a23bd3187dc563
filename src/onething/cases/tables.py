"""Case tables: applications, their department tasks, supplements, files, ratings, rectifications, and the
transactional outbox that department systems are fed from.

Every hot query is keyed by application id (or by department + status for queues), so that these tables can
be sharded by application later. Ids of applications, tasks, supplements and files are random UUIDs: they
appear in URLs and must not be guessable. ``version`` columns back optimistic concurrency (If-Match).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column

from onething.accounts.tables import UtcDateTime
from onething.audit.tables import AuditEntry, AuditHead  # noqa: F401 - registers the audit tables with Base
from onething.db import Base


class ApplicationRow(Base):
    """An application for one thing (办件): the applicant's answers, merged form and the plan computed at
    submission, frozen with the catalog version it came from."""

    __tablename__ = "applications"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # 办件编号: short and readable (region code + date + sequence, cases/numbers.py); the id stays in URLs.
    number: Mapped[str] = mapped_column(String(20), nullable=False)
    thing: Mapped[str] = mapped_column(String(64), nullable=False)
    catalog_version: Mapped[str] = mapped_column(String(200), nullable=False)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    form: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(200), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    promised_due: Mapped[date] = mapped_column(Date, nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # Data sharing (数据共享): the opaque reference the exchange knows this application by (its consent and
    # fetches carry it), the consent used at submission, and what the fetched data filled and proved —
    # {"materials": {id: proof}, "fields": {id: source}, "unavailable": {...}, "refused": {...}}.
    exchange_ref: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    consent_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    data_proofs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The region whose catalog rules planned it (catalog/regions/<code>); None: the national definitions.
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Acting for another (代办): who submitted it when not the applicant, and under which delegation.
    acted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    delegation_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    # 送达方式 chosen at 核对 and the tracking numbers of posted results (cases.dispatch); None: not chosen.
    delivery: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (
        UniqueConstraint("applicant_id", "idempotency_key", name="uq_applications_applicant_key"),
        UniqueConstraint("number", name="uq_applications_number"),
        Index("ix_applications_applicant_submitted", "applicant_id", "submitted_at"),
    )


class ApplicationNumberRow(Base):
    """One row per 办件编号 issued: its id is the sequence part. A new row each time (an identity/sequence on
    PostgreSQL, an autoincrement on SQLite), so numbering takes no lock on a shared counter row."""

    __tablename__ = "application_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)


class TaskRow(Base):
    """One department's procedure within an application (办件环节)."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), nullable=False, index=True)
    procedure: Mapped[str] = mapped_column(String(64), nullable=False)
    department: Mapped[str] = mapped_column(String(40), nullable=False)
    stage: Mapped[int] = mapped_column(Integer, nullable=False)
    after: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    promised_days: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    ready_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    due: Mapped[date | None] = mapped_column(Date, nullable=True)
    paused_days: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        UniqueConstraint("application_id", "procedure", name="uq_tasks_application_procedure"),
        Index("ix_tasks_department_status_due", "department", "status", "due"),
        Index("ix_tasks_status_due", "status", "due"),
    )


class SupplementRow(Base):
    """A supplement request (补正告知) from one task to the applicant; answered once."""

    __tablename__ = "supplements"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), nullable=False, index=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    fields: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    materials: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class FileRow(Base):
    """An uploaded material file (申请材料附件), stored in the database with its SHA-256."""

    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), nullable=False, index=True)
    material: Mapped[str] = mapped_column(String(64), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # Deferred: listing an application's files never loads their bytes.
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    uploaded_by: Mapped[int] = mapped_column(Integer, nullable=False)


class RatingRow(Base):
    """A rating (好差评), 1–5: ``subject`` is ``application`` for the whole, or a task id for one leg."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), nullable=False)
    subject: Mapped[str] = mapped_column(String(36), nullable=False)
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id"), nullable=True)
    department: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    rated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("application_id", "subject", name="uq_ratings_application_subject"),)


class RectificationRow(Base):
    """A rectification item (整改) opened for a department by a bad rating, due in working days."""

    __tablename__ = "rectifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), nullable=False, index=True)
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id"), nullable=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"), nullable=False)
    department: Mapped[str] = mapped_column(String(40), nullable=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    due: Mapped[date] = mapped_column(Date, nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_rectifications_department_status", "department", "status"),)


class OutboxEvent(Base):
    """An event for a department system (发件箱), written in the same transaction as the change it reports.

    The worker picks undelivered rows whose ``available_at`` has come (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL), sets ``locked_until`` while it delivers, and records each attempt in ``deliveries``.
    ``event_id`` is what receivers de-duplicate on.
    """

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    department: Mapped[str | None] = mapped_column(String(40), nullable=True)
    application_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    available_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (Index("ix_outbox_events_pending", "delivered_at", "available_at"),)


class Delivery(Base):
    """One attempt to deliver an outbox event to a department's webhook (投递记录)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    department: Mapped[str | None] = mapped_column(String(40), nullable=True)
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)


class DraftRow(Base):
    """An application being filled in steps (申请草稿): owned by the person filling it, resumable from 我的办件,
    expiring ``consent_draft_idle_hours`` after the last step saved, deleted when submitted. ``form`` holds the
    values as typed (shown again as they were); the submit service checks them."""

    __tablename__ = "drafts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    thing: Mapped[str] = mapped_column(String(64), nullable=False)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    form: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    delivery: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    on_behalf_of: Mapped[str | None] = mapped_column(String(36), nullable=True)  # a delegation id (为谁申请)
    consent_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    ref: Mapped[str] = mapped_column(String(36), nullable=False)
    step: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    __table_args__ = (Index("ix_drafts_applicant_updated", "applicant_id", "updated_at"),)


class DraftFileRow(Base):
    """A material file uploaded while the application was a draft; becomes a ``files`` row on submission."""

    __tablename__ = "draft_files"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    draft_id: Mapped[str] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"), nullable=False, index=True)
    material: Mapped[str] = mapped_column(String(64), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    uploaded_by: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
