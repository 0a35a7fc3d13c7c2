"""Face detection with YuNet run directly in onnxruntime: strided outputs decoded, NMS in numpy.

YuNet (Wu et al., "YuNet: A Tiny Millisecond-level Face Detector", Machine
Intelligence Research 2023; weights from OpenCV Zoo) predicts, at strides 8,
16 and 32, per grid cell: a class score, an objectness, a box (centre offset
and log size, in stride units) and 5 keypoints (offsets, in stride units).
The decoding follows OpenCV's ``FaceDetectorYN`` (``face_detect.cpp``):
``score = sqrt(cls * obj)``, ``centre = (cell + offset) * stride``,
``size = exp(log_size) * stride``, ``keypoint = (cell + offset) * stride``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.choices import ProviderChoice
from models.providers import create_session

STRIDES = (8, 16, 32)
KEYPOINTS = ("right eye", "left eye", "nose tip", "right mouth corner", "left mouth corner")
"""YuNet's keypoint order (the person's right and left, as OpenCV documents them)."""


@dataclass(frozen=True)
class Face:
    """One detected face.

    Attributes:
        box: ``(4,)`` float32 ``x1, y1, x2, y2`` in image pixels.
        score: confidence in [0, 1].
        keypoints: ``(5, 2)`` float32 ``(x, y)`` in image pixels, in :data:`KEYPOINTS` order.
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of ``(4,)`` ``box`` with each of ``(N, 4)`` ``boxes`` (``x1, y1, x2, y2``)."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    own = (box[2] - box[0]) * (box[3] - box[1])
    return inter / np.maximum(own + areas - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Greedy non-maximum suppression: indices kept, highest score first.

    Args:
        boxes: ``(N, 4)`` ``x1, y1, x2, y2``. scores: ``(N,)``. threshold: IoU above which the lower box is dropped.
    """
    order = list(np.argsort(-scores))
    keep: list[int] = []
    while order:
        best, rest = order[0], np.asarray(order[1:], dtype=int)
        keep.append(int(best))
        order = [int(i) for i in rest[iou(boxes[best], boxes[rest]) <= threshold]] if len(rest) else []
    return keep


def decode(outputs: dict[str, np.ndarray], width: int, height: int, score_threshold: float) -> tuple[np.ndarray, ...]:
    """YuNet's strided outputs for a ``width`` x ``height`` input as ``(boxes (N, 4), scores (N,), keypoints (N, 5, 2))``
    in input pixels, for cells scoring at least ``score_threshold``."""
    boxes, scores, points = [], [], []
    for stride in STRIDES:
        cols = width // stride
        cls = np.clip(outputs[f"cls_{stride}"][0, :, 0], 0, 1)
        obj = np.clip(outputs[f"obj_{stride}"][0, :, 0], 0, 1)
        score = np.sqrt(cls * obj)
        keep = np.nonzero(score >= score_threshold)[0]
        if not len(keep):
            continue
        cell = np.stack([keep % cols, keep // cols], axis=1).astype(np.float32)
        bbox = outputs[f"bbox_{stride}"][0, keep]
        centre = (cell + bbox[:, :2]) * stride
        size = np.exp(bbox[:, 2:4]) * stride
        boxes.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1))
        scores.append(score[keep])
        points.append((outputs[f"kps_{stride}"][0, keep].reshape(-1, 5, 2) + cell[:, None, :]) * stride)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(points)


class FaceDetector:
    """YuNet face detector (the fixed 640x640 model, ``face_detection_yunet_2023mar.onnx``).

    Args:
        model_file: the verified ONNX file (:func:`workers.model_files.fetch_model` ``("yunet")``).
        providers: onnxruntime provider choice (CUDA first when it works).
        score_threshold: lowest face score kept. nms_threshold: IoU for suppression.
        size: the model's square input side in pixels.
    """

    def __init__(self, model_file: Path, providers: ProviderChoice = "auto", score_threshold: float = 0.6,
                 nms_threshold: float = 0.3, size: int = 640) -> None:
        self.session = create_session(str(model_file), providers)
        self.score_threshold, self.nms_threshold, self.size = score_threshold, nms_threshold, size
        self.output_names = [o.name for o in self.session.get_outputs()]

    def prepare_input(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """``(H, W, 3)`` uint8 RGB -> ``((1, 3, size, size) float32 BGR 0-255, scale)``: the image
        resized by ``scale`` to fit, top-left, zero padded."""
        height, width = rgb.shape[:2]
        scale = self.size / max(height, width)
        resized = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR)
        canvas = np.zeros((self.size, self.size, 3), np.float32)
        canvas[: resized.shape[0], : resized.shape[1]] = resized[..., ::-1]
        return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None]), scale

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an ``(H, W, 3)`` uint8 RGB image, highest score first."""
        tensor, scale = self.prepare_input(rgb)
        outputs = dict(zip(self.output_names, self.session.run(None, {"input": tensor})))
        boxes, scores, points = decode(outputs, self.size, self.size, self.score_threshold)
        keep = nms(boxes, scores, self.nms_threshold)
        return [Face((boxes[i] / scale).astype(np.float32), float(scores[i]), (points[i] / scale).astype(np.float32))
                for i in keep]
