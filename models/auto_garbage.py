"""The automatic garbage matte of a screen shot (``--garbage auto``): what is neither screen nor near a person is cut.

Per frame, on a working grid (the frame reduced by the smallest integer factor that brings its
longest side to at most :data:`WORKING_SIZE` pixels, ``cv2.INTER_AREA``):

1. **Screen.** A pixel is screen-coloured where its colour difference (the keyer's,
   :func:`models.colour.screen_weights`) is at least :data:`SCREEN_FRACTION` of the screen
   colour's: a shadowed or vignetted screen corner still counts, a grey wall, a black stand or
   skin (colour difference 0 or below) does not. Specks are opened away (3 x 3), the pieces
   of at least :data:`MIN_PIECE` of the frame are kept (the actor may cut the screen in two),
   and the screen's extent is the convex hull of what is left, filled: the backdrop with the
   actor and anything else standing in front of it.
2. **Person.** MediaPipe Selfie Segmentation (:class:`models.segmentation.SelfieSegmenter`)
   of the working frame, warped back onto the grid (:func:`models.portrait.unstretch`), taken
   where its probability is at least 0.5, then dilated by a disc of radius
   :data:`PERSON_REACH` of the frame's height. Why that far: the segmentation is coarse (one
   cell of its 144 or 256 rows is 0.4-0.7 % of the height) and smooth, so it misses flyaway
   hair, motion-blurred hands and anything held. Measured on the six CREMA-D clips (every
   6th of the first 60 frames, the keyer at its defaults), the actor's own matte (alpha above
   0.02) reaches at most 2.8 % of the height beyond the segmentation's 0.5 contour (two clips
   also have specks of screen noise far from the actor, which this matte is there to cut);
   4 % leaves a margin of 1.4x. A studio object within that reach of the actor is kept: only
   what is far from both screen and person is cut.
3. The garbage matte is 1 on the union of the two, 0 elsewhere, resized bilinearly to the
   keyer's chroma planes (a soft edge of about one working pixel).

No state: each frame's matte depends on that frame only, so chunks and one pass agree exactly.
Cost on one CPU thread (the acceptance clip, a loaded 2-core machine): 11 ms a frame at 720 x 360,
24 ms at 1920 x 1080 (the segmentation, the working-grid conversion and the hull), about twice the
fused keyer's own time per frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from models.colour import screen_weights
from models.portrait import unstretch, working_size
from models.screen import ScreenAnalysis
from models.segmentation import SelfieSegmenter
from models.yuv import YuvMatrix, planes_to_rgb

WORKING_SIZE = 512
"""Longest side (pixels) of the working grid."""
SCREEN_FRACTION = 0.3
"""A pixel whose colour difference is at least this fraction of the screen colour's is screen-coloured."""
MIN_PIECE = 0.005
"""Smallest screen-coloured piece (fraction of the frame's area) that counts toward the screen's extent."""
PERSON_REACH = 0.04
"""How far beyond the segmented person (fraction of the frame's height) is kept as near the person."""
PERSON_THRESHOLD = 0.5
"""Segmentation probability at or above which a cell is the person."""


class AutoGarbage:
    """The automatic garbage matte of frames (the module docstring gives the method).

    Args:
        segmenter: the Selfie Segmentation session (either variant).
        screen: the shot's screen analysis (its screen colour).
        width, height: frame size in pixels. matrix: the footage's Y'CbCr matrix and range.
        balance: the keyer's screen balance (:attr:`models.keyer_params.KeyerParams.screen_balance`).
    """

    def __init__(self, segmenter: SelfieSegmenter, screen: ScreenAnalysis, width: int, height: int, matrix: YuvMatrix,
                 balance: float = 0.5) -> None:
        self.segmenter, self.width, self.height, self.matrix = segmenter, width, height, matrix
        self.weights = screen_weights(screen.screen_rgb, balance)
        self.screen_diff = float(np.asarray(screen.screen_rgb, np.float32) @ self.weights)
        self.small = working_size(width, height, WORKING_SIZE)
        reach = max(1, math.ceil(PERSON_REACH * self.small[1]))
        self.disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))

    def working_rgb(self, luma: np.ndarray, chroma: np.ndarray) -> np.ndarray:
        """``(N, h, w, 3)`` uint8 RGB of ``(N, H, W)`` luma and ``(N, 2, Hc, Wc)`` chroma on the working grid."""
        w, h = self.small
        out = np.empty((len(luma), h, w, 3), np.uint8)
        for i in range(len(luma)):
            small_luma = cv2.resize(luma[i], (w, h), interpolation=cv2.INTER_AREA)
            small_chroma = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA) for c in chroma[i]])
            out[i] = planes_to_rgb(small_luma, small_chroma, self.matrix)
        return out

    def screen_extent(self, rgb: np.ndarray) -> np.ndarray:
        """``(h, w)`` bool: the filled convex hull of the screen-coloured pieces of one ``(h, w, 3)`` uint8 RGB frame."""
        d = rgb.astype(np.float32) @ (self.weights / np.float32(255.0))
        coloured = cv2.morphologyEx((d >= SCREEN_FRACTION * self.screen_diff).astype(np.uint8), cv2.MORPH_OPEN,
                                    np.ones((3, 3), np.uint8))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(coloured, connectivity=8)
        big = [k for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] >= MIN_PIECE * coloured.size]
        extent = np.zeros(coloured.shape, np.uint8)
        if big:
            points = np.argwhere(np.isin(labels, big))[:, ::-1].astype(np.int32)  # (x, y)
            cv2.fillConvexPoly(extent, cv2.convexHull(points), 1)
        return extent.astype(bool)

    def person_near(self, probability: np.ndarray) -> np.ndarray:
        """``(h, w)`` bool: the segmented person (``(h, w)`` float32 probability on the working grid) dilated
        by :data:`PERSON_REACH` of the height."""
        person = (probability >= PERSON_THRESHOLD).astype(np.uint8)
        return cv2.dilate(person, self.disc).astype(bool)

    def probabilities(self, rgb: np.ndarray) -> np.ndarray:
        """``(N, h, w)`` float32 person probability of ``(N, h, w, 3)`` uint8 working frames, on the working grid."""
        w, h = self.small
        return np.stack([unstretch(p, w, h) for p in self.segmenter.person_probability(rgb)])

    def matte(self, luma: np.ndarray, chroma: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The garbage matte of a batch.

        Args:
            luma: ``(N, H, W)`` uint8 Y'. chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr.
            size: ``(Wc, Hc)``, the raster's size (the keyer's chroma planes).

        Returns:
            ``(N, Hc, Wc)`` float32 in [0, 1]: 1 on the screen's extent and near a person, 0 elsewhere.
        """
        rgb = self.working_rgb(luma, chroma)
        probability = self.probabilities(rgb)
        out = np.empty((len(luma), size[1], size[0]), np.float32)
        for i in range(len(luma)):
            keep = (self.screen_extent(rgb[i]) | self.person_near(probability[i])).astype(np.float32)
            out[i] = cv2.resize(keep, size, interpolation=cv2.INTER_LINEAR)
        return out
