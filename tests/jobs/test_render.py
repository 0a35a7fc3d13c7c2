"""End-to-end renders on real Ray and onnxruntime: seams, frame accuracy, audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jobs.db import make_engine, session_factory
from jobs.options import RenderOptions
from jobs.pipeline import create_job, run_job
from jobs.tables import Job, State
from tests.clips import CLIPS, make_clip
from tests.conftest import media
from tests.frames import grey_frames
from workers.probe import probe_video
from workers.storage import Storage


def render(home: Path, source: str, output: str, pool, **options) -> Job:  # type: ignore[no-untyped-def]
    """Run a whole job in-process on the shared Ray pool."""
    storage = Storage(str(home / "storage"))
    engine = make_engine(f"sqlite:///{home / 'db.sqlite'}")
    with session_factory(engine)() as session:
        job = create_job(session, source, output, RenderOptions(**options))
        run_job(session, job, storage, lambda: pool)
        return job


@pytest.mark.parametrize("keyer", [{"temporal_min": 0.4},  # the filter on: 14 pre-roll frames
                                   {"temporal_min": 0.4, "despot_white": 1, "shrink_grow": -1, "softness": 2,
                                    "light_wrap": 0.5}], ids=["temporal", "temporal-edges"])
def test_render_with_eight_frame_chunks_matches_single_chunk_matte(ray_pool, home: Path, tmp_path: Path,
                                                                   keyer: dict[str, float]) -> None:
    source = media("faces/grid_lbax4n.mpg")
    plate = media("backgrounds/skimage_rocket_launch.jpg")
    common = dict(background=plate, codec="ffv1", screen="blue", keyer=keyer)
    render(home, source, str(tmp_path / "a.mkv"), ray_pool, chunk_frames=8, matte_out=str(tmp_path / "a_matte.mkv"), **common)
    render(home, source, str(tmp_path / "b.mkv"), ray_pool, chunk_frames=1000, matte_out=str(tmp_path / "b_matte.mkv"), **common)
    chunked, single = grey_frames(str(tmp_path / "a_matte.mkv")), grey_frames(str(tmp_path / "b_matte.mkv"))
    assert chunked.shape == single.shape == (75, 288, 360)
    assert np.abs(chunked.astype(int) - single.astype(int)).max() <= 1
    assert 0.05 < (single > 128).mean() < 0.95, "the matte is neither empty nor full"


@pytest.mark.parametrize("spec", CLIPS, ids=lambda c: c.name)
def test_render_keeps_frame_count_and_timing(spec, ray_pool, home: Path, tmp_path: Path) -> None:
    source = make_clip(spec, str(tmp_path / f"src{spec.suffix}"))
    output = str(tmp_path / "out.mp4")
    job = render(home, source, output, ray_pool, background=media("backgrounds/skimage_hubble_deep_field.jpg"), chunk_frames=7)
    assert job.state == State.DONE
    src, out = probe_video(source), probe_video(output)
    assert out.frame_count == src.frame_count == spec.frames
    assert abs(out.duration_s - src.duration_s) <= 1 / float(src.fps)
    assert [round(float((p - out.frame_pts[0]) * out.time_base), 3) for p in out.frame_pts] == [
        round(float((p - src.frame_pts[0]) * src.time_base), 3) for p in src.frame_pts
    ], "every frame keeps its time (VFR included)"
    assert len(out.audio) == len(src.audio) == spec.audio_streams
    for a, b in zip(out.audio, src.audio):
        assert abs(a.duration_s - b.duration_s) <= 0.05
    assert out.video.rotation == src.video.rotation
    assert (out.video.width, out.video.height) == (src.video.width, src.video.height)
