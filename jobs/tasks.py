"""Celery tasks, one per stage: ingest -> render -> assemble.

Each task takes a job id and the job's run number (``Job.run``) and re-reads
the job from SQL; a task whose run is over (the job was cancelled, paused,
resumed or retried since it was enqueued) does nothing, and a running render
stops when the run changes. A redelivered task (``acks_late``) skips what is
finished: ingest returns at once when the plan
exists, render renders only chunks not done, assemble writes the outputs by
atomic rename. The next stage is enqueued after the database commit. A
transient error is retried with exponential backoff; a permanent one fails
the job with its one-line reason. A cancelled job stops dispatching chunks
and its running chunks are cancelled on the actors (see
:meth:`workers.pool.RenderPool.run`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from celery import Task
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError

from jobs.celery_app import RENDER_QUEUE, app, celery_priority
from jobs.chunk_log import ChunkLog
from jobs.db import make_engine, session_factory
from jobs.pipeline import assemble_job, cleanup_job, fail_job, ingest_job, render_job
from jobs.progress import LiveProgress, job_event
from jobs.settings import Settings, get_settings
from jobs.tables import Chunk, Job, State
from models.errors import MattefarmError
from workers.pool import RenderPool, connect_ray, pool_shape
from workers.storage import Storage

MAX_RETRIES = 5
TERMINAL = (State.DONE, State.FAILED, State.CANCELLED)


@dataclass
class WorkerContext:
    """What one worker process keeps between tasks: database, storage, Redis, the Ray pool."""

    settings: Settings
    sessions: sessionmaker[Session]
    storage: Storage
    live: LiveProgress
    pool: RenderPool | None = field(default=None)

    def render_pool(self) -> RenderPool:
        """The process's actor pool, started on its first render task."""
        if self.pool is None:
            connect_ray(self.settings.ray_address or None)
            self.pool = RenderPool(pool_shape())
        return self.pool


_context: list[WorkerContext] = []  # one per worker process, made by its first task


def worker_context() -> WorkerContext:
    """This process's context, created from the settings on first use."""
    if not _context:
        settings = get_settings()
        engine = make_engine(settings.resolved_database_url())
        _context.append(WorkerContext(settings, session_factory(engine), Storage(settings.resolved_storage_root()),
                                      LiveProgress.from_url(settings.redis_url)))
    return _context[0]


@dataclass
class LiveMirror:
    """Mirrors chunk changes to Redis: counters and events (a :class:`jobs.pipeline.ChunkListener`)."""

    live: LiveProgress

    def chunk_changed(self, job: Job, chunk: Chunk) -> None:
        self.live.set_chunk_frames(job.id, chunk.index, chunk.frames_done)
        self.live.publish(job_event(job, "chunk", chunk, frames_done=sum(c.frames_done for c in job.chunks)))

    def frames_changed(self, job: Job, chunk: Chunk) -> None:
        self.live.set_chunk_frames(job.id, chunk.index, chunk.frames_done)
        self.live.publish(job_event(job, "progress", chunk, frames_done=sum(c.frames_done for c in job.chunks)))


class StopCheck:
    """Polled by the render loop: True once the job's run is over (cancelled, paused, resumed,
    retried or deleted); reads SQL at most every ``every_s`` seconds."""

    def __init__(self, sessions: sessionmaker[Session], job_id: str, run: int | None, every_s: float = 0.25) -> None:
        self.sessions, self.job_id, self.run, self.every_s = sessions, job_id, run, every_s
        self.stopped, self._checked = False, 0.0

    def __call__(self) -> bool:
        if not self.stopped and time.monotonic() - self._checked >= self.every_s:
            self._checked = time.monotonic()
            with self.sessions() as session:
                self.stopped = _active_job(session, self.job_id, self.run) is None
        return self.stopped


def enqueue_job(job: Job) -> None:
    """Start a committed job's first stage under its current run."""
    ingest.apply_async((job.id, job.run), priority=celery_priority(job.priority))


def _active_job(session: Session, job_id: str, run: int | None) -> Job | None:
    """The job if it exists and is to be worked on now: not ended, not paused, and still in
    ``run`` (None, from a message of a release before runs: any run)."""
    job = session.get(Job, job_id)
    if job is None or job.state in (*TERMINAL, State.PAUSED) or run not in (None, job.run):
        return None
    return job


def _still_current(ctx: WorkerContext, job_id: str, run: int | None) -> bool:
    """Whether the job is still active in ``run``, read in a session of its own."""
    with ctx.sessions() as session:
        return _active_job(session, job_id, run) is not None


class StageTask(Task):
    """Base of the stage tasks: a task that fails for a reason no stage handled (a bug, a
    crash in a library) fails its job with that reason, so nothing waits on it forever."""

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: object) -> None:
        ctx = worker_context()
        with ctx.sessions() as session:
            job = _active_job(session, args[0], args[1] if len(args) > 1 else None) if args else None
            if job is None:
                return
            _fail(ctx, session, job, MattefarmError(f"{self.name} stopped on an unexpected error ({exc!r})",
                                                    "see the worker's log; retry the job once the cause is fixed"))


def _fail(ctx: WorkerContext, session: Session, job: Job, error: MattefarmError) -> None:
    """Fail the job with the error's reason and tell its listeners."""
    fail_job(session, job, error)
    ctx.live.publish(job_event(job, "state"))


def _handle_error(task: Task, ctx: WorkerContext, session: Session, job: Job, error: MattefarmError) -> None:
    """Retry a transient error with backoff, else fail the job and tell its listeners."""
    if error.transient and task.request.retries < MAX_RETRIES:
        raise task.retry(exc=error, countdown=2 ** task.request.retries)
    _fail(ctx, session, job, error)


def _run_stage(task: Task, job_id: str, run: int | None,
               step: Callable[[WorkerContext, Session, Job], bool]) -> int | None:
    """Open the job, run one stage's ``step`` on it, tell listeners.

    ``step`` returns whether the next stage should follow. Returns the Celery
    priority to enqueue that stage with (after the commit), or None: the job is
    gone, ended, paused or in a later run, the step said stop, or it failed
    (retried or failed with its reason). A step whose rows were changed under it
    by a later run (a retry replaces a cancelled job's chunks) just stops.
    """
    ctx = worker_context()
    with ctx.sessions() as session:
        job = _active_job(session, job_id, run)
        if job is None:
            return None
        try:
            go_on = step(ctx, session, job)
        except MattefarmError as error:
            if _still_current(ctx, job_id, run):  # an error of an earlier run fails nothing
                _handle_error(task, ctx, session, job, error)
            return None
        except (StaleDataError, ObjectDeletedError):
            session.rollback()
            if not _still_current(ctx, job_id, run):
                return None
            raise
        ctx.live.publish(job_event(job, "state"))
        return celery_priority(job.priority) if go_on else None


def _ingest(ctx: WorkerContext, session: Session, job: Job) -> bool:
    ingest_job(session, job, ctx.storage)
    ctx.live.rebuild(job)
    return True


def _render(ctx: WorkerContext, session: Session, job: Job, run: int | None) -> bool:
    """Render the job's chunks until done or until ``run`` is over (:class:`StopCheck`)."""
    if job.plan is None:
        return False
    stop = StopCheck(ctx.sessions, job.id, run)
    render_job(session, job, ctx.storage, ctx.render_pool(), listener=LiveMirror(ctx.live), should_stop=stop,
               log=ChunkLog(ctx.storage, job.id))
    if not stop.stopped:
        return True
    session.refresh(job)
    if job.state == State.CANCELLED:
        cleanup_job(job, ctx.storage)
    return False  # paused or a later run: finished chunks stay; resume or retry enqueued the job again


def _assemble(ctx: WorkerContext, session: Session, job: Job) -> bool:
    assemble_job(session, job, ctx.storage)
    if not ctx.settings.keep_intermediates:
        cleanup_job(job, ctx.storage)
    return False


@app.task(name="mattefarm.ingest", bind=True, base=StageTask)
def ingest(self: Task, job_id: str, run: int | None = None) -> None:
    """Probe, analyse, plan and split; then enqueue the render."""
    priority = _run_stage(self, job_id, run, _ingest)
    if priority is not None:
        render.apply_async((job_id, run), queue=RENDER_QUEUE, priority=priority)


@app.task(name="mattefarm.render", bind=True, base=StageTask)
def render(self: Task, job_id: str, run: int | None = None) -> None:
    """Render the chunks not done on this worker's actor pool; then enqueue the assembly."""
    priority = _run_stage(self, job_id, run, lambda ctx, session, job: _render(ctx, session, job, run))
    if priority is not None:
        assemble.apply_async((job_id, run), priority=priority)


@app.task(name="mattefarm.assemble", bind=True, base=StageTask)
def assemble(self: Task, job_id: str, run: int | None = None) -> None:
    """Concatenate the chunks, mux the audio, verify; the job is done."""
    _run_stage(self, job_id, run, _assemble)
