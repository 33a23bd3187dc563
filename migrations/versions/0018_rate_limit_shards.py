"""Rate-limit counters get a shard column: each server process writes its own row (ADR 022).

The table holds only the current minute's counts, so it is recreated rather than altered (the primary key
changes); at most one minute of counts is forgotten.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _create(with_shard: bool) -> None:
    columns = [
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
    ]
    keys = ["scope", "client_key", "window_start"]
    if with_shard:
        columns.append(sa.Column("shard", sa.BigInteger(), nullable=False))
        keys.append("shard")
    op.create_table("rate_limits", *columns, sa.Column("count", sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint(*keys, name=op.f("pk_rate_limits")))


def upgrade() -> None:
    op.drop_table("rate_limits")
    _create(with_shard=True)


def downgrade() -> None:
    op.drop_table("rate_limits")
    _create(with_shard=False)
