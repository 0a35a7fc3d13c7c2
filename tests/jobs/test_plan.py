"""Chunk plans: every frame in exactly one chunk, packet ranges that decode every needed frame."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from jobs.plan import plan_chunks
from jobs.split import split_chunks
from tests.clips import CLIPS, make_clip
from workers.probe import probe_video
from workers.storage import Storage


@pytest.mark.parametrize("spec", [c for c in CLIPS if c.name in ("open_gop", "single_keyframe", "bframes")], ids=lambda c: c.name)
def test_split_chunks_decode_every_needed_frame(spec, tmp_path: Path) -> None:
    probe = probe_video(make_clip(spec, str(tmp_path / f"src{spec.suffix}")))
    plans = plan_chunks(probe, 7, 5)
    covered = [f for p in plans for f in range(p.frame_start, p.frame_end)]
    assert covered == list(range(probe.frame_count))
    storage = Storage(str(tmp_path / "storage"))
    for chunk in split_chunks(probe, plans, storage, "split"):
        with av.open(storage.path(chunk.key)) as container:
            decoded = {f.pts for f in container.decode(video=0)}
        assert set(chunk.file_pts) <= decoded, f"chunk {chunk.index} lost frames"


def test_probe_counts_frames_of_real_footage() -> None:
    from tests.conftest import media

    probe = probe_video(media("extra/autoeditor_man_on_green_screen.mp4"))
    assert probe.frame_count == 732
    assert probe.keyframes[:3] == (0, 250, 500)
