"""Applications carry their data-sharing link: the opaque reference the exchange knows them by (consent and
fetches are bound to it), the consent used at submission, and the proofs of what shared data filled or proved.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("exchange_ref", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("consent_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("data_proofs", sa.JSON(), nullable=True))
        batch.create_index("ix_applications_exchange_ref", ["exchange_ref"])


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_index("ix_applications_exchange_ref")
        batch.drop_column("data_proofs")
        batch.drop_column("consent_id")
        batch.drop_column("exchange_ref")
