"""Settings of Mattefarm: one pydantic-settings object, environment prefix ``MATTEFARM_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".mattefarm"


class Settings(BaseSettings):
    """Where state and files live, and how to reach the cluster.

    Attributes:
        home: directory for the embedded database and local storage.
        database_url: SQLAlchemy URL; SQLite under ``home`` by default, any
            PostgreSQL URL (``postgresql+psycopg://...``) works the same.
        storage_root: root for job files: a directory or an fsspec URI.
        ray_address: Ray cluster to join (``host:port``); empty starts a private local
            instance, never the machine's current cluster.
        ray_namespace: this deployment's Ray namespace.
        keep_intermediates: keep split and rendered chunk files after a job is done.
        redis_url: Redis for live progress and its events (service mode).
        broker_url: Celery broker; empty uses ``redis_url``.
        upload_limit_mb: largest upload the API accepts, in MiB (video and plate each).
        api_tokens: bearer tokens the API accepts (comma-separated in the
            environment); empty leaves the API open (one trusted machine).
        source_roots: directories whose files may be submitted by path
            (``source_uri``) instead of uploaded; empty allows none.
        render_timeout_s: the longest a stage may run; the broker's visibility
            timeout is set above it so a slow task is not delivered twice (leases,
            not the visibility timeout, recover the work of a dead worker).
        lease_s: a job's or chunk's lease expires this many seconds after its
            worker's last heartbeat; the reaper then puts the work back.
        reap_every_s: how often each worker and the API look for expired leases and
            lost broker messages (0: a quarter of ``lease_s``).
        ring_after_s: a job nobody holds whose message is in no broker queue is
            enqueued again this many seconds after it was last enqueued.
        max_attempts: tries of a chunk before it goes dead (and its job fails).
        blocklist_after: failures of one worker on one job before that worker is
            blocklisted for the job.
        worker_name: this worker's name in leases and blocklists (default: host name).
        webhook_secret: the key webhook bodies are signed with (HMAC-SHA256); empty: unsigned.
    """

    model_config = SettingsConfigDict(env_prefix="MATTEFARM_", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    database_url: str = ""
    storage_root: str = ""
    ray_address: str = ""
    keep_intermediates: bool = False
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = ""
    upload_limit_mb: int = 50_000
    api_tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)
    source_roots: Annotated[list[str], NoDecode] = Field(default_factory=list)
    render_timeout_s: int = 12 * 3600
    ray_namespace: str = "mattefarm"
    lease_s: float = Field(60.0, gt=0)
    reap_every_s: float = Field(0.0, ge=0)
    ring_after_s: float = Field(30.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    blocklist_after: int = Field(3, ge=1)
    worker_name: str = ""
    webhook_secret: str = ""

    @field_validator("api_tokens", "source_roots", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        """``a,b`` in the environment becomes ``["a", "b"]``."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def resolved_broker_url(self) -> str:
        """The Celery broker, defaulting to the Redis of live progress."""
        return self.broker_url or self.redis_url

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite under ``home``."""
        return self.database_url or f"sqlite:///{self.home / 'mattefarm.db'}"

    def resolved_reap_every_s(self) -> float:
        """Seconds between the reaper's sweeps."""
        return self.reap_every_s or self.lease_s / 4

    def resolved_storage_root(self) -> str:
        """The storage root, defaulting to ``home/storage``."""
        return self.storage_root or str(self.home / "storage")


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
