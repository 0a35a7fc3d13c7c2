"""Decode video with PyAV: frames in the keyer's working format (the render copies their planes), or RGB (analysis, previews)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import av

from models.errors import MediaError
from workers.colour import sws_colorspace
from workers.frames import in_working_format
from workers.probe import MediaProbe


def decode_video(path: str, fmt: str) -> Iterator[av.VideoFrame]:
    """Decode the first video stream of a file, in presentation order, each frame in the
    working format ``fmt`` (:func:`workers.frames.in_working_format`), for a caller that
    copies the planes where it needs them (:func:`workers.frames.copy_planes`).

    Raises:
        MediaError: the file cannot be decoded.
    """
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                yield in_working_format(frame, fmt)
    except av.FFmpegError as exc:
        raise MediaError(f"decoding {path} failed ({exc})", "check that the source file is intact") from exc


Convert = Callable[[av.VideoFrame], Any]
"""What a sampled frame becomes (default: ``(H, W, 3)`` uint8 RGB in the given matrix)."""


def _rgb(colorspace: int) -> Convert:
    return lambda frame: frame.reformat(format="rgb24", src_colorspace=colorspace, dst_colorspace=colorspace).to_ndarray()


def sample_frames(path: str, frame_pts: list[int], colorspace: int, convert: Convert | None = None) -> list[Any]:
    """Decode the frames with the given PTS (ascending), seeking to each.

    Args:
        path: local media file. frame_pts: PTS to fetch, ascending, time-base units.
        colorspace: swscale matrix constant. convert: what each frame becomes (None: RGB).

    Returns:
        ``(H, W, 3)`` uint8 RGB frames (or ``convert``'s results), one per PTS found exactly. A seek that lands
        past its target (MPEG program streams seek by byte position) finds nothing
        for it, so the list is shorter: see :func:`frames_by_index`.
    """
    convert = convert or _rgb(colorspace)
    out: list[Any] = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for target in frame_pts:
            container.seek(target, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.pts is not None and frame.pts >= target:
                    if frame.pts == target:
                        out.append(convert(frame))
                    break
    return out


def sample_frames_in_pass(path: str, frame_pts: list[int], colorspace: int,
                          convert: Convert | None = None) -> list[Any]:
    """Like :func:`sample_frames`, in one decoding pass from the start (no seeks).

    Only the wanted frames are converted; the pass stops after the last one.
    """
    convert = convert or _rgb(colorspace)
    wanted, out = set(frame_pts), []
    last = max(frame_pts, default=-1)
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.pts in wanted:
                out.append(convert(frame))
            if frame.pts is not None and frame.pts >= last and len(out) == len(wanted):
                break
    return out


def seek_cost(keyframes: tuple[int, ...], picks: list[int]) -> int:
    """Frames decoded to fetch ``picks`` by seeking: from the keyframe at or before each pick.

    Compared with the frame count to choose between seeking and one decoding
    pass: with long GOPs (x264 allows 250 frames, some encoders more) and a
    short shot, seeking decodes more frames than the shot has.
    """
    cost, k = 0, 0
    for pick in picks:
        while k + 1 < len(keyframes) and keyframes[k + 1] <= pick:
            k += 1
        cost += pick - (keyframes[k] if keyframes and keyframes[k] <= pick else 0) + 1
    return cost


def frames_by_index(probe: MediaProbe, picks: list[int], convert: Convert | None = None) -> list[Any]:
    """Frames ``picks`` (presentation-order indices, ascending) of a probed video as ``(H, W, 3)``
    uint8 RGB in the source's matrix (or as ``convert`` makes them): by seeking, or in one
    decoding pass when seeking would decode more frames than the video has (:func:`seek_cost`),
    or when a seek missed its frame. An image sequence's frames are read file by file
    (:func:`workers.image_sequence.working_frame`).
    """
    colorspace = sws_colorspace(probe.video.colorspace, probe.video.height)
    if probe.sequence is not None:  # an image sequence: each frame is a file of its own
        from workers.image_sequence import working_frame

        return [(convert or _rgb(colorspace))(working_frame(probe.sequence, i)) for i in picks]
    pts = [probe.frame_pts[i] for i in picks]
    if seek_cost(probe.keyframes, picks) < probe.frame_count:
        frames = sample_frames(probe.path, pts, colorspace, convert)
        if len(frames) == len(pts):
            return frames
    return sample_frames_in_pass(probe.path, pts, colorspace, convert)
