"""Audit entries name the format their hash was computed in (``hash_format``): 1 — SHA-256 over the canonical
JSON of the parsed content (every entry written before this revision), 2 — SHA-256 over the stored column
texts joined by U+001F, which the database can read out (and PostgreSQL can hash) without parsing JSON. Old
entries keep format 1 and are verified as before; new entries are written in format 2 (ADR 006).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both backends: no table copy, and no UPDATE for the append-only trigger to refuse.
    op.add_column("audit_entries", sa.Column("hash_format", sa.SmallInteger(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.drop_column("hash_format")
