"""Batches of shots submitted together; a job may belong to one.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("batch_id", sa.String(36), nullable=True))
        jobs.create_index("ix_jobs_batch_id", ["batch_id"])
        jobs.create_foreign_key("fk_jobs_batch_id", "batches", ["batch_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_constraint("fk_jobs_batch_id", type_="foreignkey")
        jobs.drop_index("ix_jobs_batch_id")
        jobs.drop_column("batch_id")
    op.drop_table("batches")
