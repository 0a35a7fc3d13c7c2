"""FaceFusion-style neural swapping: ArcFace identity embedding and the ``inswapper_128`` generator.

- Five points (eye centres, nose tip, mouth corners) come from the solved
  FaceMesh landmarks, so the neural swapper follows the same smoothed tracks
  as the built-in one.
- Alignment: a similarity transform (rotation, uniform scale, translation)
  from those points to a template, fitted by least median of squares
  (``cv2.estimateAffinePartial2D``, as FaceFusion does). Templates are
  InsightFace's ArcFace points (``arcface_dst`` in ``insightface/utils/face_align.py``)
  for the 112 px embedding crop, and the same points shifted 8 px right for the
  128 px swapper crop (FaceFusion's ``arcface_112_v2`` and ``arcface_128_v2``).
- Identity: ArcFace ``w600k_r50`` (Deng et al., "ArcFace: Additive Angular
  Margin Loss for Deep Face Recognition", CVPR 2019) on the source's aligned
  112 px crop, RGB scaled to [-1, 1]; the swapper's source input is the
  latent ``embedding . emap / ||embedding||``, with ``emap`` the 512 x 512
  matrix stored as the swapper graph's last initializer (FaceFusion,
  ``face_swapper.py``, ``prepare_source_embedding``).
- Paste-back: the 128 px output (RGB in [0, 1]) is warped back with the
  inverse transform, through a box mask feathered over 30 % of its half
  size (FaceFusion's ``box`` mask with blur 0.3).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import numpy_helper

from models.choices import ProviderChoice
from models.errors import ModelError
from models.face_landmarks import LEFT_MOUTH, NOSE_TIP, RIGHT_MOUTH
from models.face_swap import LEFT_EYE, RIGHT_EYE
from models.providers import create_session

ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)
"""InsightFace's 5-point template for 112x112 crops: right eye, left eye, nose tip, right and left mouth corner."""
ARCFACE_128 = ARCFACE_112 + np.array([8.0, 0.0], dtype=np.float32)
"""The same points in a 128x128 crop (insightface ``norm_crop``: ratio 1, 8 px to the right)."""


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """``(468, 2)`` FaceMesh landmarks -> ``(5, 2)`` float32: eye centres, nose tip, mouth corners
    (the person's right before left, as the ArcFace template)."""
    points = [landmarks[list(RIGHT_EYE)].mean(0), landmarks[list(LEFT_EYE)].mean(0), landmarks[NOSE_TIP],
              landmarks[RIGHT_MOUTH], landmarks[LEFT_MOUTH]]
    return np.asarray(points, np.float32)


def align(points: np.ndarray, template: np.ndarray) -> np.ndarray:
    """``(2, 3)`` float64 similarity transform taking ``(5, 2)`` image points onto ``template``.

    Raises:
        ModelError: the points are degenerate (no transform fits).
    """
    matrix, _ = cv2.estimateAffinePartial2D(points.astype(np.float32), template, method=cv2.LMEDS)
    if matrix is None:
        raise ModelError("the face keypoints are degenerate, so the face cannot be aligned", "check the source image")
    return matrix


def box_mask(size: int, blur: float = 0.3) -> np.ndarray:
    """``(size, size)`` float32: 1 inside, fading to 0 at the crop's border over ``blur`` of its half size."""
    ramp = np.clip(np.minimum(np.arange(size) + 0.5, size - np.arange(size) - 0.5) / (blur * size / 2), 0.0, 1.0)
    return np.outer(ramp, ramp).astype(np.float32)


class ArcFace:
    """Identity embeddings from an aligned 112x112 crop.

    Args:
        model_file: ``arcface_w600k_r50.onnx`` (or a graph with its signature).
    """

    size = 112

    def __init__(self, model_file: Path, providers: ProviderChoice = "auto") -> None:
        self.session = create_session(str(model_file), providers)
        self.input_name = self.session.get_inputs()[0].name

    def embed(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """``(512,)`` float32 embedding of the face with ``(468, 2)`` landmarks in an ``(H, W, 3)`` uint8 RGB image."""
        matrix = align(five_points(landmarks), ARCFACE_112)
        crop = cv2.warpAffine(rgb, matrix, (self.size, self.size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
        tensor = (crop.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        return self.session.run(None, {self.input_name: tensor})[0].reshape(-1).astype(np.float32)


def load_emap(model_file: Path) -> np.ndarray:
    """The swapper's ``(512, 512)`` float32 embedding map: its graph's last initializer.

    Raises:
        ModelError: the last initializer is not 512 x 512.
    """
    emap = numpy_helper.to_array(onnx.load(str(model_file)).graph.initializer[-1])
    if emap.shape != (512, 512):
        raise ModelError(f"{model_file.name} ends with an initializer of shape {emap.shape}, not the 512x512 emap",
                         "use the inswapper_128 file from the registry")
    return emap.astype(np.float32)


def source_latent(embedding: np.ndarray, emap: np.ndarray) -> np.ndarray:
    """``(1, 512)`` float32: ``embedding . emap / ||embedding||``."""
    return (embedding.reshape(1, -1) @ emap / max(float(np.linalg.norm(embedding)), 1e-12)).astype(np.float32)


class InSwapper:
    """The ``inswapper_128`` generator for one source identity.

    Args:
        model_file: ``inswapper_128.onnx`` (or a graph with its signature and a final 512x512 initializer).
        latent: ``(1, 512)`` :func:`source_latent` of the source's ArcFace embedding.
    """

    name = "inswapper_128"
    size = 128

    def __init__(self, model_file: Path, latent: np.ndarray, providers: ProviderChoice = "auto") -> None:
        self.session = create_session(str(model_file), providers)
        self.latent = latent.astype(np.float32)
        self.mask = box_mask(self.size)

    def paste(self, target: np.ndarray, target_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The generated face for one target and where it goes (:class:`models.face_replace.Swapper`).

        Args:
            target: ``(H, W, 3)`` float32 RGB 0-255 around the face. target_points: ``(468, 2)`` landmarks in it.

        Returns:
            ``(face (H, W, 3) float32 RGB 0-255, mask (H, W) float32 in [0, 1])``.
        """
        height, width = target.shape[:2]
        matrix = align(five_points(target_points), ARCFACE_128)
        crop = cv2.warpAffine(target, matrix, (self.size, self.size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
        feeds = {"target": (crop / 255.0).transpose(2, 0, 1)[None].astype(np.float32), "source": self.latent}
        out = self.session.run(None, feeds)[0][0].transpose(1, 2, 0)
        generated = np.clip(out, 0.0, 1.0).astype(np.float32) * 255.0
        inverse = cv2.invertAffineTransform(matrix)
        face = cv2.warpAffine(generated, inverse, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.warpAffine(self.mask, inverse, (width, height), flags=cv2.INTER_LINEAR, borderValue=0.0)
        return face, mask
