"""The whole-timeline face solve: tracks, target choice, gap filling and zero-phase smoothing.

Runs once per job on the analysis of every frame (:class:`models.face_analysis.FaceTable`),
never per chunk, so a chunk boundary cannot change a result:

1. link detections into tracks frame by frame (:class:`models.face_track.FaceTracker`);
2. join track fragments that a longer miss split: a fragment that starts
   within ``max_gap`` frames of another's end, near where that one was heading;
   then join the tracks that motion could not, by appearance: a track that
   starts within ``max_gap`` frames of another's end and whose head looks
   like it (:mod:`models.face_identity`), clearly more than like any other
   such track (a person running across the frame, blurred, between two turns);
3. pick the target track(s): ``largest`` (the face with the greatest summed
   area over the shot: the lead), ``all`` (every track seen on at least
   ``min_frames`` frames) or ``reference`` (the track holding the chosen face
   of a reference frame, or the one most like a reference image's face, with
   every other track that looks like that person and never overlaps in time:
   the same person coming back after a longer absence);
4. fill each target's short misses by linear interpolation of its landmarks
   (no pop where the detector blinked; a long absence is left alone) and
   smooth them along the whole track with a zero-phase Gaussian (no lag, no seam).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from models.choices import FaceMode
from models.errors import InputError
from models.face_analysis import FaceTable
from models.face_identity import mean_appearance, similarity
from models.face_track import FaceTracker, jitter, smooth_zero_phase


@dataclass(frozen=True)
class SolveParams:
    """Controls of the solve.

    Attributes:
        mode: target choice (module docstring). reference_frame: shot frame index of the
            reference (``reference`` mode). reference_face: which face of that frame,
            0 = the largest. reference_look: ``(APPEARANCE_SIZE,)`` appearance of a
            reference image's face; when given, the target is the track that looks most
            like it (at least ``same_person``/1.1 alike) instead of the reference frame's.
        sigma: smoothing kernel width along a track, frames (1.5 halves the
            jitter of a talking head, GRID measurements in the issue 5 note).
        max_gap: longest miss, frames, that a fragment join may bridge.
        min_frames: shortest track worth swapping in ``all`` mode (drops one-frame false detections).
        fill_gap: longest miss, frames, filled by interpolation; a longer one leaves
            the face alone until it is found again.
        same_person: least appearance similarity (:func:`models.face_identity.similarity`)
            of two tracks joined by appearance; ``identity_margin``: by how much the
            best candidate must beat the next. Measured on the Chaplin two-person
            clip: the same man's tracks 0.93-0.97, the two men 0.79-0.89.
    """

    mode: FaceMode = "largest"
    reference_frame: int = 0
    reference_face: int = 0
    reference_look: np.ndarray | None = None
    sigma: float = 1.5
    max_gap: int = 25
    min_frames: int = 3
    fill_gap: int = 5
    same_person: float = 0.92
    identity_margin: float = 0.03


@dataclass(frozen=True)
class SolvedFaces:
    """Solved target faces: row ``i`` is target ``track[i]`` in frame ``frame[i]``.

    Attributes:
        frame: ``(K,)`` int32, ascending. track: ``(K,)`` int32 target number (0, 1, ... by first appearance).
        landmarks: ``(K, 468, 2)`` float32 smoothed FaceMesh points, pixels.
        raw: ``(K, 468, 2)`` float32 the same before smoothing (interpolated where missed).
        stats: counts and jitter figures of the solve (JSON-ready).
    """

    frame: np.ndarray
    track: np.ndarray
    landmarks: np.ndarray
    raw: np.ndarray
    stats: dict = field(default_factory=dict)

    def between(self, start: int, end: int) -> "SolvedFaces":
        """Rows of frames ``[start, end)``."""
        keep = (self.frame >= start) & (self.frame < end)
        return SolvedFaces(self.frame[keep], self.track[keep], self.landmarks[keep], self.raw[keep], self.stats)

    def in_frame(self, frame: int) -> list[np.ndarray]:
        """The ``(468, 2)`` landmarks of each target in one frame."""
        return [self.landmarks[i] for i in np.nonzero(self.frame == frame)[0]]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays by name (for ``numpy.savez``; ``stats`` is not included)."""
        return {"frame": self.frame, "track": self.track, "landmarks": self.landmarks, "raw": self.raw}

    @classmethod
    def from_arrays(cls, arrays: "dict[str, np.ndarray] | np.lib.npyio.NpzFile") -> "SolvedFaces":
        """Inverse of :meth:`to_arrays`."""
        return cls(np.asarray(arrays["frame"]), np.asarray(arrays["track"]), np.asarray(arrays["landmarks"]),
                   np.asarray(arrays["raw"]))


def track_faces(table: FaceTable) -> list[list[int]]:
    """Rows of ``table`` grouped into tracks (each a list of row indices in frame order)."""
    tracker, rows_of = FaceTracker(), defaultdict(list)
    for rows in np.split(np.arange(len(table)), np.flatnonzero(np.diff(table.frame)) + 1):
        if len(rows):
            ids = tracker.update(int(table.frame[rows[0]]), [table.face(int(r)) for r in rows])
            for row, track_id in zip(rows, ids):
                rows_of[track_id].append(int(row))
    return [rows_of[t] for t in sorted(rows_of)]


def _centre(table: FaceTable, row: int) -> np.ndarray:
    return (table.box[row, :2] + table.box[row, 2:]) / 2


def _diagonal(table: FaceTable, row: int) -> float:
    return float(np.hypot(*(table.box[row, 2:] - table.box[row, :2]))) or 1.0


def _heading(table: FaceTable, rows: list[int]) -> np.ndarray:
    """Centre velocity, pixels per frame, over the fragment's last (up to) 5 detections."""
    tail = rows[-5:]
    if len(tail) < 2:
        return np.zeros(2)
    return (_centre(table, tail[-1]) - _centre(table, tail[0])) / max(1, int(table.frame[tail[-1]] - table.frame[tail[0]]))


def join_fragments(table: FaceTable, tracks: list[list[int]], max_gap: int) -> list[list[int]]:
    """Join fragments that are one face split by a miss longer than the tracker bridges.

    A fragment B joins the fragment A that ended before B began, at most
    ``max_gap`` frames earlier, whose predicted centre at B's start (A's
    heading carried on for at most 5 frames: a longer extrapolation guesses)
    lies within 0.75 face diagonals, plus 0.05 per frame of gap, of B's first
    centre, and whose face size is within a factor 1.6; the closest such A wins.
    """
    order = sorted(range(len(tracks)), key=lambda t: table.frame[tracks[t][0]])
    joined: list[list[int]] = []
    for t in order:
        rows = tracks[t]
        first = rows[0]
        best, best_distance = None, np.inf
        for k, chain in enumerate(joined):
            last = chain[-1]
            gap = int(table.frame[first] - table.frame[last])
            if not 0 < gap <= max_gap:
                continue
            size = _diagonal(table, last)
            if not 1 / 1.6 <= _diagonal(table, first) / size <= 1.6:
                continue
            predicted = _centre(table, last) + _heading(table, chain) * min(gap, 5)
            distance = float(np.linalg.norm(_centre(table, first) - predicted)) / size
            if distance <= 0.75 + 0.05 * gap and distance < best_distance:
                best, best_distance = k, distance
        if best is None:
            joined.append(list(rows))
        else:
            joined[best].extend(rows)
    return joined


def join_by_appearance(table: FaceTable, tracks: list[list[int]], params: SolveParams) -> list[list[int]]:
    """Join tracks of one person that motion could not link, by appearance.

    In order of start, a track B joins the earlier track A (already joined ones
    included) that ended at most ``max_gap`` frames before B began, whose mean
    appearance is at least ``same_person`` similar to B's, and which beats every
    other such candidate by ``identity_margin``; otherwise B stays alone. Tracks
    that overlap in time are never joined (one person is in one place).
    """
    order = sorted(range(len(tracks)), key=lambda t: table.frame[tracks[t][0]])
    joined: list[list[int]] = []
    looks: list[np.ndarray] = []
    for t in order:
        rows = tracks[t]
        look = mean_appearance(table.appearance[rows])
        start = int(table.frame[rows[0]])
        scores = sorted(((similarity(look, looks[k]), k) for k, chain in enumerate(joined)
                         if 0 < start - int(table.frame[chain[-1]]) <= params.max_gap), reverse=True)
        best = scores[0] if scores else (0.0, -1)
        runner_up = scores[1][0] if len(scores) > 1 else 0.0
        if best[0] >= params.same_person and best[0] - runner_up >= params.identity_margin:
            chain = joined[best[1]]
            chain.extend(rows)
            looks[best[1]] = mean_appearance(table.appearance[chain])
        else:
            joined.append(list(rows))
            looks.append(look)
    return joined


def choose_targets(table: FaceTable, tracks: list[list[int]], params: SolveParams) -> list[list[int]]:
    """The target tracks of ``params.mode`` (see the module docstring), in order of first appearance.

    Raises:
        InputError: ``reference`` mode and the reference frame has fewer faces than asked, or no
            track looks like the reference image.
    """
    if not tracks:
        return []
    if params.mode == "all":
        return [t for t in tracks if len(t) >= params.min_frames]
    if params.mode == "largest":
        areas = [float(np.prod(table.box[t, 2:] - table.box[t, :2], axis=1).sum()) for t in tracks]
        return [tracks[int(np.argmax(areas))]]
    looks = [mean_appearance(table.appearance[t]) for t in tracks]
    seed = (_look_alike(looks, params.reference_look, params) if params.reference_look is not None
            else _reference_track(table, tracks, params))
    look = params.reference_look if params.reference_look is not None else looks[seed]
    return [_same_person(table, tracks, [similarity(look, other) for other in looks], seed, params)]


def _reference_track(table: FaceTable, tracks: list[list[int]], params: SolveParams) -> int:
    """The index of the track holding face ``reference_face`` (0 = largest) of frame ``reference_frame``.

    Raises:
        InputError: the frame has fewer faces than asked.
    """
    rows = np.nonzero(table.frame == params.reference_frame)[0]
    if len(rows) <= params.reference_face:
        raise InputError(f"frame {params.reference_frame} has {len(rows)} face(s) found, so face "
                         f"{params.reference_face} of it cannot be the reference",
                         "pick a --reference-frame where the person's face is visible and large enough to be found")
    areas = np.prod(table.box[rows, 2:] - table.box[rows, :2], axis=1)
    chosen = int(rows[np.argsort(-areas, kind="stable")[params.reference_face]])
    return next(i for i, t in enumerate(tracks) if chosen in t)


def _look_alike(looks: list[np.ndarray], reference: np.ndarray, params: SolveParams) -> int:
    """The index of the track whose mean appearance (``looks``) is most like ``reference`` (``params.reference_look``).

    Raises:
        InputError: no track is at least ``same_person / 1.1`` alike (the reference shows someone else).
    """
    scores = [similarity(reference, look) for look in looks]
    best = int(np.argmax(scores))
    if scores[best] < params.same_person / 1.1:
        raise InputError(f"no face in the shot looks like the reference image (best likeness {scores[best]:.2f})",
                         "use a still of the person from this footage, or --reference-frame N instead")
    return best


def _same_person(table: FaceTable, tracks: list[list[int]], likeness: list[float], seed: int,
                 params: SolveParams) -> list[int]:
    """Track ``seed`` with every other track whose ``likeness`` to the reference is at least
    ``same_person``, most alike first, skipping any that overlaps in time what is already taken
    (a returning person, away longer than ``max_gap``). Rows in frame order.
    """
    taken = list(tracks[seed])
    busy = np.zeros(int(table.frame.max()) + 1, bool)  # frames the person is already placed in
    busy[table.frame[taken]] = True
    scored = sorted(((likeness[i], i) for i in range(len(tracks)) if i != seed), reverse=True)
    for score, i in scored:
        start, end = int(table.frame[tracks[i][0]]), int(table.frame[tracks[i][-1]]) + 1
        if score >= params.same_person and not busy[start:end].any():
            taken += tracks[i]
            busy[start:end] = True
    return sorted(taken, key=lambda row: (int(table.frame[row]), row))


def fill_and_smooth(table: FaceTable, rows: list[int], sigma: float, fill_gap: int) -> tuple[np.ndarray, ...]:
    """A track's landmarks on every frame it is seen, and on the short misses between.

    The track is cut where it misses more than ``fill_gap`` frames in a row
    (the face turned away or was covered: nothing is pasted there); inside each
    piece missed frames are linearly interpolated between their neighbours and
    the piece is smoothed by :func:`models.face_track.smooth_zero_phase` with
    ``sigma`` frames.

    Returns:
        ``(frames (T,) int32, raw (T, 468, 2) float32, smoothed (T, 468, 2) float32)``.
    """
    known = table.frame[rows].astype(np.int64)
    cuts = np.nonzero(np.diff(known) > fill_gap + 1)[0] + 1
    pieces = [_fill_piece(table, list(part), known_part, sigma)
              for part, known_part in zip(np.split(np.asarray(rows), cuts), np.split(known, cuts))]
    return tuple(np.concatenate([p[k] for p in pieces]) for k in range(3))


def _fill_piece(table: FaceTable, rows: list[int], known: np.ndarray, sigma: float) -> tuple[np.ndarray, ...]:
    frames = np.arange(known[0], known[-1] + 1, dtype=np.int32)
    points = table.landmarks[rows].reshape(len(rows), -1)
    raw = np.stack([np.interp(frames, known, points[:, k]) for k in range(points.shape[1])], axis=1)
    raw = raw.reshape(len(frames), -1, 2).astype(np.float32)
    return frames, raw, smooth_zero_phase(raw, sigma)


def solve_faces(table: FaceTable, params: SolveParams) -> SolvedFaces:
    """Tracks, targets and smoothed landmarks for the whole shot (see the module docstring).

    Args:
        table: the analysis of every frame of the shot (rows in frame order).

    Raises:
        InputError: see :func:`choose_targets`.
    """
    fragments = track_faces(table)
    moving = join_fragments(table, fragments, params.max_gap)
    tracks = join_by_appearance(table, moving, params)
    targets = choose_targets(table, tracks, params)
    parts = [fill_and_smooth(table, rows, params.sigma, params.fill_gap) for rows in targets]
    stats = {"faces": len(table), "fragments": len(fragments), "tracks": len(tracks),
             "appearance_joins": len(moving) - len(tracks), "targets": len(targets),
             "target_frames": int(sum(len(p[0]) for p in parts)),
             "jitter_raw_px": _mean_jitter([p[1] for p in parts]), "jitter_solved_px": _mean_jitter([p[2] for p in parts])}
    if not parts:
        empty = np.zeros((0, 468, 2), np.float32)
        return SolvedFaces(np.zeros(0, np.int32), np.zeros(0, np.int32), empty, empty.copy(), stats)
    frame = np.concatenate([p[0] for p in parts])
    track = np.concatenate([np.full(len(p[0]), i, np.int32) for i, p in enumerate(parts)])
    order = np.lexsort((track, frame))
    return SolvedFaces(frame[order], track[order], np.concatenate([p[2] for p in parts])[order],
                       np.concatenate([p[1] for p in parts])[order], stats)


def _mean_jitter(tracks: list[np.ndarray]) -> float:
    """Frame-weighted mean :func:`models.face_track.jitter` of several tracks, pixels."""
    weights = [len(t) - 2 for t in tracks if len(t) >= 3]
    values = [jitter(t) for t in tracks if len(t) >= 3]
    return float(np.average(values, weights=weights)) if values else 0.0

