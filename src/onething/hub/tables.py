"""Hub tables: the hub's answer to each record (回执), and each daily reconciliation (对账) run.

The records themselves are ``outbox_events`` rows of kind ``national.case`` / ``national.rating`` (their
``event_id`` is the record id); attempts are ``deliveries`` rows with department ``national-hub``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from onething.accounts.tables import UtcDateTime
from onething.db import Base


class HubReceipt(Base):
    """The national hub's last answer to one record: acknowledged (with its receipt) or rejected (with reasons)."""

    __tablename__ = "hub_receipts"

    record_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    record_type: Mapped[str] = mapped_column(String(20), nullable=False)
    application_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    case_number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # acknowledged | rejected
    receipt: Mapped[str | None] = mapped_column(String(100), nullable=True)
    problems: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    answered_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    __table_args__ = (Index("ix_hub_receipts_status", "status", "answered_at"),)


class HubReconciliation(Base):
    """One run of ``onething hub reconcile --date D``: what was sent that day, what the hub listed, what was
    sent again."""

    __tablename__ = "hub_reconciliations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_date: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    run_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    ours: Mapped[int] = mapped_column(Integer, nullable=False)
    at_hub: Mapped[int] = mapped_column(Integer, nullable=False)
    missing: Mapped[int] = mapped_column(Integer, nullable=False)
    resent: Mapped[int] = mapped_column(Integer, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
