"""A keying job from start to end: record it, run its stages (:mod:`jobs.ingest` ->
:mod:`jobs.render` -> :mod:`jobs.assemble`) in this process, fail it, clean it up.

Each stage takes the job's row, re-reads what it needs and is safe to call again
(finished work is skipped), so the CLI runs them in a row here and the service
(Celery, :mod:`jobs.tasks`) runs them one task each, on any machine.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from jobs.assemble import assemble_job
from jobs.chunk_log import ChunkLog
from jobs.events import ChunkRecorder, JobProgressFn, StageFn, quiet
from jobs.ingest import ingest_job
from jobs.layout import JobLayout
from jobs.options import RenderOptions
from jobs.render import render_job
from jobs.tables import Job, State, set_state
from models.errors import MattefarmError, error_kind
from workers.runner import ChunkRunner
from workers.storage import Storage

if TYPE_CHECKING:
    from jobs.ahead import IngestAhead


def create_job(
    session: Session, input_path: str, output_path: str, options: RenderOptions, job_id: str | None = None,
    priority: int = 50, owner: str = "", webhook_url: str | None = None,
) -> Job:
    """Record a new pending job (nothing is read yet); ``job_id`` defaults to a new UUID (hex);
    ``webhook_url`` is told when it ends (:mod:`jobs.webhooks`)."""
    job = Job(id=job_id or uuid.uuid4().hex, input_uri=str(input_path), output_uri=str(output_path),
              options=options.model_dump(), priority=priority, owner=owner, webhook_url=webhook_url)
    session.add(job)
    session.commit()
    return job


def fail_job(session: Session, job: Job, error: MattefarmError) -> None:
    """Mark a job failed with the error's one-line reason."""
    session.rollback()
    if job.state not in (State.FAILED, State.DONE, State.CANCELLED):
        set_state(job, State.FAILED, str(error))
        job.error_kind = error_kind(error)
    session.commit()


def cleanup_job(job: Job, storage: Storage) -> None:
    """Remove the job's intermediate files (split, rendered chunks, plate)."""
    storage.delete(JobLayout(job.id).intermediates)


def run_job(
    session: Session, job: Job, storage: Storage, make_pool: Callable[[], ChunkRunner],
    progress: JobProgressFn | None = None, keep_intermediates: bool = False, on_stage: StageFn = quiet,
    ahead: IngestAhead | None = None,
) -> None:
    """Run all stages of a job in this process; on error the job is failed and the error re-raised.

    ``on_stage`` is told what the job does as it goes (probing, splitting, rendering, assembling).
    ``make_pool`` is called once the job is ingested (its chunks known), so it can pick the runner.
    ``ahead``: its probe and analysis, begun in the background (:func:`ingest_job`).

    Intermediate files are removed once the job ends (unless ``keep_intermediates``); an
    interrupted run (Ctrl-C) keeps them, so running it again resumes (:mod:`jobs.resume`).
    """
    try:
        ingest_job(session, job, storage, on_stage, ahead)
        recorder = ChunkRecorder(session, job, progress, log=ChunkLog(storage, job.id))
        render_job(recorder, storage, make_pool(), on_stage)
        assemble_job(session, job, storage, on_stage)
    except MattefarmError as error:
        fail_job(session, job, error)
        _end(session, job, storage, keep_intermediates)
        raise
    _end(session, job, storage, keep_intermediates)


def _end(session: Session, job: Job, storage: Storage, keep_intermediates: bool) -> None:
    """A CLI job ended: its lease is given up and its intermediate files removed."""
    job.lease_owner, job.heartbeat_at = None, None
    session.commit()
    if not keep_intermediates:
        cleanup_job(job, storage)
