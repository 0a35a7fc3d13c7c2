"""Celery tasks, one per stage: ingest -> render -> assemble, each under a lease.

Each task takes a job id and the job's run number (``Job.run``), re-reads the
job from SQL and claims its lease (:mod:`jobs.leases`): a task whose run is
over (the job was cancelled, paused, resumed, retried, or recovered by the
reaper since it was enqueued), or whose job another worker holds, does
nothing. While the stage works, a thread renews the lease; a running render
stops when the run changes or the lease is lost. A redelivered or duplicate
message skips what is finished: ingest returns at once when the plan exists,
render renders only chunks not done, assemble writes the outputs by atomic
rename. The next stage is enqueued after the commit (:func:`jobs.doorbell.ring`).
A transient error is retried with exponential backoff; a permanent one fails
the job with its one-line reason. A worker blocklisted for a job (its chunks
kept failing there) leaves the job to other workers.

Worker state (:class:`WorkerContext`) is made when the worker process starts
and closed when it stops; on SIGTERM the render in progress hands its job
back at once (running chunks return to pending, not counted as failures) and
the job is enqueued again for another worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery import Celery, Task, signals
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError

from jobs.assemble import assemble_job
from jobs.celery_app import RENDER_QUEUE, app
from jobs.chunk_log import ChunkLog
from jobs.db import make_engine, session_factory
from jobs.doorbell import ring
from jobs.events import ChunkRecorder
from jobs.ingest import ingest_job
from jobs.leases import LeaseKeeper, WorkerId, blocklisted, claim_job, release_lease
from jobs.pipeline import cleanup_job, fail_job
from jobs.progress import LiveMirror, LiveProgress, job_event
from jobs.reaper import Reaper
from jobs.render import render_job
from jobs.settings import Settings, get_settings
from jobs.tables import ENDED, Job, State, Worker, as_utc, set_state, utcnow
from models.errors import MattefarmError
from workers.pool import RenderPool, connect_ray, pool_shape
from workers.storage import Storage

MAX_RETRIES = 5
log = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    """What one worker process keeps between tasks: database, storage, Redis, its identity,
    its reaper and the Ray pool (started on the first render)."""

    settings: Settings
    sessions: sessionmaker[Session]
    storage: Storage
    live: LiveProgress
    identity: WorkerId
    celery: Celery
    pool: RenderPool | None = None
    reaper: Reaper | None = None
    current_job: str | None = None
    provider: str | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def open(cls, settings: Settings, celery: Celery) -> "WorkerContext":
        """Connect to the database, storage and Redis, and start the reaper."""
        engine = make_engine(settings.resolved_database_url())
        ctx = cls(settings, session_factory(engine), Storage(settings.resolved_storage_root()),
                  LiveProgress.from_url(settings.redis_url), WorkerId.this_process(settings.worker_name), celery)
        ctx.reaper = Reaper(ctx.sessions, settings, celery, ctx.storage, ctx.live, ctx.identity,
                            lambda: ",".join(sorted(celery.amqp.queues.consume_from or ())),
                            lambda: ctx.current_job, ctx.pool_report).start()
        return ctx

    def pool_report(self) -> tuple[list[dict[str, Any]], str | None]:
        """This worker's render actors (node, host, GPUs, CPUs) and last execution provider."""
        slots = self.pool.slots if self.pool is not None else []
        return [{"node_id": s.node_id, "host": s.node_host, "gpus": s.gpus, "cpus": s.cpus} for s in slots], self.provider

    def render_pool(self) -> RenderPool:
        """The process's actor pool, started on its first render task (its dead actors are
        replaced by the pool itself)."""
        if self.pool is None:
            connect_ray(self.settings.ray_address or None, namespace=self.settings.ray_namespace)
            self.pool = RenderPool(pool_shape(), self.settings.max_attempts)
            self.report()
        return self.pool

    def report(self) -> None:
        """Refresh this worker's row at once (its reaper does it every sweep too)."""
        if self.reaper is not None:
            self.reaper.report()

    def close(self) -> None:
        """Stop the reaper and the pool, and leave Ray."""
        if self.reaper is not None:
            self.reaper.stop()
        if self.pool is not None:
            import ray

            try:
                self.pool.shutdown()
            finally:
                ray.shutdown()
            self.pool = None


class _Process:
    """The worker process's context: made by :func:`_open_context`, closed by :func:`_close_context`."""

    context: WorkerContext | None = None


def worker_context() -> WorkerContext:
    """This process's context (made at process start; made now when a task runs outside a
    worker, e.g. eagerly in a test)."""
    if _Process.context is None:
        _Process.context = WorkerContext.open(get_settings(), app)
    return _Process.context


@signals.worker_process_init.connect
def _open_context(sender: Any = None, **_: Any) -> None:
    """A worker process starts (solo or prefork child): make its context."""
    worker_context()


@signals.worker_shutting_down.connect
def _shutting_down(**_: Any) -> None:
    """SIGTERM or SIGINT: the render in progress hands its job back at once."""
    if _Process.context is not None:
        _Process.context.stopping.set()


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _close_context(**_: Any) -> None:
    """The worker process stops: close its context."""
    context, _Process.context = _Process.context, None
    if context is not None:
        context.close()


class StopCheck:
    """Polled by the render loop: True once the job's run is over (cancelled, paused, resumed,
    retried, recovered or deleted), its lease was lost, or the worker is stopping; reads SQL
    at most every ``every_s`` seconds."""

    def __init__(self, ctx: WorkerContext, job_id: str, run: int, lease: LeaseKeeper, every_s: float = 0.25) -> None:
        self.ctx, self.job_id, self.run, self.lease, self.every_s = ctx, job_id, run, lease, every_s
        self.stopped, self._checked = False, 0.0

    @property
    def handing_back(self) -> bool:
        """Whether the stop is the worker's own (shutting down), not the job's."""
        return self.ctx.stopping.is_set()

    def __call__(self) -> bool:
        if self.ctx.stopping.is_set() or self.lease.lost.is_set():
            self.stopped = True
        if not self.stopped and time.monotonic() - self._checked >= self.every_s:
            self._checked = time.monotonic()
            with self.ctx.sessions() as session:
                self.stopped = _active_job(session, self.job_id, self.run) is None
        return self.stopped


def _active_job(session: Session, job_id: str, run: int | None) -> Job | None:
    """The job if it exists and is to be worked on now: not ended, not paused, and still in
    ``run`` (None, from a message of a release before runs: any run)."""
    job = session.get(Job, job_id)
    if job is None or job.state in (*ENDED, State.PAUSED) or run not in (None, job.run):
        return None
    return job


def _still_current(ctx: WorkerContext, job_id: str, run: int | None) -> bool:
    """Whether the job is still active in ``run``, read in a session of its own."""
    with ctx.sessions() as session:
        return _active_job(session, job_id, run) is not None


class StageTask(Task):
    """Base of the stage tasks: a task that fails for a reason no stage handled (a bug, a
    crash in a library) fails its job with that reason, so nothing waits on it forever.
    Transient errors are retried up to ``MAX_RETRIES`` times (Celery's own default, 3, would
    re-raise the error before that, and the job would fail as if on a bug)."""

    max_retries = MAX_RETRIES

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: object) -> None:
        ctx = worker_context()
        with ctx.sessions() as session:
            job = _active_job(session, args[0], args[1] if len(args) > 1 else None) if args else None
            if job is None:
                return
            log.error("%s failed on job %s:\n%s", self.name, args[0], einfo)
            _fail(ctx, session, job, MattefarmError(f"{self.name} stopped on an unexpected error ({exc!r})",
                                                    "see the worker's log; retry the job once the cause is fixed"))


def _fail(ctx: WorkerContext, session: Session, job: Job, error: MattefarmError) -> None:
    """Fail the job with the error's reason and tell its listeners."""
    fail_job(session, job, error)
    ctx.live.publish(job_event(job, "state"))


def _handle_error(task: Task, ctx: WorkerContext, session: Session, job: Job, error: MattefarmError) -> None:
    """Retry a transient error with backoff, else fail the job and tell its listeners."""
    if error.transient and task.request.retries < MAX_RETRIES:
        session.rollback()
        raise task.retry(exc=error, countdown=2 ** task.request.retries)
    _fail(ctx, session, job, error)


Step = Callable[[WorkerContext, Session, Job, StopCheck], bool]
"""A stage's work on a claimed job; returns whether the job goes on to its next stage."""


def _run_stage(task: Task, job_id: str, run: int | None, step: Step) -> None:
    """Claim the job's lease, run one stage's ``step`` under it, release it, ring the next stage.

    Does nothing when the job is gone, ended, paused, in a later run, or held by
    another worker. A step whose rows were changed under it by a later run just
    stops. When the worker is shutting down, the job is handed back and rung again.
    """
    ctx = worker_context()
    owner = str(ctx.identity)
    with ctx.sessions() as session:
        job = _active_job(session, job_id, run)
        if job is None:
            return
        run = job.run
        if not claim_job(session, job_id, run, owner, ctx.settings.lease_s):
            log.info("job %s is held by another worker: message dropped", job_id)
            return
        session.refresh(job)
        if job.state == State.PENDING and job.plan is not None:  # resumed or retried: it runs again
            set_state(job, State.RUNNING)
            session.commit()
        ctx.current_job = job_id
        ctx.report()
        try:
            with LeaseKeeper(ctx.sessions, job_id, run, owner, ctx.settings.lease_s / 4) as lease:
                stop = StopCheck(ctx, job_id, run, lease)
                go_on = _step(task, ctx, session, job, run, step, stop)
        finally:
            ctx.current_job = None
            with ctx.sessions() as own:
                release_lease(own, job_id, owner)
            ctx.report()
        if go_on is None:
            return
        session.refresh(job)
        ctx.live.publish(job_event(job, "state"))
        if (go_on or stop.handing_back) and job.state not in ENDED:
            ring(session, job, ctx.celery)


def _step(task: Task, ctx: WorkerContext, session: Session, job: Job, run: int, step: Step,
          stop: StopCheck) -> bool | None:
    """Run ``step``; None when it failed (retried or the job failed) or lost its run."""
    try:
        go_on = step(ctx, session, job, stop)
    except MattefarmError as error:
        if _still_current(ctx, job.id, run):  # an error of an earlier run fails nothing
            _handle_error(task, ctx, session, job, error)
        return None
    except (StaleDataError, ObjectDeletedError):
        session.rollback()
        if not _still_current(ctx, job.id, run):
            return None
        raise
    if not _still_current(ctx, job.id, run) and job.state not in ENDED:
        session.rollback()
        return None
    return go_on


def _ingest(ctx: WorkerContext, session: Session, job: Job, stop: StopCheck) -> bool:
    ingest_job(session, job, ctx.storage)
    ctx.live.rebuild(job)
    return True


def _decline(ctx: WorkerContext, session: Session, job: Job) -> bool:
    """A blocklisted worker leaves the job to others; the job fails when every live render
    worker is blocklisted for it. Returns False (no next stage from here)."""
    limit = ctx.settings.blocklist_after
    fresh = utcnow() - timedelta(seconds=ctx.settings.lease_s)
    rows = session.scalars(select(Worker).where(Worker.stopped_at.is_(None))).all()
    workers = [w for w in rows if RENDER_QUEUE in w.queues.split(",") and (as_utc(w.heartbeat_at) or fresh) > fresh]
    names = {w.name for w in workers} | {ctx.identity.name}
    if all(blocklisted(job, name, limit) for name in names):
        raise MattefarmError(f"every render worker failed this job {limit} times ({', '.join(sorted(names))})",
                             "see the chunk logs; retry the job once the workers are mended")
    log.warning("worker %s is blocklisted for job %s: left to other workers", ctx.identity.name, job.id)
    return False


def _render(ctx: WorkerContext, session: Session, job: Job, stop: StopCheck) -> bool:
    """Render the job's chunks until done or until the run is over (:class:`StopCheck`)."""
    if job.plan is None:
        return True  # not ingested (a duplicate message): ring for what it needs next
    if blocklisted(job, ctx.identity.name, ctx.settings.blocklist_after):
        return _decline(ctx, session, job)
    recorder = ChunkRecorder(session, job, listener=LiveMirror(ctx.live), log=ChunkLog(ctx.storage, job.id),
                             lease=(str(ctx.identity), stop.run), should_stop=stop)
    render_job(recorder, ctx.storage, ctx.render_pool())
    ctx.provider = job.provider or ctx.provider
    if not stop.stopped:
        return True
    session.refresh(job)
    if job.state == State.CANCELLED:
        cleanup_job(job, ctx.storage)
    return False  # paused, a later run, or handed back: finished chunks stay


def _assemble(ctx: WorkerContext, session: Session, job: Job, stop: StopCheck) -> bool:
    assemble_job(session, job, ctx.storage)
    if not ctx.settings.keep_intermediates:
        cleanup_job(job, ctx.storage)
    return False


@app.task(name="mattefarm.ingest", bind=True, base=StageTask)
def ingest(self: Task, job_id: str, run: int | None = None) -> None:
    """Probe, analyse, plan and split; then enqueue the render."""
    _run_stage(self, job_id, run, _ingest)


@app.task(name="mattefarm.render", bind=True, base=StageTask)
def render(self: Task, job_id: str, run: int | None = None) -> None:
    """Render the chunks not done on this worker's actor pool; then enqueue the assembly."""
    _run_stage(self, job_id, run, _render)


@app.task(name="mattefarm.assemble", bind=True, base=StageTask)
def assemble(self: Task, job_id: str, run: int | None = None) -> None:
    """Concatenate the chunks, mux the audio, verify; the job is done."""
    _run_stage(self, job_id, run, _assemble)
