"""Landmarks, tracks and zero-phase smoothing on a real talking-face clip and on known cases."""

from __future__ import annotations

import av
import numpy as np
import pytest

from models.face_detect import Face, FaceDetector
from models.face_landmarks import LEFT_MOUTH, NOSE_TIP, RIGHT_EYE_CORNERS, RIGHT_MOUTH, FaceMesh
from models.face_track import FaceTracker, jitter, smooth_zero_phase
from models.registry import model_path
from tests.conftest import SHARED, media


@pytest.fixture(scope="module")
def grid_faces() -> tuple[list[np.ndarray], list[list[Face]]]:
    detector = FaceDetector(model_path("yunet", SHARED / "models"), "cpu")
    with av.open(media("faces/grid_lbax4n.mpg")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames, [detector.detect(rgb) for rgb in frames]


def test_facemesh_landmarks_sit_on_the_detected_eyes_nose_and_mouth(grid_faces) -> None:  # noqa: ANN001
    frames, faces = grid_faces
    mesh = FaceMesh(model_path("facemesh_468", SHARED / "models"), "cpu")
    for i in (0, 30, 60):
        face = faces[i][0]
        points = mesh.landmarks(frames[i], face)
        assert points.shape == (468, 3)
        width = float(face.box[2] - face.box[0])
        pairs = [(points[list(RIGHT_EYE_CORNERS), :2].mean(0), face.keypoints[0]), (points[NOSE_TIP, :2], face.keypoints[2]),
                 (points[RIGHT_MOUTH, :2], face.keypoints[3]), (points[LEFT_MOUTH, :2], face.keypoints[4])]
        for mesh_point, keypoint in pairs:
            assert np.linalg.norm(mesh_point - keypoint) < 0.08 * width


def test_one_speaker_gives_one_track_over_every_frame(grid_faces) -> None:  # noqa: ANN001
    frames, faces = grid_faces
    tracker = FaceTracker()
    for i, found in enumerate(faces):
        tracker.update(i, found)
    assert len(tracker.tracks) == 1 and tracker.tracks[0].frames == list(range(len(frames)))


def _face(x: float, y: float, size: float = 40.0) -> Face:
    box = np.float32([x, y, x + size, y + size])
    keypoints = np.float32([[x + 12, y + 15], [x + 28, y + 15], [x + 20, y + 24], [x + 14, y + 32], [x + 26, y + 32]])
    return Face(box, 0.9, keypoints)


def test_two_faces_keep_their_tracks_through_a_miss_and_a_re_entry() -> None:
    tracker = FaceTracker(max_misses=5)
    for frame in range(20):
        faces = [_face(10 + frame, 50)]
        if not 8 <= frame < 11:  # the second face is missed for three frames
            faces.append(_face(200 - frame, 60))
        ids = tracker.update(frame, faces)
        assert ids[0] == 0 and (len(ids) == 1 or ids[1] == 1)
    assert len(tracker.tracks) == 2
    tracker.update(40, [_face(600, 300)])  # far away and long after: a new person
    assert len(tracker.tracks) == 3


def test_zero_phase_smoothing_has_no_lag_and_removes_jitter(grid_faces) -> None:  # noqa: ANN001
    line = np.stack([np.arange(30.0), 2 * np.arange(30.0)], axis=1)[:, None, :]  # (T, 1, 2) constant velocity
    assert np.allclose(smooth_zero_phase(line, 2.0), line, atol=1e-4), "a steady motion is not delayed"
    _, faces = grid_faces
    keypoints = np.stack([f[0].keypoints for f in faces])
    smoothed = smooth_zero_phase(keypoints, 1.5)
    assert jitter(smoothed) < 0.5 * jitter(keypoints)
    assert np.abs(smoothed - keypoints).mean() < 1.5, "the smoothed track stays on the face (pixels)"
