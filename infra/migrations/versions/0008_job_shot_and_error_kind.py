"""A job's shot (its source file's name, for the dashboard's text filter) and the kind of error it failed on.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from pathlib import PurePath

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("shot", sa.String(255), nullable=False, server_default=""))
        jobs.add_column(sa.Column("error_kind", sa.String(32), nullable=True))
        jobs.create_index("ix_jobs_shot", ["shot"])
    table = sa.table("jobs", sa.column("id", sa.String), sa.column("input_uri", sa.Text), sa.column("shot", sa.String))
    bind = op.get_bind()
    for job_id, uri in bind.execute(sa.select(table.c.id, table.c.input_uri)).all():
        bind.execute(table.update().where(table.c.id == job_id).values(shot=PurePath(uri or "").name[:255]))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_index("ix_jobs_shot")
        jobs.drop_column("error_kind")
        jobs.drop_column("shot")
