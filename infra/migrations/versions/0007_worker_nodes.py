"""A worker's render pool (its actors' Ray nodes) and the execution provider it last rendered on.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as workers:
        workers.add_column(sa.Column("nodes", sa.JSON, nullable=False, server_default="[]"))
        workers.add_column(sa.Column("provider", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as workers:
        workers.drop_column("provider")
        workers.drop_column("nodes")
