"""Reading test media back: decoded Y'CbCr planes of a clip and the grey frames of a matte video."""

from __future__ import annotations

import itertools

import av
import numpy as np

from workers.decode import decode_video
from workers.frames import frame_planes


def decoded_planes(path: str, count: int, crop: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` frames of a video as the render decodes them: ``(N, H, W)`` uint8 Y' and
    ``(N, 2, Hc, Wc)`` uint8 Cb, Cr, 4:2:0; with ``crop`` = ``(width, height)``, 4:4:4 cut to that size
    from the top left (an odd size the 4:2:0 planes could not have)."""
    width, height = crop or (0, 0)
    fmt = "yuv444p" if crop else "yuv420p"
    frames = []
    for y, c in (frame_planes(f, fmt) for f in itertools.islice(decode_video(path, fmt), count)):
        frames.append((y[:height, :width], c[:, :height, :width]) if crop else (y, c))
    return np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames])


def grey_frames(path: str) -> np.ndarray:
    """``(N, H, W)`` uint8: every frame of a video (a matte pass) as full-range grey."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="gray") for f in container.decode(video=0)])
