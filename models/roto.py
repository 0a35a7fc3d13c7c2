"""Roto shapes: polygons with keyframes, read from JSON, interpolated per frame and rasterised as a matte.

The JSON file (``--garbage-matte shapes.json``, ``--core-matte shapes.json``)::

    {
      "width": 1920, "height": 1080,          # the frame the points are given in (optional:
                                              #   default the source's size)
      "shapes": [
        {"name": "stand",                     # optional
         "keyframes": [
           {"frame": 0,  "points": [[100, 80], [600, 80], [600, 1000], [100, 1000]]},
           {"frame": 48, "points": [[140, 80], [640, 80], [640, 1000], [140, 1000]]}
         ]}
      ]
    }

Points are ``[x, y]`` in pixels of a ``width`` x ``height`` frame, ``x`` to the right and
``y`` down from the frame's top-left corner (``[0, 0]`` is that corner, ``[width, height]``
the opposite one; a pixel's centre is at ``+0.5``). Frames are the source's frame numbers
(:func:`workers.matte_source.source_frame_number`: a movie's frame index from 0, an image
sequence's file numbers). Every keyframe of a shape has the same number of points (at
least 3); between two keyframes each point moves linearly, before the first and after the
last the shape holds. A shape's inside is its polygon; the matte is the
union of the shapes, 1 inside, 0 outside, with an antialiased edge: each pixel's coverage,
measured on a grid of :data:`SUPERSAMPLE` x :data:`SUPERSAMPLE` samples, a sample inside when
its centre is (scanline fill, even-odd rule, half-open spans, :func:`fill_polygon`). OpenCV's
``fillPoly`` was not used: its ``LINE_AA`` draws an antialiased outline outside the polygon
(a 20 x 20 square covered 456 pixels) and without it both boundary rows are filled (410).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import InputError

SUPERSAMPLE = 4
"""Coverage samples per pixel along each axis (17 levels of edge coverage)."""
HINT = ('write it as {"shapes": [{"keyframes": [{"frame": 0, "points": [[x, y], [x, y], [x, y]]}]}]}, '
        "points in pixels of the source frame")


@dataclass(frozen=True)
class Keyframe:
    """One shape at one frame.

    Attributes:
        frame: the source's frame number. points: ``(P, 2)`` float64 ``x, y`` pixels.
    """

    frame: int
    points: np.ndarray


@dataclass(frozen=True)
class Shape:
    """A polygon whose points move between keyframes.

    Attributes:
        name: for messages. keyframes: ascending by frame, at least one, each with the same point count.
    """

    name: str
    keyframes: tuple[Keyframe, ...]

    def points_at(self, frame: int) -> np.ndarray:
        """``(P, 2)`` float64 points at ``frame``: linear between the keyframes around it, held
        before the first and after the last."""
        keys = self.keyframes
        if frame <= keys[0].frame:
            return keys[0].points
        for before, after in zip(keys, keys[1:]):
            if frame <= after.frame:
                t = (frame - before.frame) / (after.frame - before.frame)
                return before.points + t * (after.points - before.points)
        return keys[-1].points


@dataclass(frozen=True)
class RotoShapes:
    """The shapes of a roto file.

    Attributes:
        shapes: the polygons. size: ``(width, height)`` of the frame the points are in, or None
            (the source's own size).
    """

    shapes: tuple[Shape, ...]
    size: tuple[int, int] | None = None

    def matte(self, frame: int, width: int, height: int, source_size: tuple[int, int]) -> np.ndarray:
        """The matte at ``frame``, rasterised at ``width`` x ``height``: ``(height, width)``
        float32 in [0, 1], 1 inside a shape, antialiased at the edge.

        Args:
            frame: the source's frame number.
            width, height: the raster's size (e.g. the chroma planes').
            source_size: ``(W, H)`` of the source frame, the points' frame when the file names none.
        """
        ref_w, ref_h = self.size or source_size
        s = SUPERSAMPLE
        scale = np.array([width * s / ref_w, height * s / ref_h])
        fine = np.zeros((height * s, width * s), bool)
        for shape in self.shapes:  # their union
            fine |= fill_polygon(shape.points_at(frame) * scale, height * s, width * s)
        coverage = fine.reshape(height, s, width, s).mean(axis=(1, 3), dtype=np.float32)
        return coverage.astype(np.float32, copy=False)


def fill_polygon(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(height, width)`` bool: the samples whose centres ``(j + 0.5, i + 0.5)`` lie inside the polygon
    ``points`` ``(P, 2)`` (``x, y`` in the raster's continuous coordinates), by the even-odd rule.

    A scanline fill: each row's crossings with the edges (an edge counts for rows with
    ``y0 <= y < y1``, so a vertex is counted once), sorted, taken in pairs; a sample is inside
    a span ``[xa, xb)``. Exact for any polygon, convex or not.
    """
    x0, y0 = points[:, 0], points[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    y = np.arange(height)[:, None] + 0.5
    crosses = ((y0 <= y) & (y < y1)) | ((y1 <= y) & (y < y0))
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(crosses, x0 + (y - y0) * (x1 - x0) / (y1 - y0), np.inf)
    x = np.sort(x, axis=1)
    starts, ends = x[:, 0::2], x[:, 1::2]
    pairs = min(starts.shape[1], ends.shape[1])
    starts, ends = starts[:, :pairs], ends[:, :pairs]
    valid = np.isfinite(starts) & np.isfinite(ends)
    first = np.clip(np.ceil(starts - 0.5), 0, width).astype(np.int64)  # sample j is inside when xa <= j + 0.5 < xb
    stop = np.clip(np.ceil(ends - 0.5), 0, width).astype(np.int64)
    steps = np.zeros((height, width + 1), np.int32)
    rows = np.broadcast_to(np.arange(height)[:, None], first.shape)
    np.add.at(steps, (rows[valid], first[valid]), 1)
    np.add.at(steps, (rows[valid], stop[valid]), -1)
    return np.cumsum(steps[:, :width], axis=1) > 0


def parse_roto(data: Any, name: str = "the roto file") -> RotoShapes:
    """Roto shapes from parsed JSON (the module docstring gives the schema).

    Raises:
        InputError: the JSON does not follow the schema (the message names the shape and keyframe).
    """
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list) or not data["shapes"]:
        raise InputError(f"{name} has no list of shapes", HINT)
    size = None
    if "width" in data or "height" in data:
        w, h = data.get("width"), data.get("height")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (w, h)):
            raise InputError(f"{name}: width and height must both be positive whole numbers of pixels", HINT)
        size = (int(w), int(h))  # type: ignore[arg-type]  # checked just above
    shapes = []
    for s, item in enumerate(data["shapes"]):
        label = f"{name}, shape {item.get('name', s) if isinstance(item, dict) else s}"
        if not isinstance(item, dict) or not isinstance(item.get("keyframes"), list) or not item["keyframes"]:
            raise InputError(f"{label} has no list of keyframes", HINT)
        keys: dict[int, np.ndarray] = {}
        for key in item["keyframes"]:
            frame = key.get("frame") if isinstance(key, dict) else None
            if not isinstance(frame, int) or isinstance(frame, bool):
                raise InputError(f"{label}: a keyframe has no whole-number frame", HINT)
            if frame in keys:
                raise InputError(f"{label}: frame {frame} has two keyframes", "keep one keyframe per frame")
            keys[frame] = _points(key.get("points"), f"{label}, frame {frame}")
        counts = {len(p) for p in keys.values()}
        if len(counts) > 1:
            raise InputError(f"{label}: its keyframes have different point counts ({sorted(counts)})",
                             "give every keyframe of a shape the same points, in the same order")
        shapes.append(Shape(str(item.get("name", s)), tuple(Keyframe(f, keys[f]) for f in sorted(keys))))
    return RotoShapes(tuple(shapes), size)


def _points(value: Any, label: str) -> np.ndarray:
    """``(P, 2)`` float64 from ``[[x, y], ...]``.

    Raises:
        InputError: not a list of at least 3 pairs of finite numbers.
    """
    ok = isinstance(value, list) and len(value) >= 3 and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in p)
        for p in value)
    points = np.array(value, np.float64) if ok else None
    if points is None or not np.isfinite(points).all():
        raise InputError(f"{label}: points must be a list of at least 3 [x, y] pairs of numbers", HINT)
    return points


def read_roto(path: str) -> RotoShapes:
    """Roto shapes from a JSON file (:func:`parse_roto`).

    Raises:
        InputError: the file is missing, not JSON, or does not follow the schema.
    """
    name = Path(path).name
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"the roto file {name} cannot be read ({exc.__class__.__name__})", "check its path") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"the roto file {name} is not JSON ({exc.msg} at line {exc.lineno})", HINT) from exc
    return parse_roto(data, f"the roto file {name}")
