"""Matte and swap in one pass: the order of the multi-task render, and the paste into Y'CbCr planes.

The order, per frame:

1. **Hold the face.** The solved face oval of each target (eroded a little, so
   it stays inside the silhouette) becomes a holdout matte that raises the
   keyer's raw matte to 1 before its temporal and guided filters
   (:mod:`models.keyer_graph` ``hold``). Skin that carries spill from the
   screen, which a colour-difference key reads as partly transparent, stays
   solid; so do the eyes and the mouth interior, which stay the actor's.
2. **Key and despill** the whole frame as usual. Unmixing and despill act on
   the actor's face, not on the new one.
3. **Swap onto the despilled foreground.** The new face is colour-matched to
   the despilled skin, so the despill cannot tint it afterwards and the screen
   colour cannot leak into it.
4. **Composite with the key's alpha.** Since the keyer's composite is
   ``C = a F + (1 - a) B``, the swapped result is
   ``(1 - m) C + m (a S + (1 - a) B)`` with ``m`` the swapper's blend mask and
   ``S`` the new face: exactly the new foreground ``F + m (S - F)`` over the
   plate with the key's own alpha, so the swapped face keeps the matte's
   edges (a cheek against the screen keeps its soft edge) and nothing outside
   ``m`` changes. Where ``a = 1`` (all of the held face) ``C = F``, which is
   what the swapper matches colour to.

Without a key (``--no-key``) ``a = 1`` everywhere and the pass is a plain swap.
Only a box around each face is converted to RGB and back; outside the mask
the planes are left bit-for-bit as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from models.face_swap import FACE_OVAL
from models.yuv import YuvMatrix, planes_to_rgb, rgb_to_planes


class Swapper(Protocol):
    """Makes the new face for one target (the built-in mesh warp, or a neural swapper)."""

    name: str

    def paste(self, target: np.ndarray, target_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(H, W, 3)`` float32 RGB 0-255 region and ``(468, 2)`` landmarks in it ->
        ``(face (H, W, 3) float32 RGB 0-255, blend mask (H, W) float32 in [0, 1])``."""


def hold_matte(faces: list[np.ndarray], size: tuple[int, int], scale: float, erode: float = 0.04) -> np.ndarray:
    """The holdout matte of the faces at plane resolution.

    Args:
        faces: ``(468, 2)`` landmarks of each target, frame pixels.
        size: ``(W, H)`` of the matte (the chroma planes). scale: plane pixels per frame pixel (0.5 for 4:2:0).
        erode: how far inside the face oval the matte ends, as a share of the face's width.

    Returns:
        ``(H, W)`` float32, 1 inside the (eroded) face ovals, 0 elsewhere.
    """
    width, height = size
    matte = np.zeros((height, width), np.float32)
    for points in faces:
        oval = points[list(FACE_OVAL)] * scale
        one: np.ndarray = np.zeros_like(matte)
        cv2.fillPoly(one, [np.round(oval).astype(np.int32)], 1.0)
        steps = round(erode * float(np.ptp(oval[:, 0])))
        if steps:
            one = cv2.erode(one, np.ones((3, 3), np.uint8), iterations=steps)
        np.maximum(matte, one, out=matte)
    return matte


@dataclass(frozen=True)
class FramePlanes:
    """One frame's planes, changed in place by :func:`replace_faces`.

    Attributes:
        luma: ``(H, W)`` uint8 Y'. chroma: ``(2, Hc, Wc)`` uint8 Cb, Cr (4:2:0 or 4:4:4).
        alpha: ``(H, W)`` uint8 key matte, or None (no key: all foreground).
        background: ``(H, W, 3)`` uint8 RGB plate the frame was composited over, or None
            (no key, or a straight-alpha layer: the planes are the foreground itself).
    """

    luma: np.ndarray
    chroma: np.ndarray
    alpha: np.ndarray | None = None
    background: np.ndarray | None = None


def _region(points: np.ndarray, width: int, height: int, margin: float = 0.35) -> tuple[int, int, int, int]:
    """An even-aligned box ``(x0, y0, x1, y1)`` around the landmarks, widened by ``margin`` of the face size."""
    low, high = points.min(0), points.max(0)
    pad = margin * float(max(high - low))
    x0, y0 = (int(np.floor(v - pad)) & ~1 for v in low)
    x1, y1 = (int(np.ceil(v + pad)) + 1 & ~1 for v in high)
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def replace_faces(planes: FramePlanes, faces: list[np.ndarray], swapper: Swapper, matrix: YuvMatrix) -> None:
    """Swap every target face of one frame into its planes (see the module docstring).

    Args:
        planes: the keyed (or decoded) frame; changed in place.
        faces: ``(468, 2)`` solved landmarks of each target, frame pixels.
        swapper: makes the new face. matrix: the planes' Y'CbCr matrix and range.
    """
    height, width = planes.luma.shape
    subsampled = planes.chroma.shape[1] != height
    for points in faces:
        x0, y0, x1, y1 = _region(points, width, height)
        if x1 - x0 < 4 or y1 - y0 < 4:
            continue
        c = 2 if subsampled else 1
        luma = planes.luma[y0:y1, x0:x1]
        chroma = planes.chroma[:, y0 // c : y1 // c, x0 // c : x1 // c]
        current = planes_to_rgb(luma, chroma, matrix).astype(np.float32)
        face, mask = swapper.paste(current, points - np.array([x0, y0], dtype=np.float32))
        if not mask.any():
            continue
        target = face
        if planes.alpha is not None and planes.background is not None:
            a = planes.alpha[y0:y1, x0:x1, None].astype(np.float32) / 255.0
            target = a * face + (1.0 - a) * planes.background[y0:y1, x0:x1].astype(np.float32)
        out = current + (target - current) * mask[..., None]
        new_luma, new_chroma = rgb_to_planes(np.clip(out + 0.5, 0, 255).astype(np.uint8), matrix, subsampled)
        inside = mask > 0
        luma[inside] = new_luma[inside]
        inside_c = cv2.resize(mask, (chroma.shape[2], chroma.shape[1]), interpolation=cv2.INTER_AREA) > 0
        chroma[:, inside_c] = new_chroma[:, inside_c]
