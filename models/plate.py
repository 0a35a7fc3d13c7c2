"""Background plates: fitting an image to the frame."""

from __future__ import annotations

import cv2
import numpy as np


def fit_plate(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale a plate to cover a frame, aspect preserved, centre-cropped.

    Args:
        image: ``(h, w, 3)`` uint8 RGB plate of any size.
        width, height: the frame size in pixels.

    Returns:
        ``(height, width, 3)`` uint8 RGB, C-contiguous.
    """
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    x0, y0 = (new_w - width) // 2, (new_h - height) // 2
    return np.ascontiguousarray(resized[y0 : y0 + height, x0 : x0 + width])
