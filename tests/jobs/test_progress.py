"""Live progress in Redis: counters, events, and the rebuild from SQL after Redis loses them."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis

from jobs.db import make_engine, session_factory
from jobs.progress import LiveProgress, job_event
from jobs.tables import Chunk, Job, Stage, State, set_state

REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture()
def live() -> LiveProgress:
    progress = LiveProgress.from_url(REDIS_URL, prefix=f"test-{uuid.uuid4().hex[:8]}")
    yield progress
    for key in progress.client.scan_iter(f"{progress.prefix}:*"):
        progress.client.delete(key)


def _job(tmp_path: Path) -> Job:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    session = session_factory(engine)()
    job = Job(input_uri="in.mp4", output_uri="out.mp4", frames_total=30, state=State.PENDING, stage=Stage.RENDER)
    job.chunks = [Chunk(index=i, frame_start=10 * i, frame_end=10 * i + 10, preroll_start=10 * i, frames_done=0,
                        attempts=0, state=State.PENDING) for i in range(3)]
    set_state(job, State.RUNNING)
    job.chunks[0].frames_done, job.chunks[1].frames_done = 10, 4
    session.add(job)
    session.commit()
    return job


def test_live_frames_are_rebuilt_from_sql_after_redis_loses_them(live: LiveProgress, tmp_path: Path) -> None:
    job = _job(tmp_path)
    live.set_chunk_frames(job.id, 1, 7)  # live is ahead of SQL while a chunk renders
    assert sum(live.chunk_frames(job).values()) == 7
    live.client.delete(f"{live.prefix}:job:{job.id}:frames")  # as after FLUSHDB or a restart
    assert live.frames(job.id) is None
    assert sum(live.chunk_frames(job).values()) == 14, "SQL's frames: 10 + 4 + 0"
    assert live.frames(job.id) == {0: 10, 1: 4, 2: 0}


def test_subscribers_get_events_published_after_they_subscribed(live: LiveProgress, tmp_path: Path) -> None:
    job = _job(tmp_path)
    subscription = live.subscribe(job.id)
    try:
        live.publish(job_event(job, "chunk", job.chunks[1]))
        events = iter(subscription)
        event = next(e for e in events if e is not None)
    finally:
        subscription.close()
    assert event["type"] == "chunk" and event["chunk"]["index"] == 1 and event["chunk"]["frames_done"] == 4
    assert event["state"] == "running" and event["frames_total"] == 30


def test_redis_is_reachable() -> None:
    assert redis.Redis.from_url(REDIS_URL).ping()
