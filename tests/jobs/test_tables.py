"""Job records and their state machine, on SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from jobs.db import make_engine, session_factory
from jobs.tables import Chunk, IllegalTransition, Job, State, set_state

POSTGRES_URL = os.environ.get("MATTEFARM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _urls(tmp_path: Path) -> list[str]:
    return [f"sqlite:///{tmp_path / 'jobs.sqlite'}", POSTGRES_URL]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_job_and_chunks_round_trip_with_state_times(backend: str, tmp_path: Path) -> None:
    url = _urls(tmp_path)[backend == "postgresql"]
    engine = make_engine(url)
    job_id = uuid.uuid4().hex
    with session_factory(engine)() as session:
        job = Job(id=job_id, input_uri="in.mp4", output_uri="out.mp4", options={"codec": "h264"})
        job.chunks = [Chunk(index=i, frame_start=i * 8, frame_end=i * 8 + 8, preroll_start=max(0, i * 8 - 14)) for i in range(3)]
        session.add(job)
        session.commit()
        set_state(job, State.RUNNING)
        set_state(job.chunks[0], State.RUNNING)
        set_state(job.chunks[0], State.FAILED, "chunk 0: decoded 3 of 8 frames: retry")
        set_state(job, State.FAILED, "a chunk failed")
        session.commit()
    with session_factory(engine)() as session:
        stored = session.scalars(select(Job).where(Job.id == job_id)).one()
        assert stored.state == State.FAILED and stored.error == "a chunk failed"
        assert stored.started_at is not None and stored.finished_at is not None
        assert [c.state for c in stored.chunks] == [State.FAILED, State.PENDING, State.PENDING]
        assert stored.chunks[0].error.startswith("chunk 0")
        session.delete(stored)
        session.commit()
    engine.dispose()


def test_done_is_final() -> None:
    job = Job(id="x", input_uri="a", output_uri="b", state=State.RUNNING)
    set_state(job, State.DONE)
    with pytest.raises(IllegalTransition):
        set_state(job, State.RUNNING)


def test_a_batch_is_running_while_any_job_runs_or_some_are_done_and_others_wait() -> None:
    from jobs.tables import Batch

    def batch(*states: State) -> Batch:
        return Batch(jobs=[Job(input_uri="a", output_uri="b", state=s) for s in states])

    assert batch(State.DONE, State.RUNNING).state == State.RUNNING
    assert batch(State.DONE, State.PENDING).state == State.RUNNING
    assert batch(State.PENDING, State.PENDING).state == State.PENDING
    assert batch(State.DONE, State.FAILED).state == State.FAILED
    assert batch(State.DONE, State.CANCELLED, State.PAUSED).state == State.PAUSED
    assert batch(State.DONE, State.DONE).state == State.DONE
