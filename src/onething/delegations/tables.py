"""The delegations table (代办授权): who may act for whom, for which things, for how long, on what basis."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from onething.accounts.tables import UtcDateTime
from onething.db import Base


class DelegationRow(Base):
    """One authorisation to act for another (代办授权): an enterprise's 经办人, a helper an elderly person chose,
    a guardian of a minor, or the next of kin of a person who has died."""

    __tablename__ = "delegations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    # The principal (被代办人): their account when they have one, and always their identifier and name.
    principal_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    principal_identifier: Mapped[str] = mapped_column(String(18), nullable=False)
    principal_name: Mapped[str] = mapped_column(String(200), nullable=False)
    # The agent (代办人 / 经办人) by resident ID: whoever signs in with that ID may act within the grant.
    agent_id_number: Mapped[str] = mapped_column(String(18), nullable=False, index=True)
    agent_name: Mapped[str] = mapped_column(String(200), nullable=False)
    things: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)  # None: every thing
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    basis: Mapped[str] = mapped_column(String(20), nullable=False)  # principal | exchange | document
    proof: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # audit entry ids, never values
    document: Mapped[bytes | None] = deferred(mapped_column(LargeBinary, nullable=True))
    document_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    document_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    document_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    review_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (Index("ix_delegations_status_kind", "status", "kind"),)
