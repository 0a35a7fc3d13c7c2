"""``/v1/workers``: the farm's workers as they last reported themselves, with what each renders now."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import PurePath

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.auth import PrincipalDep
from api.deps import ServicesDep, SessionDep
from jobs.tables import Chunk, Job, State, Worker, as_utc

router = APIRouter(prefix="/v1/workers", tags=["workers"])
STOPPED_KEPT_S = 3600.0
"""A stopped or lost worker stays listed this long after its last heartbeat."""


class WorkerChunk(BaseModel):
    """A chunk a worker renders now."""

    index: int
    frames_done: int
    frames: int
    node_host: str | None


class WorkerPublic(BaseModel):
    """One worker: where it runs, what it takes, what it does now."""

    name: str
    identity: str
    host: str
    pid: int
    queues: str
    state: str = Field(description="busy, idle, stopped, or lost (no heartbeat for a lease)")
    job_id: str | None = Field(description="the job it runs now (only a job the caller may see)")
    shot: str | None
    chunks: list[WorkerChunk]
    fps: float | None = Field(description="frames per second of its running chunks together")
    heartbeat_age_s: float
    started_at: datetime
    nodes: list[dict[str, object]] = Field(description="its render actors: Ray node, host, GPUs, CPUs")
    device: str = Field(description="GPU when an actor holds a GPU, else CPU")
    provider: str | None = Field(description="the execution provider its last render ran on")


class WorkersPublic(BaseModel):
    """Every worker seen in the last hour, busy ones first."""

    workers: list[WorkerPublic]


def _state(worker: Worker, age_s: float, lease_s: float) -> str:
    if worker.stopped_at is not None:
        return "stopped"
    if age_s > lease_s:
        return "lost"
    return "busy" if worker.job_id else "idle"


@router.get("", summary="Workers: host, queues, state, current job and chunks, heartbeat age, fps, device")
def read_workers(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep) -> WorkersPublic:
    """What every worker does now (a user who is not an admin sees only their own jobs named)."""
    now = datetime.now(timezone.utc)
    rows = session.scalars(select(Worker).order_by(Worker.name, Worker.started_at)).all()
    listed = []
    for worker in rows:
        age = (now - (as_utc(worker.heartbeat_at) or now)).total_seconds()
        if age > STOPPED_KEPT_S:
            continue
        job = session.get(Job, worker.job_id) if worker.job_id else None
        if job is not None and not principal.may_see(job):
            job = None
        running = session.scalars(select(Chunk).where(Chunk.lease_owner == worker.identity,
                                                      Chunk.state == State.RUNNING)).all() if job else []
        live = (services.live.frames(job.id) or {}) if job else {}
        chunks = [WorkerChunk(index=c.index, frames_done=live.get(c.index, c.frames_done), frames=c.frame_count,
                              node_host=c.node_host) for c in running]
        spans = [(now - started).total_seconds() for c in running if (started := as_utc(c.started_at))]
        done = sum(c.frames_done for c in chunks)
        fps = done / max(spans) if spans and max(spans) > 0 and done else None
        listed.append(WorkerPublic(
            name=worker.name, identity=worker.identity, host=worker.host, pid=worker.pid, queues=worker.queues,
            state=_state(worker, age, services.settings.lease_s), job_id=job.id if job else None,
            shot=PurePath(job.input_uri).name if job else None, chunks=chunks, fps=fps, heartbeat_age_s=max(age, 0.0),
            started_at=as_utc(worker.started_at) or now, nodes=list(worker.nodes or []),
            device="GPU" if any(n.get("gpus") for n in worker.nodes or []) else "CPU", provider=worker.provider))
    order = {"busy": 0, "idle": 1, "lost": 2, "stopped": 3}
    return WorkersPublic(workers=sorted(listed, key=lambda w: (order[w.state], w.name, w.pid)))
