"""PyAV frames <-> the keyer's planes: Y' ``(H, W)`` and CbCr ``(2, Hc, Wc)``, 8-bit.

The keyer works on the decoded planes directly (see :mod:`models.keyer_graph`),
so H.264 4:2:0 footage goes from decoder to encoder without an RGB round trip.
Frames in other layouts (4:2:2, 4:4:4, 10-bit, RGB) are converted by swscale
to the working format first.
"""

from __future__ import annotations

import av
import numpy as np

WORKING_FORMATS = ("yuv420p", "yuv444p")
# Decoded formats whose planes are read as they are: full-range (JPEG) variants
# have the same layout; their range is carried by YuvMatrix.full_range.
_SAME_LAYOUT = {"yuv420p": ("yuv420p", "yuvj420p"), "yuv444p": ("yuv444p", "yuvj444p")}


def working_format(width: int, height: int) -> str:
    """``yuv420p`` when both sizes are even (4:2:0 needs them), else ``yuv444p``."""
    return "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"


def full_range_format(pix_fmt: str, color_range: int | None = None) -> bool:
    """Whether a stream's code values are full range ("JPEG"): a ``yuvj*`` pixel format, or a stream
    tagged full range (``color_range`` 2, AVCOL_RANGE_JPEG in FFmpeg's pixfmt.h; ISO/IEC 23091-2
    VideoFullRangeFlag 1), as newer FFmpeg decoders tag full-range JPEG-like video in ``yuv420p``."""
    return pix_fmt.startswith("yuvj") or color_range == 2


def _plane_view(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """The plane's pixels as a writable ``(h, w)`` uint8 view (row padding skipped)."""
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


def frame_planes(frame: av.VideoFrame, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """Copy a decoded frame's planes, converting to ``fmt`` (a working format) if needed.

    Args:
        frame: a decoded video frame. fmt: ``yuv420p`` or ``yuv444p``.

    Returns:
        ``(Y, CbCr)``: ``(H, W)`` uint8 and ``(2, Hc, Wc)`` uint8.
    """
    frame = in_working_format(frame, fmt)
    chroma = frame.planes[1]
    luma, both = np.empty((frame.height, frame.width), np.uint8), np.empty((2, chroma.height, chroma.width), np.uint8)
    copy_planes(frame, luma, both)
    return luma, both


def in_working_format(frame: av.VideoFrame, fmt: str) -> av.VideoFrame:
    """The frame itself if its planes are laid out as ``fmt`` (``yuv420p`` or ``yuv444p``), else converted by swscale."""
    return frame if frame.format.name in _SAME_LAYOUT[fmt] else frame.reformat(format=fmt)


def copy_planes(frame: av.VideoFrame, luma: np.ndarray, chroma: np.ndarray) -> None:
    """Copy a frame in a working format (:func:`in_working_format`) into ``luma`` ``(H, W)`` and
    ``chroma`` ``(2, Hc, Wc)`` uint8 arrays (a batch's slots: one copy, no intermediate array)."""
    luma[:] = _plane_view(frame.planes[0])
    chroma[0] = _plane_view(frame.planes[1])
    chroma[1] = _plane_view(frame.planes[2])


def planes_frame(luma: np.ndarray, chroma: np.ndarray, fmt: str, alpha: np.ndarray | None = None) -> av.VideoFrame:
    """Build a frame from planes.

    Args:
        luma: ``(H, W)`` uint8. chroma: ``(2, Hc, Wc)`` uint8 (Cb, Cr).
        fmt: ``yuv420p``, ``yuv444p`` or (with ``alpha``) ``yuva444p``.
        alpha: ``(H, W)`` uint8 straight alpha for ``yuva444p``.
    """
    height, width = luma.shape
    frame = av.VideoFrame(width, height, fmt)
    planes = [luma, chroma[0], chroma[1]] + ([alpha] if alpha is not None else [])
    for plane, pixels in zip(frame.planes, planes):
        _plane_view(plane)[:] = pixels
    return frame
