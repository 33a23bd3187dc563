"""Certificate tables (电子证照): the departments' signing keys and the issued certificates.

A certificate row keeps every signed field in its own column, so verification rebuilds the signed bytes from
what is stored: a change to any column (a holder, a number, a date) breaks the signature.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from onething.accounts.tables import UtcDateTime
from onething.db import Base


class SigningKey(Base):
    """A department's certificate signing key (签章密钥). The public key is published; the private key is stored
    only encrypted (AES-256-GCM under a key derived from ONETHING_SECRET_KEY, the key id as associated data)."""

    __tablename__ = "certificate_keys"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # "<department>:<fingerprint>"
    department: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    algorithm: Mapped[str] = mapped_column(String(20), nullable=False)
    public_key: Mapped[str] = mapped_column(String(100), nullable=False)       # base64 of the raw public key
    private_key: Mapped[str] = mapped_column(Text, nullable=False)            # base64 of nonce || ciphertext
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class CertificateRow(Base):
    """An issued certificate (电子证照) with its signature; revocation is recorded beside it."""

    __tablename__ = "certificates"
    __table_args__ = (Index("ix_certificates_holder_identifier", "holder_identifier"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    task_id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    procedure: Mapped[str] = mapped_column(String(80), nullable=False)
    holder_account_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    holder_name: Mapped[str] = mapped_column(String(200), nullable=False)
    holder_identifier: Mapped[str | None] = mapped_column(String(18), nullable=True)
    holder_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    issuer_department: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    issuer_name: Mapped[str] = mapped_column(String(200), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    number: Mapped[str] = mapped_column(String(100), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    valid_from: Mapped[date] = mapped_column(Date, nullable=False)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    algorithm: Mapped[str] = mapped_column(String(20), nullable=False)
    key_id: Mapped[str] = mapped_column(String(80), ForeignKey("certificate_keys.id"), nullable=False)
    signature: Mapped[str] = mapped_column(String(200), nullable=False)     # base64
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
