"""Leases: who runs a job's stage and its chunks, their heartbeats, the doorbell time,
the per-job worker blocklist, the chunks' Ray node, and the workers' own rows.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("lease_owner", sa.String(160), nullable=True))
        jobs.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        jobs.add_column(sa.Column("rung_at", sa.DateTime(timezone=True), nullable=True))
        jobs.add_column(sa.Column("blocklist", sa.JSON, nullable=False, server_default="{}"))
    with op.batch_alter_table("chunks") as chunks:
        chunks.add_column(sa.Column("lease_owner", sa.String(160), nullable=True))
        chunks.add_column(sa.Column("node_id", sa.String(64), nullable=True))
        chunks.add_column(sa.Column("node_host", sa.String(255), nullable=True))
        chunks.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "workers",
        sa.Column("identity", sa.String(160), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, index=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("queues", sa.String(128), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("workers")
    with op.batch_alter_table("chunks") as chunks:
        for name in ("heartbeat_at", "node_host", "node_id", "lease_owner"):
            chunks.drop_column(name)
    with op.batch_alter_table("jobs") as jobs:
        for name in ("blocklist", "rung_at", "heartbeat_at", "lease_owner"):
            jobs.drop_column(name)
