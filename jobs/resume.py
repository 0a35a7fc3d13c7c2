"""The single-machine CLI's jobs, crash-safe: a render held by a lease, resumed after a crash.

``mattefarm render`` holds its job's lease while it runs (:mod:`jobs.leases`),
like a service worker. Run again with the same input, output and options after
the process died (``kill -9``, a power cut), it finds that job, sees its lease
expired (the process is gone from this host, or no heartbeat for ``lease_s``),
takes the row over and goes on: chunks already rendered are reused (their files
are still in storage), the ones that were running go back to pending, and the
assembly removes the ``.part-*`` file the crash left beside the output. A job
whose lease a live process holds is refused, not rendered twice.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jobs.chunk_specs import chunk_spec
from jobs.leases import ACTIVE, lease_expired
from jobs.options import RenderOptions
from jobs.pipeline import create_job
from jobs.tables import Chunk, Job, State, utcnow
from models.errors import InputError
from workers.storage import Storage


def _interrupted(session: Session, source: str, output: str, options: RenderOptions) -> Job | None:
    """The newest CLI job (never enqueued) for the same input, output and options that never ended."""
    rows = session.scalars(select(Job).where(Job.input_uri == source, Job.output_uri == output,
                                             Job.state.in_(ACTIVE), Job.rung_at.is_(None))
                           .order_by(Job.created_at.desc()))
    wanted = options.model_dump()
    return next((job for job in rows if job.options == wanted), None)


def _take_over(session: Session, job: Job, owner: str, storage: Storage) -> None:
    """Claim a crashed job's row for ``owner``: running chunks back to pending, finished chunks
    whose files are gone back to pending too; commits."""
    held_by = Job.lease_owner.is_(None) if job.lease_owner is None else Job.lease_owner == job.lease_owner
    won = session.execute(
        update(Job).where(Job.id == job.id, held_by)
        .values(lease_owner=owner, heartbeat_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount == 1  # type: ignore[attr-defined]
    session.commit()
    if not won:
        raise InputError(f"another mattefarm process took over job {job.id} just now", "let it finish")
    session.refresh(job)
    for chunk in job.chunks:
        lost = chunk.state == State.DONE and job.plan is not None and not _files_exist(job, chunk, storage)
        if chunk.state in (State.RUNNING, State.FAILED, State.DEAD) or lost:
            chunk.state, chunk.error, chunk.frames_done = State.PENDING, None, 0
            chunk.lease_owner = chunk.heartbeat_at = None
    job.frames_done = sum(c.frames_done for c in job.chunks)
    session.commit()


def _files_exist(job: Job, chunk: Chunk, storage: Storage) -> bool:
    """Whether a finished chunk's rendered files are still in storage."""
    spec = chunk_spec(job, chunk, storage)
    return all(storage.exists(key) for key in (spec.output_key, spec.matte_key) if key)


def open_cli_job(session: Session, source: str, output: str, options: RenderOptions, owner: str, lease_s: float,
                 storage: Storage) -> tuple[Job, int]:
    """The job a ``mattefarm render`` runs, held by ``owner``'s lease: a crashed run of the same
    render taken over, else a new job. Returns ``(job, chunks already done)``.

    Raises:
        InputError: a live process is rendering the same input to the same output.
    """
    source, output = str(Path(source).expanduser().resolve()), str(Path(output).expanduser().resolve())
    job = _interrupted(session, source, output, options)
    if job is None:
        job = create_job(session, source, output, options)
        job.lease_owner, job.heartbeat_at = owner, utcnow()
        session.commit()
        return job, 0
    if job.lease_owner is not None and not lease_expired(job, utcnow(), lease_s):
        raise InputError(f"{Path(output).name} is being rendered from {Path(source).name} by another mattefarm "
                         f"process ({job.lease_owner})", "wait for it to finish, or render to another output")
    _take_over(session, job, owner, storage)
    return job, sum(1 for c in job.chunks if c.state == State.DONE)
