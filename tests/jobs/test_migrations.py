"""The Alembic migrations build the schema the tables describe, on SQLite and PostgreSQL,
and upgrade a database made before migrations existed without losing its jobs."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from jobs.db import make_engine
from jobs.tables import Base
from tests.api.test_service import POSTGRES_URL


def _head() -> str | None:
    """The newest migration's revision, as the scripts under infra/migrations say."""
    scripts = Path(__file__).resolve().parents[2] / "infra" / "migrations"
    config = Config()
    config.set_main_option("script_location", str(scripts))
    return ScriptDirectory.from_config(config).get_current_head()


def _differences(engine: sa.Engine) -> list:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def test_fresh_sqlite_database_matches_the_tables(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert set(sa.inspect(engine).get_table_names()) == {"jobs", "chunks", "batches", "workers", "users", "api_tokens", "deliveries", "alembic_version"}
    assert _differences(engine) == []


def test_fresh_postgresql_schema_matches_the_tables() -> None:
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        engine = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
        assert {"jobs", "chunks", "batches"} <= set(sa.inspect(engine).get_table_names())
        assert _differences(engine) == []
        engine.dispose()
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_a_database_from_before_migrations_is_upgraded_with_its_jobs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    with old.begin() as connection:  # the schema create_all made before revision 0002
        connection.execute(sa.text(
            "CREATE TABLE jobs (id VARCHAR(36) PRIMARY KEY, kind VARCHAR(32) NOT NULL, state VARCHAR(16) NOT NULL, "
            "stage VARCHAR(16) NOT NULL, priority INTEGER NOT NULL, owner VARCHAR(128) NOT NULL, input_uri TEXT NOT NULL, "
            "output_uri TEXT NOT NULL, options JSON NOT NULL, plan JSON, frames_total INTEGER NOT NULL, "
            "frames_done INTEGER NOT NULL, attempts INTEGER NOT NULL, error TEXT, provider VARCHAR(32), "
            "created_at DATETIME DEFAULT (CURRENT_TIMESTAMP) NOT NULL, started_at DATETIME, finished_at DATETIME)"))
        connection.execute(sa.text(
            "INSERT INTO jobs VALUES ('j1', 'key', 'done', 'finished', 50, '', 'in.mp4', 'out.mp4', '{}', NULL, "
            "10, 10, 0, NULL, 'CPU', CURRENT_TIMESTAMP, NULL, NULL)"))
        connection.execute(sa.text(
            "CREATE TABLE chunks (id INTEGER PRIMARY KEY, job_id VARCHAR(36) NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, "
            "\"index\" INTEGER NOT NULL, frame_start INTEGER NOT NULL, frame_end INTEGER NOT NULL, preroll_start INTEGER NOT NULL, "
            "state VARCHAR(16) NOT NULL, attempts INTEGER NOT NULL, frames_done INTEGER NOT NULL, error TEXT, worker VARCHAR(128), "
            "input_key TEXT, file_pts JSON, seconds FLOAT, created_at DATETIME DEFAULT (CURRENT_TIMESTAMP) NOT NULL, "
            "started_at DATETIME, finished_at DATETIME)"))
    old.dispose()
    engine = make_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT id, batch_id, run FROM jobs")).all() == [("j1", None, 0)]
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == _head()


@pytest.mark.parametrize("step", ["0001", "base"])
def test_downgrades_run(tmp_path: Path, step: str) -> None:
    from alembic import command
    from alembic.config import Config

    from jobs.db import MIGRATIONS

    engine = make_engine(f"sqlite:///{tmp_path / 'down.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, step)
    assert "batches" not in sa.inspect(engine).get_table_names()
