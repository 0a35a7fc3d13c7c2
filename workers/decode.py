"""Decode video with PyAV into RGB frames."""

from __future__ import annotations

from collections.abc import Iterator

import av
import numpy as np

from models.errors import MediaError


def decode_frames(path: str, colorspace: int) -> Iterator[tuple[int, np.ndarray]]:
    """Decode the first video stream of a file, in presentation order.

    Args:
        path: a local media file.
        colorspace: swscale matrix constant (:func:`workers.colour.sws_colorspace`).

    Yields:
        ``(pts, rgb)``: PTS in the stream's time base, ``(H, W, 3)`` uint8 RGB.

    Raises:
        MediaError: the file cannot be decoded.
    """
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                rgb = frame.reformat(format="rgb24", src_colorspace=colorspace, dst_colorspace=colorspace)
                yield frame.pts, rgb.to_ndarray()
    except av.FFmpegError as exc:
        raise MediaError(f"decoding {path} failed ({exc})", "check that the source file is intact") from exc


def sample_frames(path: str, frame_pts: list[int], colorspace: int) -> list[np.ndarray]:
    """Decode the frames with the given PTS (ascending), seeking to each.

    Args:
        path: local media file. frame_pts: PTS to fetch, ascending, time-base units.
        colorspace: swscale matrix constant.

    Returns:
        ``(H, W, 3)`` uint8 RGB frames, one per PTS found.
    """
    out: list[np.ndarray] = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for target in frame_pts:
            container.seek(target, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.pts is not None and frame.pts >= target:
                    rgb = frame.reformat(format="rgb24", src_colorspace=colorspace, dst_colorspace=colorspace)
                    out.append(rgb.to_ndarray())
                    break
    return out
