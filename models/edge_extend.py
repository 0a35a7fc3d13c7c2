"""The straight foreground colour in a matte's soft edge when there is no screen to unmix against.

A matte made without a screen (:mod:`models.portrait`, :mod:`models.neural_matting`) gives alpha but
no foreground colour: a pixel of the soft edge is ``alpha F + (1 - alpha) S`` with the shot's own
background ``S`` unknown, so taking the frame as ``F`` carries ``S`` into the composite as a halo
(the GRID backdrop's cyan round the hair). As Nuke's EdgeExtend does, the edge takes the colour of
the nearest solid foreground instead: a normalised convolution (Knutsson & Westin, "Normalized and
differential convolution", CVPR 1993) of the frame over the pixels whose alpha is at least
:data:`SOLID`, at the smallest of :data:`REACH` that finds any; solid pixels, and edge pixels no
solid pixel reaches, keep the frame's colour.
"""

from __future__ import annotations

import cv2
import numpy as np

SOLID = 0.9
"""Alpha from which a pixel is solid foreground and keeps its own colour."""
REACH = (1 / 128, 1 / 64, 1 / 32)
"""Box radii tried in turn, as fractions of the frame's longest side (1080p: 15, 30, 60 pixels;
a portrait matte's soft edge at 1080p is about 16 pixels wide: two cells of a 480-wide working grid
each side, :class:`models.portrait.PortraitParams`)."""


def extend_foreground(planes: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The frame's planes with every soft-edge pixel's colour taken from the solid foreground near it.

    Args:
        planes: ``(P, h, w)`` float32 planes of one frame (Y' code values, or centred Cb, Cr).
        alpha: ``(h, w)`` float32 matte in [0, 1] at the planes' resolution (:data:`REACH` is
            a fraction of this resolution's longest side, so 4:2:0 chroma reaches as far as luma).

    Returns:
        ``(P, h, w)`` float32 (``planes`` itself when the matte has no soft edge): ``planes`` where alpha is 0 or at least :data:`SOLID` or no solid
        pixel is within the largest reach; elsewhere the box-weighted mean of the solid pixels'
        values at the smallest reach that holds one.
    """
    height, width = alpha.shape
    solid = (alpha >= SOLID).astype(np.float32)
    edge = (alpha > 0.0) & (alpha < SOLID)
    if not edge.any() or not solid.any():
        return planes
    out = planes.copy()
    weighted = planes * solid
    todo = edge.copy()
    for fraction in REACH:
        radius = max(1, int(round(fraction * max(height, width))))
        size = (2 * radius + 1, 2 * radius + 1)
        weight = cv2.boxFilter(solid, -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT)
        reach = todo & (weight > 0.5)
        if reach.any():
            for p in range(len(planes)):
                total = cv2.boxFilter(weighted[p], -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT)
                out[p][reach] = total[reach] / weight[reach]
            todo &= ~reach
        if not todo.any():
            break
    return out
