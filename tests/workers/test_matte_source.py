"""Matte files per frame (workers.matte_source): a video read out of order (seeking back and ahead across GOPs
with B-frames), an image sequence by position, roto keyframes in the source's numbering, 8- and 16-bit stills,
and the checks that refuse a matte before a job renders."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from models.errors import InputError
from workers.matte_source import MatteReader, check_matte, matte_kind, source_frame_number
from workers.probe import SequenceInfo

W, H, N = 96, 64, 20


def _box(k: int) -> np.ndarray:
    """Frame ``k``'s matte: a white box 8 px wide at ``x = 4 k``."""
    grey = np.zeros((H, W), np.uint8)
    grey[8:56, 4 * k: 4 * k + 8] = 255
    return grey


def _centre(matte: np.ndarray) -> float:
    columns = matte.mean(axis=0)
    return float((columns * np.arange(len(columns))).sum() / columns.sum())


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("matte") / "matte.mp4")
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"x264-params": "keyint=5:min-keyint=5:bframes=2:scenecut=0", "crf": "4"}
        for k in range(N):
            frame = av.VideoFrame.from_ndarray(np.repeat(_box(k)[..., None], 3, 2), format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = k, Fraction(1, 25)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_the_frame_numbering_rule_is_the_index_for_a_movie_and_the_file_number_for_a_sequence() -> None:
    assert source_frame_number(7, None) == 7
    assert source_frame_number(7, SequenceInfo("shot.%04d.exr", 1001, "sRGB", W, H)) == 1008


def test_the_kind_follows_the_name() -> None:
    assert [matte_kind(p) for p in ("m.%04d.png", "m.####.exr", "m.json", "m.png", "m.mov")] == \
        ["sequence", "sequence", "roto", "image", "video"]


def test_a_matte_video_is_read_out_of_order_frame_for_frame_in_range(video: str) -> None:
    reader = MatteReader(video, "video", (W // 2, H // 2), (W, H))
    try:
        for order in (range(10, 15), range(0, 5), range(15, 20), range(3, 8)):  # ahead, back, ahead, back
            planes = reader.planes(list(order))
            assert planes.shape == (5, H // 2, W // 2) and planes.dtype == np.float32
            for k, matte in zip(order, planes):
                assert abs(_centre(matte) - (4 * k + 4) / 2 + 0.5) < 0.3, k
                assert matte.max() > 0.97 and matte.min() < 0.02, "TV-range white and black are 1 and 0"
    finally:
        reader.close()


def test_a_matte_sequence_is_matched_by_position_and_roto_by_the_sources_numbers(tmp_path: Path) -> None:
    for k in range(N):
        cv2.imwrite(str(tmp_path / f"m.{1001 + k:04d}.png"), _box(k).astype(np.uint16) * 257)  # 16-bit
    reader = MatteReader(str(tmp_path / "m.####.png"), "sequence", (W, H), (W, H))
    assert abs(_centre(reader.frame(3)) - (4 * 3 + 4) + 0.5) < 0.1 and reader.frame(3).max() == 1.0
    roto = {"shapes": [{"keyframes": [{"frame": 1001, "points": [[0, 0], [8, 0], [8, H], [0, H]]},
                                      {"frame": 1011, "points": [[40, 0], [48, 0], [48, H], [40, H]]}]}]}
    (tmp_path / "r.json").write_text(json.dumps(roto))
    of_sequence = MatteReader(str(tmp_path / "r.json"), "roto", (W, H), (W, H), SequenceInfo("s.%04d.exr", 1001, "", W, H))
    of_movie = MatteReader(str(tmp_path / "r.json"), "roto", (W, H), (W, H))
    assert abs(_centre(of_sequence.frame(5)) - 23.5) < 0.1, "index 5 of a sequence from 1001 is frame 1006: halfway"
    assert abs(_centre(of_movie.frame(5)) - 3.5) < 0.1, "frame 5 of a movie is before the first keyframe: held"


def test_mattes_that_do_not_fit_the_shot_are_refused_before_it_renders(video: str, tmp_path: Path) -> None:
    assert check_matte(video, "garbage", N, W * 2, H * 2) == "video"
    with pytest.raises(InputError, match=f"has {N} frames and the shot {N + 1}"):
        check_matte(video, "garbage", N + 1, W, H)
    with pytest.raises(InputError, match="aspect ratio"):
        check_matte(video, "core", N, W, W)
    with pytest.raises(InputError, match="does not exist"):
        check_matte(str(tmp_path / "gone.png"), "garbage", N, W, H)
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="no list of shapes"):
        check_matte(str(tmp_path / "bad.json"), "garbage", N, W, H)
    (tmp_path / "text.mov").write_text("not a video")
    with pytest.raises(InputError, match="not a readable image, video or .json"):
        check_matte(str(tmp_path / "text.mov"), "garbage", N, W, H)


def test_a_held_roto_shape_is_rasterised_once(tmp_path: Path) -> None:
    roto = {"shapes": [{"keyframes": [{"frame": 0, "points": [[0, 0], [8, 0], [8, H], [0, H]]},
                                      {"frame": 4, "points": [[0, 0], [24, 0], [24, H], [0, H]]}]}]}
    (tmp_path / "r.json").write_text(json.dumps(roto))
    reader = MatteReader(str(tmp_path / "r.json"), "roto", (W, H), (W, H))
    moving = [reader.frame(i) for i in (1, 2)]
    assert moving[0] is not moving[1] and moving[1].sum() > moving[0].sum(), "a moving shape is drawn frame by frame"
    held = [reader.frame(i) for i in (5, 9)]
    assert held[0] is held[1], "after its last keyframe the shape is held: drawn once"
    fresh = MatteReader(str(tmp_path / "r.json"), "roto", (W, H), (W, H)).frame(9)
    assert np.array_equal(held[1], fresh) and held[1][:, :23].min() == 1.0
