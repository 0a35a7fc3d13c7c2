"""Linking per-frame face detections into tracks, and smoothing a track without lag.

The tracker matches each frame's detections to open tracks by a cost of
``1 - IoU`` plus the mean keypoint distance in units of the track's face size,
greedily from the cheapest pair, and keeps a track open through up to
``max_misses`` frames without a match, so a face that is briefly missed or
leaves and re-enters keeps its track (in the spirit of SORT, Bewley et al.,
ICIP 2016, with a constant-velocity prediction in place of its Kalman
filter: a small face crossing the frame moves more than its own width in a
few frames, so the last box is moved on by the track's velocity first).

Smoothing is zero-phase: a symmetric Gaussian kernel along the whole track
(reflected at its ends), so no frame's position lags its true one, unlike a
causal filter; run over the whole timeline, it leaves no seam at chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.face_detect import Face, iou


@dataclass
class Track:
    """One face followed across frames.

    Attributes:
        id: track number, from 0. frames: frame indices (ascending). faces: the detection in each.
    """

    id: int
    frames: list[int] = field(default_factory=list)
    faces: list[Face] = field(default_factory=list)

    @property
    def last(self) -> Face:
        """The latest detection."""
        return self.faces[-1]

    def predicted(self, frame: int) -> Face:
        """The last detection moved on to ``frame`` at the velocity between the last two detections."""
        if len(self.faces) < 2:
            return self.last
        step = (_centre(self.faces[-1]) - _centre(self.faces[-2])) / max(1, self.frames[-1] - self.frames[-2])
        shift = step * (frame - self.frames[-1])
        last = self.last
        return Face(last.box + np.tile(shift, 2).astype(np.float32), last.score, last.keypoints + shift.astype(np.float32))


def _centre(face: Face) -> np.ndarray:
    return (face.box[:2] + face.box[2:]) / 2


def match_cost(track: Face, face: Face) -> float:
    """``1 - IoU`` plus the mean keypoint distance divided by the track face's box diagonal."""
    overlap = float(iou(track.box, face.box[None])[0])
    diagonal = float(np.hypot(track.box[2] - track.box[0], track.box[3] - track.box[1])) or 1.0
    distance = float(np.linalg.norm(track.keypoints - face.keypoints, axis=1).mean()) / diagonal
    return 1.0 - overlap + distance


class FaceTracker:
    """Assigns each frame's faces to tracks.

    Args:
        max_cost: highest :func:`match_cost` accepted as the same face.
        max_misses: frames a track stays open without a match.
    """

    def __init__(self, max_cost: float = 0.8, max_misses: int = 15) -> None:
        self.max_cost, self.max_misses = max_cost, max_misses
        self.tracks: list[Track] = []

    def update(self, frame: int, faces: list[Face]) -> list[int]:
        """Add a frame's detections; returns the track id of each face, in order.

        Frames must come in ascending order.
        """
        open_tracks = [t for t in self.tracks if frame - t.frames[-1] <= self.max_misses + 1]
        pairs = sorted((match_cost(t.predicted(frame), f), ti, fi) for ti, t in enumerate(open_tracks) for fi, f in enumerate(faces))
        ids: list[int | None] = [None] * len(faces)
        used: set[int] = set()
        for cost, ti, fi in pairs:
            if cost > self.max_cost or ti in used or ids[fi] is not None:
                continue
            used.add(ti)
            ids[fi] = open_tracks[ti].id
        for fi, face in enumerate(faces):
            tid = ids[fi]
            if tid is None:
                self.tracks.append(Track(len(self.tracks)))
                tid = ids[fi] = self.tracks[-1].id
            track = self.tracks[tid]
            track.frames.append(frame)
            track.faces.append(face)
        return [i for i in ids if i is not None]


def smooth_zero_phase(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 with no phase shift.

    Args:
        values: ``(T, ...)`` float array (e.g. ``(T, 468, 2)`` landmarks per frame).
        sigma: kernel width in frames; 0 returns the input.

    Returns:
        The same shape, float32. A linear motion is returned unchanged (the
        kernel is symmetric and the ends are extended by point reflection).
    """
    if sigma <= 0 or len(values) < 3:
        return values.astype(np.float32)
    radius = min(max(1, int(3 * sigma)), len(values) - 1)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    head = 2 * values[:1] - values[radius:0:-1]  # point reflection keeps lines straight at the ends
    tail = 2 * values[-1:] - values[-2 : -radius - 2 : -1]
    padded = np.concatenate([head, values, tail]).astype(np.float64)
    out = sum(w * padded[k : k + len(values)] for k, w in enumerate(taps))
    return np.asarray(out, dtype=np.float32)


def jitter(values: np.ndarray) -> float:
    """Mean magnitude of the second difference along axis 0 of ``(T, K, 2)`` points, in pixels."""
    if len(values) < 3:
        return 0.0
    second = values[2:] - 2 * values[1:-1] + values[:-2]
    return float(np.linalg.norm(second, axis=-1).mean())
