"""The built-in face swapper: piecewise-affine mesh warp, colour match in Lab, feathered blend.

Given the source identity's 468 FaceMesh landmarks and the target's solved
landmarks in a frame:

1. the source face is warped onto the target triangle by triangle (a
   piecewise-affine warp over a Delaunay triangulation of the source mesh,
   computed once per source);
2. its colour is matched to the target's skin in CIE Lab: per channel, the
   mean and standard deviation inside the face (Reinhard et al., "Color
   Transfer between Images", IEEE CG&A 2001);
3. it is blended through a feathered mask: the face oval, minus the target's
   own eyes and mouth interior (so blinks and speech stay the actor's).

Index lists are MediaPipe Face Mesh's canonical topology (face oval, eyes,
inner lips).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
INNER_LIPS = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles of ``(N, 2)`` points as ``(T, 3)`` int32 indices."""
    low, high = points.min(0) - 2, points.max(0) + 2
    subdiv = cv2.Subdiv2D((int(low[0]), int(low[1]), int(high[0] - low[0]) + 2, int(high[1] - low[1]) + 2))
    for p in points:
        subdiv.insert((float(p[0]), float(p[1])))
    index = {(round(float(p[0]), 2), round(float(p[1]), 2)): i for i, p in enumerate(points)}
    triangles = []
    for t in subdiv.getTriangleList().reshape(-1, 3, 2):
        ids = [index.get((round(float(x), 2), round(float(y), 2))) for x, y in t]
        if None not in ids:
            triangles.append(ids)
    return np.asarray(triangles, dtype=np.int32)


@dataclass(frozen=True)
class SourceFace:
    """The identity to paste: its image, landmarks and triangulation.

    Attributes:
        rgb: ``(H, W, 3)`` uint8. landmarks: ``(468, 2)`` float32 in its pixels. triangles: ``(T, 3)`` int32.
    """

    rgb: np.ndarray
    landmarks: np.ndarray
    triangles: np.ndarray

    @classmethod
    def of(cls, rgb: np.ndarray, landmarks: np.ndarray) -> "SourceFace":
        """Triangulate the source mesh once."""
        points = landmarks[:, :2].astype(np.float32)
        return cls(rgb, points, triangulate(points))


def warp_face(source: SourceFace, target_points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The source face warped onto ``(468, 2)`` target landmarks: ``(H, W, 3)`` float32 RGB, 0 outside.

    Args:
        size: ``(W, H)`` of the target frame.
    """
    width, height = size
    out = np.zeros((height, width, 3), np.float32)
    src = source.rgb.astype(np.float32)
    for tri in source.triangles:
        s, d = source.landmarks[tri], target_points[tri].astype(np.float32)
        x, y, w, h = cv2.boundingRect(d)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
        if x1 <= x0 or y1 <= y0:
            continue
        matrix = cv2.getAffineTransform(s, d - np.float32([x0, y0]))
        patch = cv2.warpAffine(src, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round(d - [x0, y0]).astype(np.int32), 1, cv2.LINE_8)
        region = out[y0:y1, x0:x1]
        region[mask > 0] = patch[mask > 0]
    return out


def blend_mask(target_points: np.ndarray, size: tuple[int, int], feather: float = 0.05) -> np.ndarray:
    """``(H, W)`` float32 in [0, 1]: the face oval minus eyes and inner lips, feathered (the
    feather reaches about two sigmas past the oval; nothing beyond it changes).

    Args:
        feather: blur sigma as a share of the face's width.
    """
    width, height = size
    mask = np.zeros((height, width), np.float32)
    cv2.fillPoly(mask, [np.round(target_points[list(FACE_OVAL)]).astype(np.int32)], 1.0)
    for hole in (RIGHT_EYE, LEFT_EYE, INNER_LIPS):
        cv2.fillPoly(mask, [np.round(target_points[list(hole)]).astype(np.int32)], 0.0)
    face_width = float(np.ptp(target_points[list(FACE_OVAL), 0])) or 1.0
    sigma = max(1.0, feather * face_width)
    # Shrink by a sigma before the blur, so the feather is centred just inside the oval.
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=max(1, round(sigma)))
    blurred = cv2.GaussianBlur(mask, (0, 0), sigma)
    return np.where(blurred > 1.0 / 512, blurred, 0.0).astype(np.float32)


def match_colour(warped: np.ndarray, target: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Move the warped face's Lab mean and deviation to the target's inside ``region`` (bool ``(H, W)``).

    Args:
        warped, target: ``(H, W, 3)`` float32 RGB in 0-255.

    Returns:
        ``(H, W, 3)`` float32 RGB in 0-255.
    """
    if region.sum() < 16:
        return warped
    lab_w = cv2.cvtColor(np.clip(warped / 255.0, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    lab_t = cv2.cvtColor(np.clip(target / 255.0, 0, 1).astype(np.float32), cv2.COLOR_RGB2LAB)
    w, t = lab_w[region], lab_t[region]
    scale = t.std(0) / np.maximum(w.std(0), 1e-3)
    lab = (lab_w - w.mean(0)) * scale + t.mean(0)
    return cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB) * 255.0


def swap_face(target: np.ndarray, target_points: np.ndarray, source: SourceFace) -> np.ndarray:
    """Paste the source identity onto one face of a frame.

    Args:
        target: ``(H, W, 3)`` uint8 RGB frame. target_points: ``(468, 2)`` solved landmarks in it.
        source: the identity (:meth:`SourceFace.of`).

    Returns:
        ``(H, W, 3)`` uint8 RGB, the frame with the face replaced.
    """
    height, width = target.shape[:2]
    warped = warp_face(source, target_points, (width, height))
    mask = blend_mask(target_points, (width, height))
    frame = target.astype(np.float32)
    warped = match_colour(warped, frame, mask > 0.5)
    out = frame + (warped - frame) * mask[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
