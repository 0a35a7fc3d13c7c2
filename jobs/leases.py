"""Leases in SQL: who works on a job's stage and its chunks, renewed by heartbeats.

Work is leased, not owned (Flamenco, OpenCue): a stage task first *claims* the
job's lease with one compare-and-set ``UPDATE`` (free, expired, or already its
own, and still in the run its message names), then renews it every quarter of
``lease_s`` from a thread while it works; the chunks it dispatches carry the
same owner and heartbeat. A lease expires ``lease_s`` seconds after the last
heartbeat, or at once when its owner ran on this host and its process is gone.
The reaper (:mod:`jobs.reaper`) then puts the work back and starts a new run
(``Job.run``), the fencing token every stage checks, so a worker that was only
slow cannot record work the farm has given to another.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from jobs.tables import Chunk, Job, State, as_utc, utcnow

log = logging.getLogger(__name__)
ACTIVE = (State.PENDING, State.RUNNING)


@dataclass(frozen=True)
class WorkerId:
    """One worker process: its name (blocklists), host, pid and a nonce (pids are reused).

    ``str()`` gives ``name@host:pid:nonce``, the owner string stored in leases.
    """

    name: str
    host: str
    pid: int
    nonce: str

    @classmethod
    def this_process(cls, name: str = "") -> "WorkerId":
        """The calling process, named ``name`` (default: its host name)."""
        host = socket.gethostname()
        return cls(name or host, host, os.getpid(), uuid.uuid4().hex[:8])

    @classmethod
    def parse(cls, owner: str) -> "WorkerId | None":
        """The id an owner string names; None for a string of another form."""
        name, at, rest = owner.rpartition("@")
        parts = rest.split(":")
        if not at or len(parts) != 3 or not parts[1].isdigit():
            return None
        return cls(name, parts[0], int(parts[1]), parts[2])

    def __str__(self) -> str:
        return f"{self.name}@{self.host}:{self.pid}:{self.nonce}"


def count_failure(job: Job, owner: str) -> None:
    """Count one failure on the job against the worker named in the lease string ``owner``
    (its blocklist entry, by worker name so a restarted worker keeps its count)."""
    parsed = WorkerId.parse(owner)
    name = parsed.name if parsed else owner
    job.blocklist = {**(job.blocklist or {}), name: (job.blocklist or {}).get(name, 0) + 1}


def blocklisted(job: Job, worker_name: str, limit: int) -> bool:
    """Whether ``worker_name`` has failed the job ``limit`` times (Flamenco's blocklist)."""
    return (job.blocklist or {}).get(worker_name, 0) >= limit


def _process_gone(owner: WorkerId) -> bool:
    """Whether ``owner`` ran on this host and its process no longer exists."""
    if owner.host != socket.gethostname():
        return False
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def lease_expired(job: Job, now: datetime, lease_s: float) -> bool:
    """Whether the job's lease is held and has expired (no heartbeat for ``lease_s``
    seconds, or its owner's process is gone from this host)."""
    if job.lease_owner is None:
        return False
    beat = as_utc(job.heartbeat_at)
    if beat is None or now - beat > timedelta(seconds=lease_s):
        return True
    owner = WorkerId.parse(job.lease_owner)
    return owner is not None and _process_gone(owner)


def claim_job(session: Session, job_id: str, run: int, owner: str, lease_s: float) -> bool:
    """Take the job's lease for ``owner`` if it is free, expired or already ``owner``'s, and
    the job is still active in ``run``; commits. Returns whether ``owner`` holds it now."""
    now = utcnow()
    stale = now - timedelta(seconds=lease_s)
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.run == run, Job.state.in_(ACTIVE),
               or_(Job.lease_owner.is_(None), Job.lease_owner == owner, Job.heartbeat_at < stale))
        .values(lease_owner=owner, heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1  # type: ignore[attr-defined]  # CursorResult of an UPDATE


def renew(session: Session, job_id: str, run: int, owner: str) -> bool:
    """One heartbeat: the job's lease and its running chunks' leases are stamped now, if
    ``owner`` still holds the job in ``run``; commits. Returns whether it does."""
    now = utcnow()
    held = session.execute(
        update(Job).where(Job.id == job_id, Job.run == run, Job.lease_owner == owner).values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount == 1  # type: ignore[attr-defined]
    if held:
        session.execute(update(Chunk).where(Chunk.job_id == job_id, Chunk.state == State.RUNNING,
                                            Chunk.lease_owner == owner).values(heartbeat_at=now)
                        .execution_options(synchronize_session=False))
    session.commit()
    return held


def release_lease(session: Session, job_id: str, owner: str) -> None:
    """Give the job's lease up, if ``owner`` still holds it; commits.

    The doorbell time is stamped in the same statement: the stage rings for the
    next one right after, and no reaper may take the job for lost in between.
    """
    session.execute(update(Job).where(Job.id == job_id, Job.lease_owner == owner)
                    .values(lease_owner=None, heartbeat_at=None, rung_at=utcnow())
                    .execution_options(synchronize_session=False))
    session.commit()


def void_lease(job: Job) -> None:
    """A new run voids the lease (in the caller's session): its holder's next heartbeat finds
    the lease gone and stops, and the new run's stage can claim the job at once."""
    job.lease_owner, job.heartbeat_at = None, None


class LeaseKeeper:
    """Renews a job's lease from a thread while a stage works (a context manager).

    ``lost`` is set once a heartbeat finds the lease gone (the reaper gave the work
    to another run); the stage's stop check reads it.

    Args:
        sessions: database sessions (the thread uses its own). job_id, run, owner:
            the lease. every_s: seconds between heartbeats.
    """

    def __init__(self, sessions: sessionmaker[Session], job_id: str, run: int, owner: str, every_s: float) -> None:
        self.sessions, self.job_id, self.run, self.owner, self.every_s = sessions, job_id, run, owner, every_s
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job_id[:8]}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                with self.sessions() as session:
                    if not renew(session, self.job_id, self.run, self.owner):
                        self.lost.set()
                        return
            except Exception:  # noqa: BLE001 - a missed heartbeat is retried; the lease is long
                log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
