"""Unified sign-in (OpenID Connect): identities linked by issuer + subject, used ID-token nonces, the assurance
level of each account and browser session, and the ID token a session keeps for the provider's logout.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("assurance", sa.String(2), nullable=False, server_default="L2"))
    with op.batch_alter_table("sessions") as batch:
        # Sessions already open were password sign-ins where a password counted as L2 (no unified sign-in yet).
        batch.add_column(sa.Column("assurance", sa.String(2), nullable=False, server_default="L2"))
        batch.add_column(sa.Column("id_token", sa.Text(), nullable=True))
    op.create_table(
        "oidc_identities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("issuer", sa.String(300), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("issuer", "subject", name="uq_oidc_identities_issuer_subject"),
    )
    op.create_index("ix_oidc_identities_user_id", "oidc_identities", ["user_id"])
    op.create_table(
        "oidc_nonces",
        sa.Column("nonce_hash", sa.String(64), primary_key=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_oidc_nonces_used_at", "oidc_nonces", ["used_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_nonces_used_at", table_name="oidc_nonces")
    op.drop_table("oidc_nonces")
    op.drop_index("ix_oidc_identities_user_id", table_name="oidc_identities")
    op.drop_table("oidc_identities")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("id_token")
        batch.drop_column("assurance")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("assurance")
