"""Appearance vectors on real faces, and the solve's join of one person's tracks by appearance."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from models.errors import InputError
from models.face_analysis import FaceTable
from models.face_detect import FaceDetector
from models.face_identity import APPEARANCE_SIZE, REGION_BINS, appearance, similarity
from models.face_solve import SolveParams, join_by_appearance, solve_faces
from models.registry import model_path
from tests.conftest import SHARED, media
from workers.plates import read_image


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(model_path("yunet", SHARED / "models"), "cpu")


def _look(detector: FaceDetector, rgb: np.ndarray) -> np.ndarray:
    faces = detector.detect(rgb)
    assert faces, "a face is found"
    return appearance(rgb, max(faces, key=lambda f: f.area).box)


def test_one_person_looks_alike_across_frames_and_scales_and_two_people_do_not(detector: FaceDetector) -> None:
    with av.open(media("faces/grid_lbax4n.mpg")) as container:
        frames = [f.to_ndarray(format="rgb24") for i, f in zip(range(61), container.decode(video=0)) if i in (0, 60)]
    first, later = (_look(detector, rgb) for rgb in frames)
    smaller = _look(detector, cv2.resize(frames[0], None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA))
    assert first.shape == (APPEARANCE_SIZE,) and first.dtype == np.float32
    assert np.allclose(first.reshape(2, REGION_BINS).sum(1), 1.0, atol=1e-5)
    assert similarity(first, later) > 0.92 and similarity(first, smaller) > 0.92
    obama = _look(detector, read_image(media("faces/wh_obama_official_portrait.jpg"), "a still", ""))
    astronaut = _look(detector, read_image(media("faces/skimage_astronaut_eileen_collins.png"), "a still", ""))
    for a, b in ((first, obama), (first, astronaut), (obama, astronaut)):
        assert similarity(a, b) < 0.85


def _table(tracks: list[tuple[range, np.ndarray]]) -> tuple[FaceTable, list[list[int]]]:
    """A table whose rows are ``tracks`` (frames, appearance), sorted by frame, and each track's rows;
    each track keeps its own place in the frame."""
    rows = sorted((frame, k) for k, (frames, _) in enumerate(tracks) for frame in frames)
    n = len(rows)
    looks = np.stack([tracks[k][1] for _, k in rows]).astype(np.float32)
    boxes = np.stack([np.float32([100 * k, 0, 100 * k + 40, 40]) for _, k in rows])  # track k at x = 100 k
    table = FaceTable(np.array([f for f, _ in rows], np.int32), boxes,
                      np.ones(n, np.float32), np.zeros((n, 5, 2), np.float32), np.zeros((n, 468, 2), np.float32), looks)
    return table, [[i for i, (_, k) in enumerate(rows) if k == t] for t in range(len(tracks))]


def _peaked(bin_: int, spread: float = 0.1) -> np.ndarray:
    region = np.full(REGION_BINS, spread / (REGION_BINS - 1), np.float32)
    region[bin_] = 1.0 - spread
    return np.concatenate([region, region])


def test_tracks_of_one_person_join_across_a_long_miss_and_others_stay_apart() -> None:
    # A (0-9) and its return B (25-34), 15 frames later; C (12-40) another person, overlapping B.
    table, tracks = _table([(range(0, 10), _peaked(3)), (range(25, 35), _peaked(3, 0.15)), (range(12, 41), _peaked(70))])
    joined = join_by_appearance(table, tracks, SolveParams(max_gap=25))
    assert sorted(map(sorted, joined)) == sorted([sorted(tracks[0] + tracks[1]), tracks[2]])
    # The same return after a longer absence than max_gap is not joined.
    assert len(join_by_appearance(table, tracks, SolveParams(max_gap=10))) == 3


def test_a_track_like_two_earlier_people_joins_neither() -> None:
    twin = _peaked(3)
    table, tracks = _table([(range(0, 10), twin), (range(0, 10), twin.copy()), (range(20, 30), twin.copy())])
    assert len(join_by_appearance(table, tracks, SolveParams())) == 3


def test_reference_mode_takes_every_track_of_the_person_and_no_one_else() -> None:
    # One person away for 60 frames (longer than max_gap), another person in between and overlapping.
    person, other = _peaked(3), _peaked(70)
    table, tracks = _table([(range(0, 10), person), (range(5, 100), other), (range(70, 90), person.copy())])
    by_frame = solve_faces(table, SolveParams(mode="reference", reference_frame=0, fill_gap=0))
    assert sorted(set(by_frame.frame.tolist())) == [*range(0, 10), *range(70, 90)]
    by_image = solve_faces(table, SolveParams(mode="reference", reference_look=other))
    assert sorted(set(by_image.frame.tolist())) == list(range(5, 100))
    with pytest.raises(InputError, match="looks like the reference image"):
        solve_faces(table, SolveParams(mode="reference", reference_look=_peaked(120)))
