"""Contact sheets: source | matte | result, a row per sampled frame, for looking at a render."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from workers.decode import frames_by_index
from workers.probe import MediaProbe, probe_video


def frames_at(path: str, indices: list[int]) -> list[np.ndarray]:
    """Frames by index (presentation order, ascending) as ``(H, W, 3)`` uint8 RGB.

    The file is probed (packets only, no decoding) and each frame fetched by
    seeking (:func:`workers.decode.frames_by_index`), so a preview of a long film
    decodes a few GOPs, not the whole film. Indices past the end are skipped.
    """
    return _frames_of(probe_video(path), indices)


def _frames_of(probe: MediaProbe, indices: list[int]) -> list[np.ndarray]:
    return frames_by_index(probe, [i for i in indices if i < probe.frame_count])


def contact_sheet(videos: Sequence[str], rows: int = 4, width: int = 360) -> np.ndarray:
    """Build a sheet of ``rows`` frames spread over the shot, a column per video.

    Args:
        videos: files with the same frame count, e.g. source, matte, result.
        rows: frames to show. width: width of each cell in pixels.

    Returns:
        ``(rows * h, len(videos) * width, 3)`` uint8 RGB.
    """
    probes = [probe_video(path) for path in videos]  # each file's packets read once
    total = probes[0].frame_count
    indices = sorted({round(i * (total - 1) / max(1, rows - 1)) for i in range(rows)})
    columns = [_frames_of(probe, indices) for probe in probes]
    lines = []
    for cells in zip(*columns):
        h, w = cells[0].shape[:2]
        size = (width, round(h * width / w))
        lines.append(np.concatenate([cv2.resize(c, size, interpolation=cv2.INTER_AREA) for c in cells], axis=1))
    return np.concatenate(lines, axis=0)


def write_png(path: str, rgb: np.ndarray) -> None:
    """Write ``(H, W, 3)`` uint8 RGB as PNG."""
    cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def encode_jpeg(rgb: np.ndarray, quality: int = 88) -> bytes:
    """``(H, W, 3)`` uint8 RGB as JPEG bytes.

    Raises:
        ValueError: OpenCV could not encode the image.
    """
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the contact sheet could not be encoded as JPEG")
    return data.tobytes()
