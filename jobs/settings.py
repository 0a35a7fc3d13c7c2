"""Settings of Mattefarm: one pydantic-settings object, environment prefix ``MATTEFARM_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".mattefarm"


class Settings(BaseSettings):
    """Where state and files live, and how to reach the cluster.

    Attributes:
        home: directory for the embedded database and local storage.
        database_url: SQLAlchemy URL; SQLite under ``home`` by default, any
            PostgreSQL URL (``postgresql+psycopg://...``) works the same.
        storage_root: root for job files: a directory or an fsspec URI.
        ray_address: Ray cluster to join; empty starts a local cluster.
        keep_intermediates: keep split and rendered chunk files after a job is done.
    """

    model_config = SettingsConfigDict(env_prefix="MATTEFARM_", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    database_url: str = ""
    storage_root: str = ""
    ray_address: str = ""
    keep_intermediates: bool = False

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite under ``home``."""
        return self.database_url or f"sqlite:///{self.home / 'mattefarm.db'}"

    def resolved_storage_root(self) -> str:
        """The storage root, defaulting to ``home/storage``."""
        return self.storage_root or str(self.home / "storage")


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
