"""Background plates for compositing: a still image or a video, fitted to the frame.

A video plate is read forward as the chunk advances (never held whole); its
frame for a shot time ``t`` is the last one starting at or before
``t mod plate duration``, so a short plate loops.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from models.errors import InputError
from models.plate import fit_plate
from workers.specs import PlateKind


def read_image(path: str, what: str, hint: str) -> np.ndarray:
    """Read a still as ``(h, w, 3)`` uint8 RGB.

    Args:
        what: what the image is, for the error (``"the background plate"``). hint: what to do instead.

    Raises:
        InputError: the file is missing or is not an image OpenCV can read.
    """
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{what} {Path(path).name} is missing or not a readable image", hint)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


PLATE_HINT = "pass a still image (JPEG, PNG, TIFF, WebP, EXR) or a video as the plate"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".exr")
"""Plate files read as stills (by OpenCV); any other plate is read as a video (by PyAV)."""


def load_image_plate(path: str) -> np.ndarray:
    """Read a still plate as ``(h, w, 3)`` uint8 RGB (:func:`read_image`)."""
    return read_image(path, "the background plate", PLATE_HINT)


def plate_kind(path: str) -> PlateKind:
    """``image`` or ``video``, by the file's suffix (:data:`IMAGE_SUFFIXES`)."""
    return "image" if Path(path).suffix.lower() in IMAGE_SUFFIXES else "video"


def check_plate(path: str) -> PlateKind:
    """Check that a plate file exists and that its first frame reads; returns its kind.

    Messages name the file, never the folder it lies in (an API's server path).

    Raises:
        InputError: missing, a folder, or not a readable image or video.
    """
    name = Path(path).name or path
    if os.path.isdir(path):
        raise InputError(f"the background plate {name} is a folder, not an image or a video", PLATE_HINT)
    if not os.path.isfile(path):
        raise InputError(f"the background plate {name} does not exist", PLATE_HINT)
    kind = plate_kind(path)
    reader = PlateReader(path, kind, 64, 64)
    try:
        reader.frame_at(0.0)
    finally:
        reader.close()
    return kind


def to_coded_orientation(plate: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a plate fitted upright (as displayed) into the source's coded orientation.

    The display matrix rotates coded frames by ``rotation`` degrees counter-clockwise
    for display, so the plate is rotated back by the same angle clockwise.
    """
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(plate, k=-turns)) if turns else plate


class PlateReader:
    """Background frames for a chunk, fitted to the frame in the coded orientation.

    Args:
        path: local plate file. kind: ``image`` or ``video``.
        width, height: coded frame size. rotation: source display rotation, degrees.
    """

    def __init__(self, path: str, kind: str, width: int, height: int, rotation: int = 0) -> None:
        self.path, self.kind, self.rotation = path, kind, rotation
        upright = (height, width) if rotation % 180 else (width, height)
        self.size = upright
        self._still: np.ndarray | None = None
        self._container: av.container.InputContainer | None = None
        if kind == "image":
            self._still = self._fit(load_image_plate(path))
        else:
            self._open_video()

    def _fit(self, rgb: np.ndarray) -> np.ndarray:
        return to_coded_orientation(fit_plate(rgb, *self.size), self.rotation)

    def _open_video(self) -> None:
        try:
            self._container = av.open(self.path)
        except av.FFmpegError as exc:
            raise InputError(f"the background plate {Path(self.path).name} is not a readable image or video",
                             PLATE_HINT) from exc
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"the background plate {Path(self.path).name} has no video stream", PLATE_HINT)
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._stream = stream
        self._tb = stream.time_base or Fraction(1, 1000)
        self._start = stream.start_time or 0
        duration = stream.duration or (self._container.duration or 0) * Fraction(1, av.time_base) / self._tb
        self._duration_s = float(Fraction(duration) * self._tb) if duration else 0.0
        self._frames: Iterator[av.VideoFrame] | None = None
        self._current: np.ndarray | None = None
        self._fitted: np.ndarray | None = None
        self._current_t = -1.0
        self._next: tuple[float, np.ndarray] | None = None

    def _seek(self, t: float) -> Iterator[av.VideoFrame]:
        """Restart decoding at or before ``t`` seconds; return (and keep) the new frame iterator."""
        assert self._container is not None  # only a video plate seeks, and _open_video opened it
        target = int(t / self._tb) + self._start
        self._container.seek(target, stream=self._stream, backward=True)
        self._frames = self._container.decode(self._stream)
        self._current, self._current_t, self._next = None, -1.0, None
        return self._frames

    def _advance(self, frames: Iterator[av.VideoFrame]) -> tuple[float, np.ndarray] | None:
        """The next decoded frame as ``(t, pixels)``, None at the end of the plate."""
        frame = next(frames, None)
        if frame is None:
            return None
        t = float((frame.pts - self._start) * self._tb) if frame.pts is not None else self._current_t + 1e-3
        return t, frame.to_ndarray(format="rgb24")

    def frame_at(self, t: float) -> np.ndarray:
        """The plate for shot time ``t`` seconds: ``(H, W, 3)`` uint8 RGB (coded size)."""
        if self._still is not None:
            return self._still
        if self._duration_s > 0:
            t = t % self._duration_s
        frames = self._frames
        if frames is None or t < self._current_t:
            frames = self._seek(t)
        while True:
            if self._next is None:
                self._next = self._advance(frames)
                if self._next is None:
                    break
            nt, pixels = self._next
            if nt > t + 1e-6 and self._current is not None:
                break
            self._current, self._current_t, self._next = pixels, nt, None
            self._fitted = None
        if self._current is None:
            raise InputError(f"the background plate {Path(self.path).name} has no decodable frame", PLATE_HINT)
        if self._fitted is None:
            self._fitted = self._fit(self._current)
        return self._fitted

    def close(self) -> None:
        """Release the plate file."""
        if self._container is not None:
            self._container.close()
