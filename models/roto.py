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
union of the shapes, 1 inside, 0 outside, with an antialiased edge: each pixel's coverage, exact
along :data:`SUPERSAMPLE` horizontal lines through each row of pixels and averaged over them (a scanline
fill: each line's spans inside a shape by the even-odd rule, :func:`polygon_spans`, united across shapes,
:func:`union_spans`, and measured per pixel, :func:`span_coverage`). OpenCV's
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

SUPERSAMPLE = 8
"""Scanlines per row of pixels: a pixel's coverage is exact along each and averaged over them."""
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
        scale = np.array([width / ref_w, height / ref_h])
        lines = (np.arange(height * SUPERSAMPLE) + 0.5) / SUPERSAMPLE
        spans = [polygon_spans(shape.points_at(frame) * scale, lines) for shape in self.shapes]
        united = union_spans(np.concatenate([a for a, _ in spans], 1), np.concatenate([b for _, b in spans], 1))
        return span_coverage(*united, height, width, SUPERSAMPLE)


def polygon_spans(points: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The spans ``[start, end)`` of a polygon along horizontal lines, by the even-odd rule.

    Each line's crossings with the polygon's edges (an edge counts for lines with
    ``y0 <= y < y1``, so a vertex is counted once), sorted, taken in pairs.

    Args:
        points: ``(P, 2)`` float64 ``x, y`` in the raster's continuous coordinates.
        rows: ``(R,)`` float64 ``y`` of the lines.

    Returns:
        ``(starts, ends)``, each ``(R, S)`` float64 ``x``; a line with fewer than ``S`` spans pads
        with ``inf`` (both ends), which :func:`union_spans` ignores.
    """
    x0, y0 = points[:, 0], points[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    y = rows[:, None]
    crosses = ((y0 <= y) & (y < y1)) | ((y1 <= y) & (y < y0))
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.sort(np.where(crosses, x0 + (y - y0) * (x1 - x0) / (y1 - y0), np.inf), axis=1)
    pairs = int(crosses.sum(axis=1).max(initial=0)) // 2  # the most spans on any line
    return x[:, 0:2 * pairs:2], x[:, 1:2 * pairs:2]


def union_spans(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The union of spans on each line: every ``x`` inside at least one span ``[start, end)``.

    Args:
        starts, ends: ``(R, S)`` float64, ``inf`` where a line has no span (:func:`polygon_spans`,
            several polygons' spans side by side).

    Returns:
        ``(line, start, end)``: 1-D arrays, one entry per disjoint span of the union, ``line`` the
        index of its line (int64).
    """
    x = np.concatenate([starts, ends], axis=1)
    step = np.concatenate([np.ones(starts.shape), -np.ones(ends.shape)], axis=1)
    step[~np.isfinite(x)] = 0
    order = np.argsort(x, axis=1, kind="stable")
    x, step = np.take_along_axis(x, order, 1), np.take_along_axis(step, order, 1)
    inside = np.cumsum(step, axis=1)
    before = inside - step
    opens = (before <= 0) & (inside > 0)
    closes = (before > 0) & (inside <= 0)
    line, _ = np.nonzero(opens)
    return line, x[opens], x[closes]


def span_coverage(line: np.ndarray, start: np.ndarray, end: np.ndarray, height: int, width: int,
                  lines_per_row: int) -> np.ndarray:
    """``(height, width)`` float32: each pixel's covered share of the spans, exact along each line
    and averaged over the ``lines_per_row`` lines through a row.

    A span ``[a, b)`` covers ``clip(b - j, 0, 1) - clip(a - j, 0, 1)`` of pixel ``j``; each term is
    a step with one fractional pixel, written as a difference array (``np.bincount`` over the flat
    index) and summed along the row.

    Args:
        line, start, end: disjoint spans (:func:`union_spans`), ``x`` in pixels; line ``k`` lies in
            pixel row ``k // lines_per_row``.
    """
    row_start = (line // lines_per_row) * (width + 2)
    index, weight = [], []
    for x, sign in ((start, 1.0), (end, -1.0)):
        x = np.clip(x, 0.0, float(width))
        whole = np.floor(x)
        part = x - whole
        flat = row_start + whole.astype(np.int64)
        index += [flat, flat + 1]
        weight += [sign * (1.0 - part), sign * part]
    steps = np.bincount(np.concatenate(index), np.concatenate(weight), minlength=height * (width + 2))
    coverage: np.ndarray = np.cumsum(steps.reshape(height, width + 2)[:, :width], axis=1, dtype=np.float64)
    coverage *= 1.0 / lines_per_row
    return np.clip(coverage, 0.0, 1.0, out=coverage).astype(np.float32)


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
