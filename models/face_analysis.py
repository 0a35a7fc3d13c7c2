"""Per-frame face analysis (YuNet boxes and keypoints, FaceMesh landmarks) and the table that holds it.

The analysis pass runs :class:`FaceAnalyser` on every frame of every chunk and
stores a :class:`FaceTable`: one row per detected face, flat arrays that
concatenate across chunks and round-trip through ``numpy.savez``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from models.face_detect import Face, FaceDetector
from models.face_identity import APPEARANCE_SIZE, appearance
from models.face_landmarks import FaceMesh

ANALYSIS_VERSION = 2
"""Bumped when the analysis of a frame changes (models, crop, thresholds): stored tables of other versions are not reused."""


@dataclass(frozen=True)
class FaceTable:
    """Faces found in frames: row ``i`` is one face in frame ``frame[i]``.

    Attributes:
        frame: ``(F,)`` int32 shot frame index (presentation order), ascending.
        box: ``(F, 4)`` float32 ``x1, y1, x2, y2`` in frame pixels.
        score: ``(F,)`` float32 detector confidence.
        keypoints: ``(F, 5, 2)`` float32 YuNet keypoints (eyes, nose tip, mouth corners), pixels.
        landmarks: ``(F, 468, 2)`` float32 FaceMesh points, pixels.
        appearance: ``(F, APPEARANCE_SIZE)`` float32 head histograms
            (:func:`models.face_identity.appearance`), to tell people apart.
    """

    frame: np.ndarray
    box: np.ndarray
    score: np.ndarray
    keypoints: np.ndarray
    landmarks: np.ndarray
    appearance: np.ndarray

    @classmethod
    def empty(cls) -> "FaceTable":
        """A table with no rows."""
        return cls(np.zeros(0, np.int32), np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros((0, 5, 2), np.float32), np.zeros((0, 468, 2), np.float32),
                   np.zeros((0, APPEARANCE_SIZE), np.float32))

    @classmethod
    def of_rows(cls, rows: Iterable[tuple[int, "FoundFace"]]) -> "FaceTable":
        """Build from ``(frame, found face)`` rows in frame order."""
        rows = list(rows)
        if not rows:
            return cls.empty()
        faces = [r[1] for r in rows]
        return cls(np.array([r[0] for r in rows], np.int32), np.stack([f.face.box for f in faces]).astype(np.float32),
                   np.array([f.face.score for f in faces], np.float32),
                   np.stack([f.face.keypoints for f in faces]).astype(np.float32),
                   np.stack([f.landmarks[:, :2] for f in faces]).astype(np.float32),
                   np.stack([f.appearance for f in faces]).astype(np.float32))

    @classmethod
    def concat(cls, tables: Iterable["FaceTable"]) -> "FaceTable":
        """Rows of several tables (e.g. one per chunk, in chunk order) in one."""
        tables = list(tables)
        if not tables:
            return cls.empty()
        return cls(*(np.concatenate([getattr(t, name) for t in tables]) for name in _FIELDS))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays by field name (for ``numpy.savez``)."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_arrays(cls, arrays: "dict[str, np.ndarray] | np.lib.npyio.NpzFile") -> "FaceTable":
        """Inverse of :meth:`to_arrays`."""
        return cls(*(np.asarray(arrays[name]) for name in _FIELDS))

    def __len__(self) -> int:
        return len(self.frame)

    def face(self, row: int) -> Face:
        """Row ``row`` as a :class:`Face` (box, score, keypoints)."""
        return Face(self.box[row], float(self.score[row]), self.keypoints[row])


_FIELDS = ("frame", "box", "score", "keypoints", "landmarks", "appearance")


class FoundFace(NamedTuple):
    """One face of a frame: detection, ``(468, 3)`` float32 FaceMesh landmarks (pixels, depth),
    ``(APPEARANCE_SIZE,)`` float32 appearance vector."""

    face: Face
    landmarks: np.ndarray
    appearance: np.ndarray


def upright_to_coded(points: np.ndarray, turns: int, width: int, height: int) -> np.ndarray:
    """Map ``(..., 2)`` pixel coordinates from a frame turned upright back to its coded orientation.

    Args:
        points: x, y in the upright frame (OpenCV's convention: pixel centres at integers).
        turns: quarter turns counter-clockwise that took the coded frame upright
            (``numpy.rot90(coded, turns)``; a display rotation of ``90 * turns`` degrees).
        width, height: the coded frame's size, pixels.

    Returns:
        The same points in the coded frame, float32.
    """
    x, y = points[..., 0], points[..., 1]
    turns %= 4
    if turns == 0:
        u, v = x, y
    elif turns == 1:
        u, v = (width - 1) - y, x
    elif turns == 2:
        u, v = (width - 1) - x, (height - 1) - y
    else:
        u, v = y, (height - 1) - x
    return np.stack([u, v], axis=-1).astype(np.float32)


def found_in_coded(found: FoundFace, turns: int, width: int, height: int) -> FoundFace:
    """A face found in the upright frame, with its box, keypoints and landmarks in the coded frame
    (see :func:`upright_to_coded`); the appearance is kept (it was measured upright)."""
    if turns % 4 == 0:
        return found
    corners = upright_to_coded(found.face.box.reshape(2, 2), turns, width, height)
    box = np.concatenate([corners.min(axis=0), corners.max(axis=0)])
    face = Face(box, found.face.score, upright_to_coded(found.face.keypoints, turns, width, height))
    landmarks = found.landmarks.copy()
    landmarks[:, :2] = upright_to_coded(found.landmarks[:, :2], turns, width, height)
    return FoundFace(face, landmarks, found.appearance)


class FaceAnalyser:
    """Detection and dense landmarks of every face in a frame.

    Args:
        detector: YuNet (:class:`models.face_detect.FaceDetector`).
        mesh: FaceMesh-468 (:class:`models.face_landmarks.FaceMesh`).
        min_size: faces whose box is smaller than this many pixels on its longer
            side are dropped (too small to swap: FaceMesh needs some detail).
    """

    def __init__(self, detector: FaceDetector, mesh: FaceMesh, min_size: float = 12.0) -> None:
        self.detector, self.mesh, self.min_size = detector, mesh, min_size

    def analyse(self, rgb: np.ndarray) -> list[FoundFace]:
        """Faces of an ``(H, W, 3)`` uint8 RGB frame, largest first."""
        faces = [f for f in self.detector.detect(rgb) if max(f.box[2] - f.box[0], f.box[3] - f.box[1]) >= self.min_size]
        faces.sort(key=lambda f: -f.area)
        return [FoundFace(face, self.mesh.landmarks(rgb, face), appearance(rgb, face.box)) for face in faces]
