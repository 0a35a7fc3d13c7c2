"""Contact sheets: source | matte | result, a row per sampled frame, for looking at a render."""

from __future__ import annotations

from collections.abc import Sequence

import av
import cv2
import numpy as np


def frames_at(path: str, indices: list[int]) -> list[np.ndarray]:
    """Decode frames by index (presentation order) as ``(H, W, 3)`` uint8 RGB."""
    wanted, out = set(indices), {}
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="rgb24")
            if i >= max(indices):
                break
    return [out[i] for i in indices if i in out]


def contact_sheet(videos: Sequence[str], rows: int = 4, width: int = 360) -> np.ndarray:
    """Build a sheet of ``rows`` frames spread over the shot, a column per video.

    Args:
        videos: files with the same frame count, e.g. source, matte, result.
        rows: frames to show. width: width of each cell in pixels.

    Returns:
        ``(rows * h, len(videos) * width, 3)`` uint8 RGB.
    """
    with av.open(videos[0]) as container:
        total = sum(1 for p in container.demux(container.streams.video[0]) if p.size)
    indices = sorted({round(i * (total - 1) / max(1, rows - 1)) for i in range(rows)})
    columns = [frames_at(path, indices) for path in videos]
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
