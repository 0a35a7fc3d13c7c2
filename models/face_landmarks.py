"""Dense face landmarks: MediaPipe FaceMesh (468 points) on a crop aligned by the detector's eyes.

Model: MediaPipe Face Mesh (Kartynnik et al., "Real-time Facial Surface
Geometry from Monocular Video on Mobile GPUs", CVPR Workshops 2019), in the
ONNX conversion ``facemesh_468_deepfacelive.onnx``: a 192x192 RGB crop in
[0, 1], NHWC; out 468 x (x, y, z) in crop pixels. The crop is a square of
``margin`` times the face box, centred on the box and rotated so the eyes are
level (the model was trained on upright faces).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.choices import ProviderChoice
from models.face_detect import Face
from models.providers import create_session

CROP = 192
POINTS = 468
# Landmark indices of MediaPipe's canonical mesh used elsewhere (eye corners, nose tip, mouth corners).
RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS = (33, 133), (362, 263)
NOSE_TIP, RIGHT_MOUTH, LEFT_MOUTH = 1, 61, 291


def crop_transform(face: Face, margin: float = 1.5, size: int = CROP) -> np.ndarray:
    """The ``(2, 3)`` float64 affine from image pixels to the aligned ``size`` x ``size`` crop."""
    right_eye, left_eye = face.keypoints[0], face.keypoints[1]
    angle = float(np.degrees(np.arctan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])))
    centre = (face.box[:2] + face.box[2:]) / 2
    side = margin * float(max(face.box[2] - face.box[0], face.box[3] - face.box[1]))
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, size / side)
    matrix[:, 2] += size / 2 - centre
    return matrix


class FaceMesh:
    """468-point landmarks of a detected face.

    Args:
        model_file: the verified ONNX file (:func:`workers.model_files.fetch_model` ``("facemesh_468")``).
        providers: onnxruntime provider choice.
    """

    def __init__(self, model_file: Path, providers: ProviderChoice = "auto") -> None:
        self.session = create_session(str(model_file), providers)
        self.input_name = self.session.get_inputs()[0].name

    @staticmethod
    def prepare_crop(rgb: np.ndarray, face: Face) -> tuple[np.ndarray, np.ndarray]:
        """``(H, W, 3)`` uint8 RGB -> ``((1, 192, 192, 3) float32 in [0, 1], (2, 3) affine image->crop)``."""
        matrix = crop_transform(face)
        crop = cv2.warpAffine(rgb, matrix, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return (crop.astype(np.float32) / 255.0)[None], matrix

    def landmarks(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """``(468, 3)`` float32: x, y in image pixels, z (depth) in the same pixel scale."""
        tensor, matrix = self.prepare_crop(rgb, face)
        points = self.session.run(None, {self.input_name: tensor})[0].reshape(POINTS, 3)
        return normalize_landmarks(points, matrix)


def normalize_landmarks(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Crop-space ``(468, 3)`` landmarks back to the image through the inverse of ``matrix``."""
    inverse = cv2.invertAffineTransform(matrix)
    xy = points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
    scale = float(np.sqrt(abs(np.linalg.det(inverse[:, :2]))))
    return np.concatenate([xy, points[:, 2:3] * scale], axis=1).astype(np.float32)
