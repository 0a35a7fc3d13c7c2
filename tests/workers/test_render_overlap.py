"""The overlapped render (decode ahead, encode behind) writes what the one-thread render writes."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from jobs.chunk_specs import chunk_spec
from jobs.db import make_engine, session_factory
from jobs.ingest import ingest_job
from jobs.options import RenderOptions
from jobs.pipeline import create_job
from tests.conftest import media
from workers.render import ChunkRenderer
from workers.storage import Storage


def _frames(path: str) -> list[np.ndarray]:
    with av.open(path) as container:
        return [f.to_ndarray() for f in container.decode(video=0)]


def test_overlapped_and_inline_renders_are_identical(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    storage = Storage(str(tmp_path / "storage"))
    options = RenderOptions(background=media("backgrounds/skimage_rocket_launch.jpg"), codec="ffv1", chunk_frames=40,
                            matte_out=str(tmp_path / "matte.mkv"))
    with session_factory(engine)() as session:
        job = create_job(session, media("greenscreen/cremad_1001_DFA_HAP_XX.flv"), str(tmp_path / "out.mkv"), options)
        ingest_job(session, job, storage)
        spec = chunk_spec(job, job.chunks[1], storage)  # a middle chunk: pre-roll frames are dropped
    outputs = {}
    for overlap in (False, True):
        progress: list[int] = []
        result = ChunkRenderer(threads=1, overlap=overlap).render(spec, progress.append)
        assert result.frames == spec.frame_end - spec.frame_start == progress[-1]
        assert progress == sorted(progress)
        outputs[overlap] = [_frames(storage.path(key)) for key in (spec.output_key, spec.matte_key)]
    for inline, overlapped in zip(outputs[False], outputs[True], strict=True):
        assert len(inline) == len(overlapped) == result.frames
        assert all(np.array_equal(a, b) for a, b in zip(inline, overlapped, strict=True))
