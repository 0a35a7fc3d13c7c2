"""Decode video with PyAV: into the keyer's planes, or into RGB (analysis, previews)."""

from __future__ import annotations

from collections.abc import Iterator

import av
import numpy as np

from models.errors import MediaError
from workers.frames import frame_planes


def decode_planes(path: str, fmt: str) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Decode the first video stream of a file into planes, in presentation order.

    Args:
        path: a local media file. fmt: working format, ``yuv420p`` or ``yuv444p``
            (:func:`workers.frames.working_format`).

    Yields:
        ``(pts, Y, CbCr)``: PTS in the stream's time base, ``(H, W)`` uint8, ``(2, Hc, Wc)`` uint8.

    Raises:
        MediaError: the file cannot be decoded.
    """
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                luma, chroma = frame_planes(frame, fmt)
                yield frame.pts, luma, chroma
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


def sample_frames_in_pass(path: str, frame_pts: list[int], colorspace: int) -> list[np.ndarray]:
    """Like :func:`sample_frames`, in one decoding pass from the start (no seeks).

    Only the wanted frames are converted to RGB; the pass stops after the last one.
    """
    wanted, out = set(frame_pts), []
    last = max(frame_pts, default=-1)
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.pts in wanted:
                rgb = frame.reformat(format="rgb24", src_colorspace=colorspace, dst_colorspace=colorspace)
                out.append(rgb.to_ndarray())
            if frame.pts is not None and frame.pts >= last and len(out) == len(wanted):
                break
    return out
