"""The driver's chunk recorder against a real SQLite database: what a late event may not undo."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jobs.controls import cancel_job
from jobs.db import make_engine, session_factory
from jobs.events import ChunkRecorder, return_stopped_chunks
from jobs.options import RenderOptions
from jobs.pipeline import create_job
from jobs.tables import Chunk, State


def _spec(index: int) -> Any:
    return SimpleNamespace(index=index, frame_start=10 * index, frame_end=10 * index + 10, preroll_start=10 * index)


SLOT: Any = SimpleNamespace(node_id="node-a" * 4, node_host="host-a")


def test_a_chunk_dispatched_as_its_job_was_cancelled_is_not_left_running(tmp_path: Path) -> None:
    """A cancel lands between the stop check and a chunk's start: the start must not mark the chunk
    running after the render has put its stopped chunks back (a service test once found a cancelled
    job's chunk still 'running' after the next job had finished)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with session_factory(engine)() as session:
        job = create_job(session, "shot.mp4", "out.mp4", RenderOptions(background="plate.jpg", screen="green"))
        job.chunks = [Chunk(index=i, frame_start=10 * i, frame_end=10 * i + 10, preroll_start=10 * i, input_key="")
                      for i in range(2)]
        session.commit()
        recorder = ChunkRecorder(session, job, lease=("worker-a", job.run))
        recorder.on_start(_spec(0), 1, SLOT)
        assert job.chunks[0].state == State.RUNNING, "while the run is ours a start is recorded: the test can fail"
        cancel_job(job)
        session.commit()
        return_stopped_chunks(recorder, "worker-a")
        recorder.on_start(_spec(1), 1, SLOT)  # dispatched just before the stop was seen
        session.expire_all()
        assert [c.state for c in job.chunks] == [State.PENDING, State.PENDING]
        assert job.state == State.CANCELLED
