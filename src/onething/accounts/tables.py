"""Accounts tables: users, API tokens, browser sessions, and the rate-limit counters.

Secrets are never stored in clear: passwords as argon2 hashes, API tokens and session ids as SHA-256 digests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from onething.db import Base


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite hands back naive values; this puts UTC back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite compares datetimes as text: store them all in one offset-free form.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class User(Base):
    """A person or organisation that signs in (用户): applicant, department staff, operator, auditor."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    department: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    id_number: Mapped[str | None] = mapped_column(String(18), unique=True, nullable=True)
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True, nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # Sign-in lockout (登录失败锁定): failures counted since ``failures_since``; locked while ``locked_until`` > now.
    failed_sign_ins: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    failures_since: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # A password an administrator set (initial or reset): the user must replace it before doing anything else.
    must_change_password: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                                       server_default=false())
    # The highest assurance level (accounts.assurance) the account's identity has been verified at.
    assurance: Mapped[str] = mapped_column(String(2), nullable=False, default="L2", server_default="L2")


class ApiToken(Base):
    """A bearer token for a department system or script (API 令牌). Only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class WebSession(Base):
    """A browser session (登录会话). ``id`` is the SHA-256 of the cookie value, so a leaked table signs no one in."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # A one-time notice (flash) for the next page this session shows: never message text from a URL.
    flash: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The level of the sign-in that started the session, and (OIDC) the ID token, for the provider's logout.
    # Sessions opened before levels existed were password sign-ins of accounts administrators opened: L2.
    assurance: Mapped[str] = mapped_column(String(2), nullable=False, default="L1", server_default="L2")
    id_token: Mapped[str | None] = mapped_column(Text, nullable=True)


class RateLimitCounter(Base):
    """Requests counted per (scope, client, fixed one-minute window, shard): shared by every server process.

    Each server process writes only its own ``shard`` (a random number drawn at start) and reads the sum, so no
    row is written by two processes (ADR 022). ``client_key`` is a SHA-256 of the client address, so the table
    holds no IP addresses.
    """

    __tablename__ = "rate_limits"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds
    shard: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=0)
    count: Mapped[int] = mapped_column(Integer, nullable=False)


class OidcIdentity(Base):
    """A link from an identity at an OpenID Provider (issuer + subject) to a user (统一身份认证账号绑定)."""

    __tablename__ = "oidc_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_oidc_identities_issuer_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(300), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class OidcNonce(Base):
    """Nonces of ID tokens already accepted (SHA-256): a callback replayed with the same nonce is refused."""

    __tablename__ = "oidc_nonces"

    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
