"""Chunk planning: frame-accurate ranges, independent of where the keyframes are.

A chunk delivers frames ``[frame_start, frame_end)`` (presentation order). Its
worker decodes from ``preroll_start`` (frames that warm the keyer's temporal
state and are then discarded). Its split file holds the packets, in decode
order, from ``packet_start`` to ``packet_end`` (exclusive):

- ``packet_start`` is the last keyframe packet whose PTS is at or before the
  first needed frame's. Every frame at or after that keyframe's PTS references
  only packets from it on (an open GOP's leading B-frames reference the GOP
  before, but they precede the keyframe in presentation order, so they are not
  needed; leading B-frames of *later* GOPs find their references inside the
  file).
- ``packet_end`` is one past the last decode position of any needed frame:
  references always come earlier in decode order, so nothing later is needed.

This cuts anywhere, with sparse keyframes, a single keyframe, open GOPs or
B-frames, at the cost of decoding (not rendering) the head of the first GOP.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from models.errors import InputError
from workers.probe import MediaProbe

DEFAULT_CHUNK_SECONDS = 10.0


@dataclass(frozen=True)
class ChunkPlan:
    """Frame and packet ranges of one chunk (see the module docstring)."""

    index: int
    frame_start: int
    frame_end: int
    preroll_start: int
    packet_start: int
    packet_end: int

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form."""
        return asdict(self)


def chunk_length(probe: MediaProbe, chunk_frames: int | None, chunk_seconds: float | None) -> int:
    """Frames per chunk from ``--chunk-frames`` or ``--chunk-seconds`` (default about 10 s).

    Raises:
        InputError: both given, or a value below one frame.
    """
    if chunk_frames is not None and chunk_seconds is not None:
        raise InputError("both --chunk-frames and --chunk-seconds were given", "pass only one")
    if chunk_frames is not None:
        if chunk_frames < 1:
            raise InputError(f"--chunk-frames must be at least 1, not {chunk_frames}", "pass a positive frame count")
        return chunk_frames
    seconds = DEFAULT_CHUNK_SECONDS if chunk_seconds is None else chunk_seconds
    if seconds <= 0:
        raise InputError(f"--chunk-seconds must be positive, not {seconds}", "pass a duration in seconds")
    return max(1, math.floor(seconds * float(probe.fps) + 0.5))


def plan_chunks(probe: MediaProbe, frames_per_chunk: int, preroll: int) -> list[ChunkPlan]:
    """Split the shot's frames into chunks of ``frames_per_chunk`` (the last may be shorter).

    Args:
        probe: the source's probe (frame PTS, decode order, keyframes).
        frames_per_chunk: frames each chunk delivers.
        preroll: frames decoded before each chunk to warm temporal state.

    Returns:
        Chunk plans covering every frame exactly once, in order.
    """
    frame_of_packet = {packet: frame for frame, packet in enumerate(probe.decode_order)}
    keys = list(probe.keyframe_packets) or [0]
    key_pts = [probe.frame_pts[frame_of_packet[k]] for k in keys]
    plans = []
    for index, start in enumerate(range(0, probe.frame_count, frames_per_chunk)):
        end = min(start + frames_per_chunk, probe.frame_count)
        first = max(0, start - preroll)
        positions = probe.decode_order[first:end]
        starts = [k for k, pts in zip(keys, key_pts) if pts <= probe.frame_pts[first]]
        packet_start = min(max(starts) if starts else 0, min(positions))
        plans.append(ChunkPlan(index, start, end, first, packet_start, max(positions) + 1))
    return plans


def frame_times(probe: MediaProbe, first: int, end: int) -> list[float]:
    """Seconds from the shot's first frame to frames ``first .. end - 1``."""
    t0, tb = probe.frame_pts[0], probe.time_base
    return [float((pts - t0) * tb) for pts in probe.frame_pts[first:end]]
