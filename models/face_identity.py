"""Who a face is, without a recognition model: colour histograms of the head, compared by overlap.

A face found in two fragments of a shot that a long miss split (a blurred run
across the frame, a turn away) is linked by how the head looks where motion
alone cannot tell: the hair or hat above the face and the face itself, each as
a coarse CIE L*a*b* histogram. Histograms of body parts are the classic
appearance cue of person re-identification, robust to pose and small size
(Gray & Tao, "Viewpoint Invariant Pedestrian Recognition with an Ensemble of
Localized Features", ECCV 2008; Farenzena et al., "Person Re-identification by
Symmetry-Driven Accumulation of Local Features", CVPR 2010); two histograms are
compared by their Bhattacharyya coefficient (1 = the same distribution).
"""

from __future__ import annotations

import cv2
import numpy as np

BINS = (8, 4, 4)
"""L*, a*, b* bins per region: coarse in chroma, where 8-bit footage and compression are noisy."""
_CHROMA_RANGE = (64.0, 192.0)  # OpenCV's 8-bit a*, b* (128 = neutral); skin, hair and cloth fall inside
REGION_BINS = int(np.prod(BINS))
APPEARANCE_SIZE = 2 * REGION_BINS
"""Length of an appearance vector: the crown region's histogram, then the face's."""


def _regions(box: np.ndarray, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The crown (hair or hat: 0.7 face heights above the box) and the face interior, as pixel boxes."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    boxes = [(x0, y0 - 0.7 * h, x1, y0 + 0.1 * h), (x0 + 0.15 * w, y0 + 0.2 * h, x1 - 0.15 * w, y1)]
    return [(int(round(max(a, 0))), int(round(max(b, 0))), int(round(min(c, width))), int(round(min(d, height))))
            for a, b, c, d in boxes]


def appearance(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Appearance vector of the face in ``box`` of a frame.

    Args:
        rgb: ``(H, W, 3)`` uint8 RGB frame. box: ``(4,)`` ``x1, y1, x2, y2`` face box, pixels.

    Returns:
        ``(APPEARANCE_SIZE,)`` float32: two histograms (crown, face), each summing to 1,
        or to 0 where the region lies outside the frame.
    """
    height, width = rgb.shape[:2]
    parts = []
    for x0, y0, x1, y1 in _regions(box, width, height):
        if x1 <= x0 or y1 <= y0:
            parts.append(np.zeros(REGION_BINS, np.float32))
            continue
        lab = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2LAB)
        counts = cv2.calcHist([lab], [0, 1, 2], None, list(BINS), [0, 256, *_CHROMA_RANGE, *_CHROMA_RANGE])
        parts.append((counts.ravel() / max(float(counts.sum()), 1.0)).astype(np.float32))
    return np.concatenate(parts)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Bhattacharyya coefficient of two appearance vectors' regions, in [0, 1] (1 = alike).

    A region empty in either vector (outside the frame) is left out; with none in common, 0.
    """
    scores = []
    for k in range(2):
        pa, pb = a[k * REGION_BINS:(k + 1) * REGION_BINS], b[k * REGION_BINS:(k + 1) * REGION_BINS]
        if pa.sum() > 0 and pb.sum() > 0:
            scores.append(float(np.sqrt(pa * pb).sum() / np.sqrt(pa.sum() * pb.sum())))
    return float(np.mean(scores)) if scores else 0.0


def mean_appearance(vectors: np.ndarray) -> np.ndarray:
    """``(N, APPEARANCE_SIZE)`` vectors of one face over frames -> their mean ``(APPEARANCE_SIZE,)`` float32."""
    return vectors.mean(axis=0).astype(np.float32)
