"""National platform reporting: the hub's answer to each record (hub_receipts) and daily reconciliations
(hub_reconciliations). The records themselves travel as outbox_events rows of kind national.*.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_receipts",
        sa.Column("record_id", sa.String(36), primary_key=True),
        sa.Column("record_type", sa.String(20), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=True),
        sa.Column("case_number", sa.String(20), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("receipt", sa.String(100), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_hub_receipts_application_id", "hub_receipts", ["application_id"])
    op.create_index("ix_hub_receipts_status", "hub_receipts", ["status", "answered_at"])
    op.create_table(
        "hub_reconciliations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("report_date", sa.Date(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ours", sa.Integer(), nullable=False),
        sa.Column("at_hub", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("resent", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_hub_reconciliations_report_date", "hub_reconciliations", ["report_date"])


def downgrade() -> None:
    op.drop_index("ix_hub_reconciliations_report_date", table_name="hub_reconciliations")
    op.drop_table("hub_reconciliations")
    op.drop_index("ix_hub_receipts_status", table_name="hub_receipts")
    op.drop_index("ix_hub_receipts_application_id", table_name="hub_receipts")
    op.drop_table("hub_receipts")
