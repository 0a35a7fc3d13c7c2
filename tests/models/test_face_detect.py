"""YuNet in onnxruntime, decoded by hand, against OpenCV's own FaceDetectorYN on real frames."""

from __future__ import annotations

import av
import cv2
import numpy as np

from models.face_detect import FaceDetector, nms
from models.registry import model_path
from tests.conftest import SHARED, media

MODEL = model_path("yunet", SHARED / "models")


def _frames(path: str, picks: set[int]) -> list[np.ndarray]:
    with av.open(path) as container:
        return [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i in picks]


def test_detections_match_opencv_face_detector_yn_on_grid_frames() -> None:
    detector = FaceDetector(MODEL, "cpu")
    reference = cv2.FaceDetectorYN.create(str(MODEL), "", (640, 640), 0.6, 0.3)
    for clip in ("faces/grid_lbax4n.mpg", "faces/grid_sbia1a.mpg"):
        for rgb in _frames(media(clip), {0, 37, 74}):
            faces = detector.detect(rgb)
            tensor, scale = detector.prepare_input(rgb)
            _, expected = reference.detect(np.ascontiguousarray(tensor[0].transpose(1, 2, 0)).astype(np.uint8))
            assert len(faces) == len(expected) == 1
            x, y, w, h = expected[0, :4] / scale
            assert np.abs(faces[0].box - [x, y, x + w, y + h]).max() < 0.5
            assert np.abs(faces[0].keypoints - expected[0, 4:14].reshape(5, 2) / scale).max() < 0.5
            assert abs(faces[0].score - expected[0, 14]) < 0.01


def test_a_plate_without_people_has_no_face() -> None:
    rgb = cv2.cvtColor(cv2.imread(media("backgrounds/skimage_rocket_launch.jpg")), cv2.COLOR_BGR2RGB)
    assert FaceDetector(MODEL, "cpu").detect(rgb) == []


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.float32([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]])
    assert nms(boxes, np.float32([0.8, 0.9, 0.7]), 0.3) == [1, 2]
