"""Database engine and sessions (SQLite embedded by default, PostgreSQL alike)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from models.errors import InputError, TransientError

MIGRATIONS = Path(__file__).resolve().parents[1] / "infra" / "migrations"


URL_HINT = "use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"


def make_engine(url: str) -> Engine:
    """Create an engine and bring its schema up to date (:func:`migrate`).

    SQLite gets its parent directory created, WAL journaling and foreign keys;
    ``postgresql://`` URLs use the psycopg 3 driver.

    Raises:
        InputError: the URL is not a database URL Mattefarm can use.
        TransientError: the database does not answer.
    """
    if url.startswith("sqlite:///"):
        folder = Path(url.removeprefix("sqlite:///")).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"the database folder {folder} cannot be made ({exc.strerror})", URL_HINT) from exc
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise InputError(f"the database URL {_safe_url(url)} is not valid", URL_HINT) from exc
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:  # a DB-API connection (sqlite3)
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    try:
        migrate(engine)
    except OperationalError as exc:
        raise TransientError(f"the database at {_safe_url(url)} does not answer ({str(exc.orig).strip().splitlines()[0]})",
                             "start it, or check the URL") from exc
    return engine


def _safe_url(url: str) -> str:
    """The URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url.split("@")[-1]


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema with the Alembic migrations in ``infra/migrations``.

    A database made before migrations existed (tables, no ``alembic_version``)
    is stamped at the first revision, whose tables it has. Processes starting
    together take turns: PostgreSQL through an advisory lock, SQLite through a
    lock file beside the database.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(727465)"))
        config.attributes["connection"] = connection
        tables = inspect(connection).get_table_names()
        if "jobs" in tables and "alembic_version" not in tables:
            command.stamp(config, "0001")
        command.upgrade(config, "head")


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (rows are read after writes)."""
    return sessionmaker(engine, expire_on_commit=False)
