"""Leases and the reaper, on a real database and the machine's Redis as the broker."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy.orm import Session

from jobs.celery_app import make_celery, queue_keys
from jobs.db import make_engine, session_factory
from jobs.doorbell import queued_job_ids
from jobs.leases import WorkerId, claim_job, lease_expired, release_lease, renew
from jobs.reaper import Reaper
from jobs.settings import Settings
from jobs.tables import Chunk, Job, Stage, State, utcnow
from tests.api.test_service import REDIS_URL


@pytest.fixture()
def farm(tmp_path: Path):  # noqa: ANN201 - (sessions, settings, celery app, broker)
    settings = Settings(home=tmp_path, redis_url=REDIS_URL, lease_s=5, ring_after_s=2, max_attempts=3)
    broker = redis.Redis.from_url(REDIS_URL)
    keys = [k for q in ("cpu", "render") for k in queue_keys(q)]
    broker.delete(*keys)
    sessions = session_factory(make_engine(settings.resolved_database_url()))
    yield sessions, settings, make_celery(settings), broker
    broker.delete(*keys)


def _job(session: Session, chunk_states: tuple[State, ...] = (State.DONE, State.RUNNING, State.PENDING)) -> Job:
    job = Job(input_uri="in.mp4", output_uri="out.mp4", state=State.RUNNING, stage=Stage.RENDER, plan={"probe": {}},
              rung_at=utcnow() - timedelta(seconds=60))
    job.chunks = [Chunk(index=i, frame_start=10 * i, frame_end=10 * i + 10, preroll_start=10 * i, state=state,
                        attempts=1 if state != State.PENDING else 0) for i, state in enumerate(chunk_states)]
    session.add(job)
    session.commit()
    return job


def _owner(pid: int | None = None) -> str:
    me = WorkerId.this_process("render-a")
    return str(WorkerId(me.name, me.host, pid or me.pid, me.nonce))


def test_a_lease_is_claimed_by_one_worker_until_it_expires_or_is_released(farm) -> None:  # noqa: ANN001
    sessions, settings, _, _ = farm
    with sessions() as session:
        job = _job(session)
        first, second = _owner(), str(WorkerId.this_process("render-b"))
        assert claim_job(session, job.id, 0, first, settings.lease_s)
        assert not claim_job(session, job.id, 0, second, settings.lease_s), "a fresh lease is held"
        assert not claim_job(session, job.id, 1, first, settings.lease_s), "a message of another run claims nothing"
        assert renew(session, job.id, 0, first) and not renew(session, job.id, 0, second)
        session.refresh(job)
        job.heartbeat_at = utcnow() - timedelta(seconds=settings.lease_s + 1)
        session.commit()
        assert lease_expired(job, utcnow(), settings.lease_s)
        assert claim_job(session, job.id, 0, second, settings.lease_s), "an expired lease is taken over"
        assert not renew(session, job.id, 0, first), "the old holder's heartbeat finds its lease gone"
        release_lease(session, job.id, second)
        session.refresh(job)
        assert job.lease_owner is None and claim_job(session, job.id, 0, first, settings.lease_s)


def test_a_lease_whose_process_is_gone_from_this_host_expires_at_once(farm) -> None:  # noqa: ANN001
    sessions, settings, app, _ = farm
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with sessions() as session:
        job = _job(session)
        assert claim_job(session, job.id, 0, _owner(gone.pid), settings.lease_s)
        session.refresh(job)
        assert lease_expired(job, utcnow(), settings.lease_s), "its heartbeat is fresh, but its process is gone"
        assert Reaper(sessions, settings, app).sweep().recovered == [job.id]
        assert claim_job(session, job.id, 1, _owner(), settings.lease_s)
        session.refresh(job)
        assert not lease_expired(job, utcnow(), settings.lease_s), "a live owner's fresh lease holds"


def test_the_reaper_puts_an_expired_lease_back_and_rings_once(farm) -> None:  # noqa: ANN001
    sessions, settings, app, _ = farm
    with sessions() as session:
        job = _job(session)
        owner = _owner()
        assert claim_job(session, job.id, 0, owner, settings.lease_s)
        session.refresh(job)
        job.heartbeat_at = utcnow() - timedelta(seconds=60)
        job.chunks[1].lease_owner = owner
        session.commit()
        job_id = job.id
    reapers = [Reaper(sessions, settings, app) for _ in range(2)]
    results = [r.sweep() for r in reapers]
    assert [r.recovered for r in results] == [[job_id], []], "exactly one reaper recovers the lease"
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job.lease_owner is None and job.run == 1 and job.state == State.RUNNING
        assert [c.state for c in job.chunks] == [State.DONE, State.PENDING, State.PENDING]
        assert job.chunks[1].attempts == 1, "the lost attempt stays counted"
        assert job.blocklist == {"render-a": 1}
    assert queued_job_ids(settings.resolved_broker_url(), [job_id]) == {job_id}
    assert reapers[1].sweep().rung == [], "a job waiting in a queue is not rung again"


def test_a_chunk_lost_max_attempts_times_goes_dead_and_fails_its_job(farm) -> None:  # noqa: ANN001
    sessions, settings, app, _ = farm
    with sessions() as session:
        job = _job(session)
        job.chunks[1].attempts = settings.max_attempts
        job.lease_owner, job.heartbeat_at = _owner(), utcnow() - timedelta(seconds=60)
        session.commit()
        job_id = job.id
    assert Reaper(sessions, settings, app).sweep().recovered == [job_id]
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job.chunks[1].state == State.DEAD and job.state == State.FAILED
        assert "chunk 1 went dead after 3 attempts" in job.error
    assert queued_job_ids(settings.resolved_broker_url(), [job_id]) == set(), "a failed job is not rung"


def test_a_job_whose_message_was_lost_is_rung_again(farm) -> None:  # noqa: ANN001
    sessions, settings, app, broker = farm
    with sessions() as session:
        job = _job(session, (State.PENDING,))
        job.state, job.plan, job.stage = State.PENDING, None, Stage.INGEST
        session.commit()
        job_id = job.id
        fresh = _job(session, (State.PENDING,))
        fresh.rung_at = utcnow()
        session.commit()
    result = Reaper(sessions, settings, app).sweep()
    assert result.rung == [job_id], "only the job rung long ago and waiting nowhere"
    waiting = [raw for key in queue_keys("cpu") for raw in broker.lrange(key, 0, -1)]
    assert any(job_id.encode() in raw and b"mattefarm.ingest" in raw for raw in waiting)
