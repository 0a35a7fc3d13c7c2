"""The built-in swapper on a real talking-face frame and a real portrait."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from models.face_detect import FaceDetector
from models.face_landmarks import FaceMesh
from models.face_swap import FACE_OVAL, INNER_LIPS, RIGHT_EYE, SourceFace, blend_mask, match_colour, swap_face
from models.registry import model_path
from tests.conftest import SHARED, media


@pytest.fixture(scope="module")
def analysis():  # noqa: ANN201
    detector = FaceDetector(model_path("yunet", SHARED / "models"), "cpu")
    mesh = FaceMesh(model_path("facemesh_468", SHARED / "models"), "cpu")

    def landmarks(rgb: np.ndarray) -> np.ndarray:
        return mesh.landmarks(rgb, detector.detect(rgb)[0])[:, :2]

    with av.open(media("faces/grid_lbax4n.mpg")) as container:
        frame = next(f for i, f in enumerate(container.decode(video=0)) if i == 25).to_ndarray(format="rgb24")
    portrait = cv2.cvtColor(cv2.imread(media("faces/wh_obama_official_portrait.jpg")), cv2.COLOR_BGR2RGB)
    return frame, landmarks(frame), portrait, landmarks(portrait)


def _oval(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(points[list(FACE_OVAL)]).astype(np.int32)], 1)
    return mask.astype(bool)


def test_swapping_a_face_with_itself_changes_almost_nothing(analysis) -> None:  # noqa: ANN001
    frame, points, _, _ = analysis
    out = swap_face(frame, points, SourceFace.of(frame, points))
    assert np.abs(out.astype(int) - frame.astype(int))[_oval(points, frame.shape)].mean() < 3.0


def test_a_new_identity_changes_the_face_and_nothing_outside_it(analysis) -> None:  # noqa: ANN001
    frame, points, portrait, portrait_points = analysis
    out = swap_face(frame, points, SourceFace.of(portrait, portrait_points))
    inside = _oval(points, frame.shape)
    feather = 0.05 * float(np.ptp(points[list(FACE_OVAL), 0]))
    band = np.ones((2 * round(3 * feather) + 1,) * 2, np.uint8)
    grown = cv2.dilate(inside.astype(np.uint8), band).astype(bool)
    difference = np.abs(out.astype(int) - frame.astype(int))
    assert difference[inside].mean() > 6.0, "the face was replaced"
    assert difference[~grown].max() == 0, "hair, collar and backdrop beyond the feather are untouched"


def test_the_blend_mask_keeps_the_targets_eyes_and_mouth(analysis) -> None:  # noqa: ANN001
    frame, points, _, _ = analysis
    mask = blend_mask(points, (frame.shape[1], frame.shape[0]))
    cheek = points[[50, 280]].mean(0)  # between the cheekbones: well inside the face
    for hole in (RIGHT_EYE, INNER_LIPS):
        x, y = np.round(points[list(hole)].mean(0)).astype(int)
        assert mask[y, x] < 0.35
    assert mask[int(cheek[1]), int(cheek[0])] > 0.9
    assert mask[5, 5] == 0.0


def test_colour_matching_moves_the_face_to_the_target_skin_in_lab(analysis) -> None:  # noqa: ANN001
    frame, points, _, _ = analysis
    region = _oval(points, frame.shape)
    bluish = frame.astype(np.float32) * np.float32([0.6, 0.8, 1.3])
    matched = match_colour(bluish, frame.astype(np.float32), region)
    lab = lambda rgb: cv2.cvtColor(np.clip(rgb / 255, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)[region].mean(0)  # noqa: E731
    assert np.abs(lab(matched) - lab(frame.astype(np.float32))).max() < 1.0
