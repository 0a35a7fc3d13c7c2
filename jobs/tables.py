"""SQLAlchemy 2 tables: ``Job`` and ``Chunk``, and the state machine they follow.

SQL is the durable truth of every job (Redis only mirrors live progress).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Enum, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    """Declarative base of every Mattefarm table."""


class State(str, enum.Enum):
    """Lifecycle of a job or a chunk (OpenCue/Flamenco style)."""

    PENDING = "pending"  # waiting to be picked up (or re-queued for retry)
    RUNNING = "running"  # a stage or a worker is on it
    DONE = "done"  # finished and verified; outputs are final
    FAILED = "failed"  # stopped on an error; ``error`` says why and what to do
    CANCELLED = "cancelled"  # stopped by a person; outputs removed
    PAUSED = "paused"  # held by a person: no chunk is dispatched; finished chunks are kept
    DEAD = "dead"  # a chunk that failed ``max_attempts`` times (OpenCue's DEAD); retry revives it


ENDED: tuple[State, ...] = (State.DONE, State.FAILED, State.CANCELLED)
"""The states a job ends in (its outputs, failure or cancellation are final until a retry)."""

ALLOWED: dict[State, set[State]] = {
    State.PENDING: {State.RUNNING, State.FAILED, State.CANCELLED, State.PAUSED},
    State.RUNNING: {State.DONE, State.FAILED, State.CANCELLED, State.PENDING, State.PAUSED, State.DEAD},
    State.PAUSED: {State.PENDING, State.CANCELLED},
    State.FAILED: {State.PENDING},
    State.DEAD: {State.PENDING},
    State.CANCELLED: {State.PENDING},
    State.DONE: set(),
}


class Stage(str, enum.Enum):
    """Where a job is in the pipeline."""

    INGEST = "ingest"  # probe, screen analysis, chunk plan, split
    ANALYSE = "analyse"  # face analysis pass on the actors and the whole-timeline solve
    RENDER = "render"  # chunks on the Ray actors
    ASSEMBLE = "assemble"  # concat, audio, verification
    FINISHED = "finished"


class IllegalTransition(RuntimeError):
    """A state change the machine does not allow (a bug, not a user error)."""


def _enum(kind: type[enum.Enum]) -> Enum:
    """Store an enum by its value (``"failed"``), readable from any SQL client."""
    return Enum(kind, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


def _shot_of_insert(context: Any) -> str:
    """The inserted job's shot: the last part of its ``input_uri`` (a column default)."""
    return PurePath(context.get_current_parameters().get("input_uri") or "").name[:255]


def _now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class Batch(Base):
    """Shots submitted together with shared options; its state is the aggregate of its jobs'."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: uuid.uuid4().hex)
    name: Mapped[str] = mapped_column(String(256), default="")
    owner: Mapped[str] = mapped_column(String(128), default="")
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = _now_column()

    jobs: Mapped[list["Job"]] = relationship(back_populates="batch", order_by="Job.created_at")

    @property
    def state(self) -> State:
        """Running while any job runs, or some are done and others wait; else the first of
        pending, paused, failed, cancelled its jobs are in; else done."""
        states = {job.state for job in self.jobs}
        if State.RUNNING in states or {State.PENDING, State.DONE} <= states:
            return State.RUNNING
        order = (State.PENDING, State.PAUSED, State.FAILED, State.CANCELLED)
        return next((state for state in order if state in states), State.DONE)


class Job(Base):
    """One render job: a source video, its options, its plan and its state."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: uuid.uuid4().hex)
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(32), default="key")
    state: Mapped[State] = mapped_column(_enum(State), default=State.PENDING, index=True)
    stage: Mapped[Stage] = mapped_column(_enum(Stage), default=Stage.INGEST)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    owner: Mapped[str] = mapped_column(String(128), default="")
    input_uri: Mapped[str] = mapped_column(Text)
    shot: Mapped[str] = mapped_column(String(255), default=_shot_of_insert, server_default="", index=True)
    """The source file's name (the last part of ``input_uri``), for finding a job by its shot."""
    output_uri: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    frames_total: Mapped[int] = mapped_column(Integer, default=0)
    frames_done: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Counts the controls (cancel, pause, resume, retry) applied; a stage task carries the
    number it was enqueued under and stops once it no longer matches (see :mod:`jobs.tasks`)."""
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The class of the error the job failed on (:mod:`models.errors`: ``InputError``, ``MediaError``,
    ``ChunkDead``...); None when it did not fail, or where the failure was not classified."""
    provider: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(160), nullable=True)
    """The worker running the job's current stage (:func:`jobs.leases.worker_identity`); None: nobody."""
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """The lease holder's last heartbeat (UTC); the lease expires ``lease_s`` after it."""
    rung_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """When the job's current stage was last enqueued (the broker is only its doorbell)."""
    blocklist: Mapped[dict[str, int]] = mapped_column(JSON, default=dict, server_default="{}")
    """Worker name -> chunk failures on this job; a worker at ``blocklist_after`` takes no more of it."""
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Told when the job ends (:mod:`jobs.webhooks`): the submitter's URL, else its user's."""
    created_at: Mapped[datetime] = _now_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    chunks: Mapped[list["Chunk"]] = relationship(
        back_populates="job", order_by="Chunk.index", cascade="all, delete-orphan"
    )
    batch: Mapped[Batch | None] = relationship(back_populates="jobs")


class Chunk(Base):
    """A frame range of a job, rendered by one worker."""

    __tablename__ = "chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    frame_start: Mapped[int] = mapped_column(Integer)
    frame_end: Mapped[int] = mapped_column(Integer)
    preroll_start: Mapped[int] = mapped_column(Integer)
    state: Mapped[State] = mapped_column(_enum(State), default=State.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    frames_done: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    """``host:pid`` of the render actor that ran the latest attempt."""
    lease_owner: Mapped[str | None] = mapped_column(String(160), nullable=True)
    """The worker whose stage task dispatched the running attempt."""
    node_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The Ray node (id, hex) of the latest attempt's actor."""
    node_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """That node's host name or address."""
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """The running attempt's last heartbeat (UTC)."""
    input_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    file_pts: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    seconds: Mapped[float | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = _now_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    job: Mapped[Job] = relationship(back_populates="chunks")

    @property
    def frame_count(self) -> int:
        """Frames this chunk delivers."""
        return self.frame_end - self.frame_start


class Worker(Base):
    """A worker process as it last reported itself (each reaper sweep refreshes its row)."""

    __tablename__ = "workers"

    identity: Mapped[str] = mapped_column(String(160), primary_key=True)
    """``name:pid:nonce``, the same string its leases carry."""
    name: Mapped[str] = mapped_column(String(128), index=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    queues: Mapped[str] = mapped_column(String(128), default="")
    job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    """The job whose stage it runs now; None: idle."""
    nodes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    """Its render pool's actors: ``{"node_id", "host", "gpus", "cpus"}`` each (empty before its first render)."""
    provider: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The onnxruntime execution provider its last render ran on (CPU, CUDA)."""
    started_at: Mapped[datetime] = _now_column()
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class User(Base):
    """A person (or a service, e.g. Prometheus) who uses the farm through API tokens.

    A user who is not an admin sees and controls only the jobs and batches they submitted.
    """

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Told when any of the user's jobs ends, unless the job names its own URL."""
    created_at: Mapped[datetime] = _now_column()

    tokens: Mapped[list["ApiToken"]] = relationship(back_populates="user", cascade="all, delete-orphan")


class ApiToken(Base):
    """An API token of a user, stored as its SHA-256 digest (the token itself is shown once)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    """The token's public id (its second field, ``mf_<id>_<secret>``), for listing and revoking."""
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _now_column()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    user: Mapped[User] = relationship(back_populates="tokens")


class Delivery(Base):
    """One webhook call for one end of a job (a run's end: a retried job that ends again is
    told again), kept until the receiver answered 2xx (an outbox: nothing is lost to a crash)."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("job_id", "run", "url", name="uq_deliveries_job_run_url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    run: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """When the next try is due (UTC)."""
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = _now_column()


def utcnow() -> datetime:
    """Now, aware UTC (what every stored time is)."""
    return datetime.now(timezone.utc)


def set_state(record: Job | Chunk, new: State, error: str | None = None) -> None:
    """Move a job or chunk to ``new``, stamping its times.

    Raises:
        IllegalTransition: the state machine does not allow the change.
    """
    old = record.state
    if new != old and new not in ALLOWED[old]:
        raise IllegalTransition(f"{type(record).__name__} cannot go from {old.value} to {new.value}")
    now = utcnow()  # UTC, as the databases' own now() (SQLite keeps no zone)
    record.state = new
    if new == State.RUNNING and record.started_at is None:
        record.started_at = now
    if new in (State.DONE, State.FAILED, State.CANCELLED):
        record.finished_at = now
    if new == State.PENDING:
        record.finished_at = None
    if error is not None or new == State.DONE:
        record.error = error


def as_utc(moment: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite returns them without a zone, in UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
