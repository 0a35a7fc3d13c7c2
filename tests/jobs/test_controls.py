"""The controls a person applies to a job: the state changes and the run number that stops
stage tasks of an earlier run."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.controls import cancel_job, pause_job, resume_job, retry_job
from jobs.db import make_engine, session_factory
from jobs.tables import Chunk, Job, State, set_state
from models.errors import ConflictError


def _job(tmp_path: Path):  # noqa: ANN202 - (session, job)
    session = session_factory(make_engine(f"sqlite:///{tmp_path / 'jobs.sqlite'}"))()
    job = Job(input_uri="in.mp4", output_uri="out.mp4", options={}, plan={"chunks": []})
    job.chunks = [Chunk(index=i, frame_start=8 * i, frame_end=8 * i + 8, preroll_start=8 * i) for i in range(3)]
    session.add(job)
    session.commit()
    set_state(job, State.RUNNING)
    return session, job


def test_each_control_starts_a_new_run_and_resume_retries_a_chunk_that_failed_at_the_pause(tmp_path: Path) -> None:
    session, job = _job(tmp_path)
    assert job.run == 0
    for chunk, state in zip(job.chunks, (State.DONE, State.FAILED, State.PENDING)):
        set_state(chunk, State.RUNNING)
        if state != State.PENDING:
            set_state(chunk, state, "chunk 1: the encoder stopped" if state == State.FAILED else None)
        else:
            set_state(chunk, State.PENDING)
    pause_job(job)
    assert (job.state, job.run) == (State.PAUSED, 1)
    with pytest.raises(ConflictError):
        pause_job(job)
    resume_job(job)
    assert (job.state, job.run) == (State.PENDING, 2)
    assert [c.state for c in job.chunks] == [State.DONE, State.PENDING, State.PENDING]
    assert job.chunks[1].error is None, "the failed chunk is tried again"
    cancel_job(job)
    assert (job.state, job.run) == (State.CANCELLED, 3)
    retry_job(job)
    session.commit()
    assert (job.state, job.run, job.plan, job.chunks) == (State.PENDING, 4, None, []), "a cancelled job starts from ingest"
    session.close()
