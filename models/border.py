"""Blanking lines at a frame's border: found over a shot's sampled frames, and filled before keying.

Footage digitised from analogue video often carries a line or column at the
frame's edge that is not picture: a half line or the edge of the blanking
interval, much darker than the picture beside it (every GRID clip's top row has
about 40 % of the luma of the row below; CREMA-D's left column and bottom row
are darker too). Such a line is not screen, so a keyer reads it as foreground,
and it stays in the composite as a dark line over the plate. Compositors cut it
off: an edge crop, or FFmpeg's ``fillborders`` filter ("Fill borders of the
input video, without changing video stream dimensions. Sometimes video can have
garbage at the four edges ..."), whose ``smear`` mode fills with the outermost
picture line. That is what :func:`fill_border` does, so the frame keeps its size
and the line keys like the picture next to it; :func:`find_blanking` finds the
lines once per shot (in the screen analysis, :func:`models.screen.estimate_screen`),
so every chunk fills the same ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.colour import REC709_LUMA

Border = tuple[int, int, int, int]
"""Blanking lines at the ``(top, bottom, left, right)`` of a frame, in pixels."""

NO_BORDER: Border = (0, 0, 0, 0)

MAX_LINES = 3
"""The most lines taken for blanking on one side."""
DARK_RATIO = 0.85
"""A border line is blanking when its median luma ratio to a picture line inside it, over
every pixel of the line in every sampled frame, is below this. GRID's top rows: 0.40-0.43; CREMA-D's
left column 0.77 and bottom row 0.82; picture lines next to each other: about 1."""
GREY_RATIO = 0.6
"""... or when its median chroma magnitude ratio (``|RGB - Y|``, plus :data:`CHROMA_FLOOR`) to that
line is below this: GRID's second row is as bright as the picture but nearly grey (0.2-0.3), the
edge of the chroma that the blanking line was mixed into."""
CHROMA_FLOOR = 8.0
"""Code values added to both chroma magnitudes, so a grey picture's noise does not count."""


def _ratio(values: np.ndarray, outer: int, inner: int, floor: float) -> float:
    """Median of ``(v[outer] + floor) / (v[inner] + floor)`` over ``(N, L, W)`` lines (0 = the border)."""
    return float(np.median((values[:, outer] + floor) / (values[:, inner] + floor)))


def _side(luma: np.ndarray, chroma: np.ndarray) -> int:
    """Blanking lines at the start of axis 1 of ``(N, L, W)`` luma and chroma magnitude: how many lines
    from the border on are each darker (:data:`DARK_RATIO`) or greyer (:data:`GREY_RATIO`) than the
    picture line ``MAX_LINES + 1`` (inside any blanking, and far enough for a chroma upsampler that
    repeats a chroma row over two luma rows to have left the blanking's chroma behind)."""
    inner = MAX_LINES + 1
    found = 0
    while found < MAX_LINES and (_ratio(luma, found, inner, 1.0) < DARK_RATIO
                                 or _ratio(chroma, found, inner, CHROMA_FLOOR) < GREY_RATIO):
        found += 1
    return found


def find_blanking(frames: Sequence[np.ndarray]) -> Border:
    """The blanking lines at each side of a shot's frames.

    Args:
        frames: sampled frames, each ``(H, W, 3)`` uint8 RGB, all the same size.

    Returns:
        ``(top, bottom, left, right)`` line counts, each at most :data:`MAX_LINES`.
    """
    inner = MAX_LINES + 1
    if min(frames[0].shape[:2]) < 4 * inner:
        return NO_BORDER
    # Only the lines each side's test reads, line 0 at the border (a 1080p shot's 24 whole frames as
    # float32 were 600 MB and seconds of a job's analysis).
    strips = (np.stack([f[: inner + 1] for f in frames]), np.stack([f[: -inner - 2 : -1] for f in frames]),
              np.stack([f[:, : inner + 1].transpose(1, 0, 2) for f in frames]),
              np.stack([f[:, : -inner - 2 : -1].transpose(1, 0, 2) for f in frames]))

    def measures(strip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rgb = strip.astype(np.float32)
        luma = rgb @ REC709_LUMA.astype(np.float32)
        return luma, np.linalg.norm(rgb - luma[..., None], axis=-1)

    top, bottom, left, right = (_side(*measures(strip)) for strip in strips)
    return top, bottom, left, right


def fill_rgb(frame: np.ndarray, border: Border) -> np.ndarray:
    """``frame`` ``(H, W, C)`` with its blanking lines replaced by the outermost picture line (a copy)."""
    out = frame.copy()
    _smear(out, border, 0)
    return out


def _smear(planes: np.ndarray, border: Border, axis: int) -> None:
    """Fill the lines of ``border`` in place; rows are axis ``axis``, columns ``axis + 1``."""
    top, bottom, left, right = border
    rows = np.moveaxis(planes, axis, 0)
    if top:
        rows[:top] = rows[top]
    if bottom:
        rows[-bottom:] = rows[-bottom - 1]
    cols = np.moveaxis(planes, axis + 1, 0)
    if left:
        cols[:left] = cols[left]
    if right:
        cols[-right:] = cols[-right - 1]


def fill_border(luma: np.ndarray, chroma: np.ndarray, border: Border, subsampled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Planes with their blanking lines filled by the outermost picture line (FFmpeg ``fillborders``, ``smear``).

    Args:
        luma: ``(N, H, W)`` uint8 Y'. chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr.
        border: ``(top, bottom, left, right)`` blanking lines in luma pixels (:func:`find_blanking`).
        subsampled: 4:2:0 chroma: ``n // 2 + 1`` chroma lines are filled for ``n`` luma
            lines, the chroma line beside the last one too (GRID's MPEG-1 chroma mixes the
            blanking into a second chroma row: Cr 119, 80, 62, 61 down the first four).

    Returns:
        New ``(luma, chroma)`` arrays; the inputs themselves when ``border`` is all 0.
    """
    if not any(border):
        return luma, chroma
    luma, chroma = luma.copy(), chroma.copy()
    _smear(luma, border, 1)
    top, bottom, left, right = border
    half: Border = (top // 2 + 1 if top else 0, bottom // 2 + 1 if bottom else 0, left // 2 + 1 if left else 0,
                    right // 2 + 1 if right else 0)
    _smear(chroma, half if subsampled else border, 2)
    return luma, chroma
