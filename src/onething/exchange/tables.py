"""Exchange tables: directory publications, access grants, consents, data-error corrections, and the demo
registries that the built-in provider serves.

Every change to these rows is also an entry on the audit chain (``onething.audit``); the rows hold current
state, the chain holds history. Consent ids are random UUIDs: they appear in URLs and forms.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from onething.accounts.tables import UtcDateTime
from onething.audit.tables import AuditCheckpoint  # noqa: F401 - registers audit_checkpoints with Base
from onething.db import Base


class DirectoryPublication(Base):
    """A published directory entry (目录发布): the resource as published, with its date.

    ``entry_hash`` is the SHA-256 of the entry's canonical JSON; ``removed`` marks a withdrawn resource.
    """

    __tablename__ = "directory_publications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), nullable=False)
    entry_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    entry: Mapped[Any] = mapped_column(JSON, nullable=True)
    removed: Mapped[bool] = mapped_column(default=False, nullable=False)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    published_by: Mapped[str] = mapped_column(String(200), nullable=False)

    __table_args__ = (Index("ix_directory_publications_resource", "resource", "published_at"),)


class GrantRow(Base):
    """An access grant (共享授权) of a conditional resource to a consumer department."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), nullable=False)
    holder: Mapped[str] = mapped_column(String(40), nullable=False)
    consumer: Mapped[str] = mapped_column(String(40), nullable=False)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    procedures: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    legal_basis: Mapped[str] = mapped_column(Text, nullable=False)
    fields: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    requested_by: Mapped[int] = mapped_column(Integer, nullable=False)
    due: Mapped[date] = mapped_column(Date, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    decided_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_grants_consumer_resource", "consumer", "resource", "status"),
        Index("ix_grants_holder_status", "holder", "status"),
    )


class ConsentRow(Base):
    """A data subject's consent (授权同意) for one application and purpose."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    application_ref: Mapped[str] = mapped_column(String(36), nullable=False)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    procedures: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    resources: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    fields: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The draft's fetched facts (values included), reused by every re-render of its apply form and dropped
    # when the consent is revoked or its application submitted; never on the audit chain.
    facts_cache: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # A draft never submitted: the consent ends this long after the applicant's last activity (NULL once
    # the application is submitted).
    idle_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (
        Index("ix_consents_subject", "subject_user_id", "granted_at"),
        Index("ix_consents_application_ref", "application_ref"),
    )


class CorrectionRow(Base):
    """A reported error in a holder's data (数据纠错): a task on the holder's workbench with a time limit."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), nullable=False)
    holder: Mapped[str] = mapped_column(String(40), nullable=False)
    reporter_user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    fields: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    use_entry_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    due: Mapped[date] = mapped_column(Date, nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    answered_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_corrections_holder_status", "holder", "status", "due"),
        Index("ix_corrections_reporter", "reporter_user_id"),
    )


class RegistryRecord(Base):
    """A record in a demo registry (演示登记库): what the built-in provider serves for holders without a service.

    ``subject_key`` is the resident ID or USCC the holder finds the record by. A record may be filed under
    several keys (a death certificate under the deceased and the close relative who reports it; a birth
    certificate under each parent), one row each, ``relation`` saying how the key relates to the record.
    """

    __tablename__ = "registry_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), nullable=False)
    subject_key: Mapped[str] = mapped_column(String(18), nullable=False)
    relation: Mapped[str] = mapped_column(String(20), nullable=False, default="self")
    values: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    __table_args__ = (UniqueConstraint("resource", "subject_key", name="uq_registry_records_resource_subject"),)
