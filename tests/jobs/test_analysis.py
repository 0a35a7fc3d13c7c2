"""Sampling frames for the screen analysis: by seeking, or in one pass when GOPs are long."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from jobs.analysis import keyframe_picks
from tests.clips import ClipSpec, make_clip
from tests.conftest import media
from workers.decode import frames_by_index, sample_frames, sample_frames_in_pass, seek_cost
from workers.probe import probe_video


def test_seek_cost_counts_frames_from_the_keyframe_before_each_pick() -> None:
    assert seek_cost((0, 250), [0, 100, 249, 250, 499]) == 1 + 101 + 250 + 1 + 250
    assert seek_cost((0, 10, 20), [5, 15, 25]) == 6 + 6 + 6


def _all_frames(path: str) -> list[np.ndarray]:
    with av.open(path) as container:
        return [f.reformat(format="rgb24", src_colorspace=5, dst_colorspace=5).to_ndarray() for f in container.decode(video=0)]


def test_sampling_in_one_pass_gives_the_wanted_frames_of_a_real_clip() -> None:
    probe = probe_video(media("faces/grid_lbax4n.mpg"))
    picks = (0, 7, 30, 74)
    in_pass = sample_frames_in_pass(probe.path, [probe.frame_pts[i] for i in picks], 5)
    every = _all_frames(probe.path)
    assert [i for i in picks if any(np.array_equal(every[i], f) for f in in_pass)] == list(picks)


def test_seeking_and_one_pass_agree_on_an_h264_clip_with_b_frames(tmp_path: Path) -> None:
    path = make_clip(ClipSpec("gop", width=320, height=240, frames=60, x264="keyint=25:bframes=3"), str(tmp_path / "gop.mp4"))
    probe = probe_video(path)
    pts = [probe.frame_pts[i] for i in (3, 26, 49, 59)]
    seeking, in_pass = sample_frames(path, pts, 5), sample_frames_in_pass(path, pts, 5)
    assert len(seeking) == len(in_pass) == 4
    assert all(np.array_equal(a, b) for a, b in zip(seeking, in_pass))


def test_keyframes_replace_the_picks_when_there_are_enough_of_them() -> None:
    keyframes = tuple(range(0, 15000, 600))  # 10 minutes at 25 fps, 600-frame GOPs
    picks = [round(i * 14999 / 23) for i in range(24)]
    chosen = keyframe_picks(keyframes, picks)
    assert 12 <= len(chosen) <= 24 and set(chosen) <= set(keyframes)
    assert chosen[0] == 0 and chosen[-1] == 14400, "the samples still span the shot"
    assert keyframe_picks((0, 250), [0, 100, 200, 300, 499]) == [], "too few keyframes: sample as asked"


def test_frames_by_index_are_the_exact_frames_where_a_seek_misses() -> None:
    path = media("faces/grid_bbaf2n.mpg")  # MPEG program stream: a seek to frame 0 lands on frame 12
    probe = probe_video(path)
    picks = [0, 37, 74]
    assert len(sample_frames(path, [probe.frame_pts[i] for i in picks], 5)) < len(picks), "seeking misses here"
    every = _all_frames(path)
    assert all(np.array_equal(got, every[i]) for got, i in zip(frames_by_index(probe, picks), picks, strict=True))
