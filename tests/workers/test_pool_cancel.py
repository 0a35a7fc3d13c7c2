"""Cancelling a render stops the chunks running on the actors, leaving none behind."""

from __future__ import annotations

import time
from pathlib import Path

import ray

from jobs.chunk_specs import chunk_spec
from jobs.db import make_engine, session_factory
from jobs.ingest import ingest_job
from jobs.options import RenderOptions
from jobs.pipeline import create_job
from tests.clips import ClipSpec, make_clip
from tests.conftest import media
from workers.pool import PoolEvents
from workers.storage import Storage


def test_should_stop_cancels_running_chunks_and_frees_the_actor(ray_pool, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    storage = Storage(str(tmp_path / "storage"))
    # Chunks long enough (300 frames) that none can finish between the stop request and the cancel.
    source = make_clip(ClipSpec("long", width=320, height=240, frames=900, x264="keyint=50"), str(tmp_path / "long.mp4"))
    options = RenderOptions(background=media("backgrounds/skimage_rocket_launch.jpg"), chunk_frames=300, batch_frames=4,
                            screen="green")
    with session_factory(engine)() as session:
        job = create_job(session, source, str(tmp_path / "out.mp4"), options)
        ingest_job(session, job, storage)
        specs = [chunk_spec(job, c, storage) for c in job.chunks]
    frames: list[int] = []
    stop_at: list[float] = []

    def on_progress(job_id: str, index: int, done: int) -> None:
        frames.append(done)
        if not stop_at:
            stop_at.append(time.monotonic())

    results = ray_pool.run(specs, PoolEvents(on_progress=on_progress, should_stop=lambda: bool(stop_at)))
    stopped = time.monotonic()
    assert stop_at and stopped - stop_at[0] < 5.0, "the pool returns within seconds of the request"
    assert len(results) < len(specs), "not every chunk was rendered"
    # Actor tasks run one at a time: a ping answers only once no render is left running on it.
    started = time.monotonic()
    assert all(ray.get([a.ping.remote() for a in ray_pool.actors], timeout=5.0))
    assert time.monotonic() - started < 2.0
    assert not any(storage.exists(s.output_key) for s in specs[len(results) :]), "no partial chunk output"
