"""Apply in steps (分步申请): server-side drafts of an application and the files uploaded while drafting.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drafts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("applicant_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("thing", sa.String(64), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("form", sa.JSON(), nullable=False),
        sa.Column("delivery", sa.JSON(), nullable=True),
        sa.Column("region", sa.String(64), nullable=True),
        sa.Column("on_behalf_of", sa.String(36), nullable=True),
        sa.Column("consent_id", sa.String(36), nullable=True),
        sa.Column("ref", sa.String(36), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_drafts_applicant_updated", "drafts", ["applicant_id", "updated_at"])
    op.create_table(
        "draft_files",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("draft_id", sa.String(36), sa.ForeignKey("drafts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("material", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=False),
    )
    op.create_index("ix_draft_files_draft_id", "draft_files", ["draft_id"])
    op.create_index("ix_draft_files_uploaded_by", "draft_files", ["uploaded_by"])


def downgrade() -> None:
    op.drop_index("ix_draft_files_uploaded_by", table_name="draft_files")
    op.drop_index("ix_draft_files_draft_id", table_name="draft_files")
    op.drop_table("draft_files")
    op.drop_index("ix_drafts_applicant_updated", table_name="drafts")
    op.drop_table("drafts")
