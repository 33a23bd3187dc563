"""Acting for others (代办授权): the delegations table, and on applications who acted and under which delegation.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delegations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("principal_user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("principal_identifier", sa.String(18), nullable=False),
        sa.Column("principal_name", sa.String(200), nullable=False),
        sa.Column("agent_id_number", sa.String(18), nullable=False),
        sa.Column("agent_name", sa.String(200), nullable=False),
        sa.Column("things", sa.JSON(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("basis", sa.String(20), nullable=False),
        sa.Column("proof", sa.JSON(), nullable=True),
        sa.Column("document", sa.LargeBinary(), nullable=True),
        sa.Column("document_name", sa.String(200), nullable=True),
        sa.Column("document_type", sa.String(100), nullable=True),
        sa.Column("document_sha256", sa.String(64), nullable=True),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_delegations_principal_user_id", "delegations", ["principal_user_id"])
    op.create_index("ix_delegations_agent_id_number", "delegations", ["agent_id_number"])
    op.create_index("ix_delegations_status_kind", "delegations", ["status", "kind"])
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("acted_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("delegation_id", sa.String(36), nullable=True))
        batch.create_foreign_key("fk_applications_acted_by_id_users", "users", ["acted_by_id"], ["id"])
        batch.create_index("ix_applications_acted_by_id", ["acted_by_id"])
        batch.create_index("ix_applications_delegation_id", ["delegation_id"])


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_index("ix_applications_delegation_id")
        batch.drop_index("ix_applications_acted_by_id")
        batch.drop_constraint("fk_applications_acted_by_id_users", type_="foreignkey")
        batch.drop_column("delegation_id")
        batch.drop_column("acted_by_id")
    op.drop_table("delegations")
