"""Certificates (电子证照): the departments' signing keys and the issued, signed certificates.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificate_keys",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("department", sa.String(40), nullable=False, unique=True),
        sa.Column("algorithm", sa.String(20), nullable=False),
        sa.Column("public_key", sa.String(100), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("application_id", sa.String(36), nullable=False, index=True),
        sa.Column("task_id", sa.String(36), nullable=False, unique=True),
        sa.Column("procedure", sa.String(80), nullable=False),
        sa.Column("holder_account_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("holder_name", sa.String(200), nullable=False),
        sa.Column("holder_identifier", sa.String(18), nullable=True),
        sa.Column("holder_kind", sa.String(20), nullable=False),
        sa.Column("issuer_department", sa.String(40), nullable=False, index=True),
        sa.Column("issuer_name", sa.String(200), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("number", sa.String(100), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("algorithm", sa.String(20), nullable=False),
        sa.Column("key_id", sa.String(80), sa.ForeignKey("certificate_keys.id"), nullable=False),
        sa.Column("signature", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("revocation_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_certificates_holder_identifier", "certificates", ["holder_identifier"])


def downgrade() -> None:
    op.drop_index("ix_certificates_holder_identifier", table_name="certificates")
    op.drop_table("certificates")
    op.drop_table("certificate_keys")
