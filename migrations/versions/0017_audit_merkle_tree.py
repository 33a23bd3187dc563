"""The audit log as a Merkle tree (ADR 021): leaves, stored subtree hashes, the sequencer's state row and the
signed checkpoints. Existing entries are folded in by the sequencer's first rounds (in id order), not here.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("audit_leaves",
                    sa.Column("leaf_index", sa.Integer(), primary_key=True, autoincrement=False),
                    sa.Column("entry_id", sa.Integer(), nullable=False, unique=True))
    op.create_table("audit_tree_nodes",
                    sa.Column("level", sa.Integer(), primary_key=True, autoincrement=False),
                    sa.Column("idx", sa.Integer(), primary_key=True, autoincrement=False),
                    sa.Column("hash", sa.String(64), nullable=False))
    op.create_table("audit_tree_state",
                    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
                    sa.Column("size", sa.Integer(), nullable=False),
                    sa.Column("max_entry_id", sa.Integer(), nullable=False))
    op.execute("INSERT INTO audit_tree_state (id, size, max_entry_id) VALUES (1, 0, 0)")
    op.create_table("audit_signed_checkpoints",
                    sa.Column("tree_size", sa.Integer(), primary_key=True, autoincrement=False),
                    sa.Column("root_hash", sa.String(64), nullable=False),
                    sa.Column("key_id", sa.String(8), nullable=False),
                    sa.Column("signature", sa.String(100), nullable=False),
                    sa.Column("note", sa.Text(), nullable=False),
                    sa.Column("at", sa.DateTime(timezone=True), nullable=False))


def downgrade() -> None:
    op.drop_table("audit_signed_checkpoints")
    op.drop_table("audit_tree_state")
    op.drop_table("audit_tree_nodes")
    op.drop_table("audit_leaves")
