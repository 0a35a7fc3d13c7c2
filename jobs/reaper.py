"""The reaper: puts back the work of dead workers and rings again for lost messages.

Every worker process and the API run one (a thread, a sweep every
``reap_every_s``). A sweep looks at the service's active jobs (those ever
enqueued: CLI jobs are the CLI's own) and

- **recovers expired leases** (:func:`jobs.leases.lease_expired`): the job's
  running chunks go back to pending with their attempt counted, or go dead
  after ``max_attempts`` (the job then fails with the reason; retry revives
  them); the dead owner's failure is counted in the job's blocklist; the job
  starts a new run (the fencing token) and is enqueued again;
- **rings again for lost messages**: a job nobody holds, enqueued more than
  ``ring_after_s`` ago and waiting in no broker queue, is enqueued again (SQL is
  the record, the broker only a doorbell);
- **sends webhooks** of ended jobs (:mod:`jobs.webhooks`).

Several reapers may sweep at once: each change is a compare-and-set ``UPDATE``,
so exactly one of them recovers a lease or rings for a job.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from jobs.chunk_log import ChunkLog
from jobs.doorbell import queued_job_ids, ring
from jobs.leases import ACTIVE, WorkerId, count_failure, lease_expired
from jobs.progress import LiveProgress, job_event
from jobs.settings import Settings
from jobs.tables import Chunk, Job, State, Worker, as_utc, set_state, utcnow
from jobs.webhooks import deliver_due, record_deliveries
from workers.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    """What one sweep did: job ids whose lease it recovered, job ids it rang for, webhooks delivered."""

    recovered: list[str] = field(default_factory=list)
    rung: list[str] = field(default_factory=list)
    delivered: int = 0


class Reaper:
    """Sweeps for expired leases and lost messages (see the module's text).

    Args:
        sessions: database sessions. settings: lease, ring and attempt settings.
        app: the Celery app to ring with. storage: for chunk logs (None: no log lines).
        live: live progress to tell listeners of recoveries (None: none).
        worker: the worker this reaper runs in (its row is refreshed each sweep), or None (the API).
        queues: that worker's queues (read at each sweep, comma-separated).
        current_job: the job the worker runs now (None: idle).
        pool: its render pool's actors (node id, host, GPUs, CPUs) and last execution provider.
    """

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, app: Celery,
                 storage: Storage | None = None, live: LiveProgress | None = None, worker: WorkerId | None = None,
                 queues: Callable[[], str] = lambda: "", current_job: Callable[[], str | None] = lambda: None,
                 pool: Callable[[], tuple[list[dict[str, Any]], str | None]] = lambda: ([], None)) -> None:
        self.sessions, self.settings, self.app, self.storage, self.live = sessions, settings, app, storage, live
        self.worker, self.queues, self.current_job, self.pool = worker, queues, current_job, pool
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> SweepResult:
        """One pass over the active jobs; returns what it did."""
        result = SweepResult()
        now = utcnow()
        with self.sessions() as session:
            jobs = session.scalars(select(Job).where(Job.state.in_(ACTIVE), Job.rung_at.is_not(None))).all()
            for job in jobs:
                if lease_expired(job, now, self.settings.lease_s) and self._recover(session, job):
                    result.recovered.append(job.id)
                    if job.state in ACTIVE:
                        ring(session, job, self.app)
                        result.rung.append(job.id)
            result.rung += self._ring_lost(session, [j for j in jobs if j.id not in result.recovered], now)
            if self.worker is not None:
                self._report_worker(session, now)
            record_deliveries(session)
            result.delivered = deliver_due(session, self.settings.webhook_secret)
        return result

    def _recover(self, session: Session, job: Job) -> bool:
        """Put an expired lease's work back (one reaper wins the compare-and-set); commits."""
        owner, run = job.lease_owner or "", job.run
        won = session.execute(
            update(Job).where(Job.id == job.id, Job.run == run, Job.lease_owner == owner)
            .values(lease_owner=None, heartbeat_at=None, run=run + 1).execution_options(synchronize_session=False)
        ).rowcount == 1  # type: ignore[attr-defined]
        if not won:
            session.rollback()
            return False
        session.refresh(job)
        count_failure(job, owner)
        dead = [self._return_chunk(job, chunk, owner) for chunk in job.chunks if chunk.state == State.RUNNING]
        reasons = [reason for reason in dead if reason]
        if reasons:
            set_state(job, State.FAILED, reasons[0])
        session.commit()
        log.warning("job %s: the lease of %s expired; its work is back in the queue (run %d)", job.id, owner, job.run)
        if self.live is not None:
            self.live.publish(job_event(job, "state"))
        return True

    def _return_chunk(self, job: Job, chunk: Chunk, owner: str) -> str | None:
        """A running chunk of an expired lease goes back to pending, or dead after
        ``max_attempts``; returns the job's failure reason when it went dead."""
        limit = self.settings.max_attempts
        chunk.lease_owner, chunk.heartbeat_at, chunk.frames_done = None, None, 0
        if chunk.attempts >= limit:
            reason = (f"chunk {chunk.index} went dead after {chunk.attempts} attempts (the last on {owner}, whose "
                      f"lease expired): retry the job once the workers are healthy")
            set_state(chunk, State.DEAD, reason)
            self._note(job, chunk.index, f"dead: lease of {owner} expired on attempt {chunk.attempts} of {limit}")
            return reason
        set_state(chunk, State.PENDING, f"the lease of {owner} expired")
        self._note(job, chunk.index, f"lease of {owner} expired on attempt {chunk.attempts} of {limit}: back to pending")
        return None

    def _note(self, job: Job, index: int, message: str) -> None:
        if self.storage is not None:
            ChunkLog(self.storage, job.id).write(index, message)

    def _ring_lost(self, session: Session, jobs: list[Job], now: datetime) -> list[str]:
        """Ring again for unclaimed jobs rung over ``ring_after_s`` ago and waiting in no queue."""
        due = now - timedelta(seconds=self.settings.ring_after_s)
        stale = [j for j in jobs if j.lease_owner is None and (as_utc(j.rung_at) or now) < due]
        if not stale:
            return []
        queued = queued_job_ids(self.settings.resolved_broker_url(), [j.id for j in stale])
        rung = []
        for job in stale:
            if queued is not None and job.id in queued:
                continue
            won = session.execute(  # one reaper rings
                update(Job).where(Job.id == job.id, Job.run == job.run, Job.lease_owner.is_(None),
                                  Job.rung_at == job.rung_at).values(rung_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount == 1  # type: ignore[attr-defined]
            session.commit()
            if won:
                session.refresh(job)
                log.warning("job %s waits in no queue and nobody holds it: enqueued again", job.id)
                ring(session, job, self.app)
                rung.append(job.id)
        return rung

    def report(self) -> None:
        """Refresh this worker's row now (a stage started or ended, the pool was made)."""
        try:
            with self.sessions() as session:
                self._report_worker(session, utcnow())
        except Exception:  # noqa: BLE001 - the next sweep reports again
            log.warning("could not report worker %s", self.worker, exc_info=True)

    def _report_worker(self, session: Session, now: datetime) -> None:
        """Refresh this worker's row: heartbeat, queues, current job, pool."""
        assert self.worker is not None
        row = session.get(Worker, str(self.worker))
        if row is None:
            row = Worker(identity=str(self.worker), name=self.worker.name, host=self.worker.host, pid=os.getpid(),
                         heartbeat_at=now)
            session.add(row)
        row.heartbeat_at, row.job_id, row.stopped_at, row.queues = now, self.current_job(), None, self.queues()
        row.nodes, row.provider = self.pool()
        session.commit()

    def _loop(self) -> None:
        every = self.settings.resolved_reap_every_s()
        while True:
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - a database or broker hiccup: sweep again later
                log.warning("reaper sweep failed", exc_info=True)
            if self._stop.wait(every):
                return

    def start(self) -> "Reaper":
        """Sweep now and then every ``reap_every_s`` in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="mattefarm-reaper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sweeping; a worker's row is marked stopped."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.worker is not None:
            try:
                with self.sessions() as session:
                    row = session.get(Worker, str(self.worker))
                    if row is not None:
                        row.stopped_at, row.job_id = utcnow(), None
                        session.commit()
            except Exception:  # noqa: BLE001 - shutting down: the row's heartbeat ages instead
                log.warning("could not mark worker %s stopped", self.worker, exc_info=True)
