"""Audit tables: the append-only hash chain of entries, and the one-row head that serialises appends.

``audit_entries`` rows are never updated or deleted. Each carries the hash of the entry before it
(``prev_hash``) and its own ``hash`` (SHA-256 over its canonical content and ``prev_hash``), so changing or
removing any row breaks every later hash. ``audit_head`` holds the chain's last hash; appenders lock it, so
two transactions can never chain onto the same predecessor. ``audit_checkpoints`` records the head at moments
(every ``audit_checkpoint_every`` entries, and on demand) for publication.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from onething.accounts.tables import UtcDateTime
from onething.db import Base

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first entry."""


class AuditEntry(Base):
    """One audited action (审计记录): who did what to which record, when, with the state before and after."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(200), nullable=False)
    actor_role: Mapped[str] = mapped_column(String(20), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    subject_type: Mapped[str] = mapped_column(String(40), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(64), nullable=False)
    application_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    department: Mapped[str | None] = mapped_column(String(40), nullable=True)
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    data: Mapped[Any] = mapped_column(JSON, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # How ``hash`` was computed (ADR 006): 1 canonical JSON of the parsed content, 2 the stored texts joined.
    hash_format: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="1")

    __table_args__ = (Index("ix_audit_entries_subject", "subject_type", "subject_id"),)


class AuditHead(Base):
    """The chain's head: exactly one row (id 1) with the number of entries and the last hash."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False, default=GENESIS_HASH)


class AuditCheckpoint(Base):
    """The chain's head at a moment (审计检查点): after ``count`` entries the last is ``last_id`` with ``hash``."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


# The Merkle tree log (ADR 021), written by the sequencer only (audit.tree).

class AuditLeaf(Base):
    """An entry's place in the tree: leaf ``leaf_index`` is entry ``entry_id`` (unique both ways)."""

    __tablename__ = "audit_leaves"

    leaf_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)


class AuditNode(Base):
    """The hash (hex) of the complete subtree of 2**level leaves starting at leaf ``index * 2**level``."""

    __tablename__ = "audit_tree_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column("idx", Integer, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditTreeState(Base):
    """One row: how many leaves the tree has and the highest entry id integrated (sequencer only)."""

    __tablename__ = "audit_tree_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_entry_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class SignedCheckpoint(Base):
    """A signed checkpoint of the tree (签名检查点): its size, root and the signed note."""

    __tablename__ = "audit_signed_checkpoints"

    tree_size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    key_id: Mapped[str] = mapped_column(String(8), nullable=False)
    signature: Mapped[str] = mapped_column(String(100), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
