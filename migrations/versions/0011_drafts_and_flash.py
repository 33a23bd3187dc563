"""Citizen journey: a draft's fetched facts cached on its consent (fetched once per draft, not per re-render),
an idle expiry for a consent whose draft was never submitted, and a one-time notice (flash) on the
server-side browser session so that no page shows message text taken from its URL.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("facts_cache", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("idle_expires_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("flash", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("flash")
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("idle_expires_at")
        batch.drop_column("facts_cache")
