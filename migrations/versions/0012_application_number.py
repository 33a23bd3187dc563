"""办件编号: a short, readable number for every application (cases/numbers.py), issued from a table of its own
so that numbering never increments a shared counter row.

Existing applications are numbered in the order they were received, with the national prefix ``000000``
(the migration does not read the catalog to learn their regions' 行政区划代码).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

CHINA = ZoneInfo("Asia/Shanghai")


def upgrade() -> None:
    op.create_table("application_numbers", sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True))
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("number", sa.String(20), nullable=True))
    bind = op.get_bind()
    numbers = sa.table("application_numbers", sa.column("id", sa.Integer()))
    apps = sa.table("applications", sa.column("id", sa.String()), sa.column("number", sa.String()),
                    sa.column("submitted_at", sa.DateTime(timezone=True)))
    rows = bind.execute(sa.select(apps.c.id, apps.c.submitted_at).order_by(apps.c.submitted_at, apps.c.id)).all()
    for app_id, submitted_at in rows:
        sequence = bind.execute(sa.insert(numbers).returning(numbers.c.id)).scalar_one()
        received = submitted_at if submitted_at.tzinfo else submitted_at.replace(tzinfo=UTC)
        number = f"000000{received.astimezone(CHINA):%y%m%d}{sequence % 10**7:07d}"
        bind.execute(sa.update(apps).where(apps.c.id == app_id).values(number=number))
    with op.batch_alter_table("applications") as batch:
        batch.alter_column("number", existing_type=sa.String(20), nullable=False)
        batch.create_unique_constraint("uq_applications_number", ["number"])


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_constraint("uq_applications_number", type_="unique")
        batch.drop_column("number")
    op.drop_table("application_numbers")

