"""Roto raster speed: a moving garbage matte's cost per frame, against OpenCV's polygon fill.

A 40-point concave shape that moves on every frame, with a still 4-point shape beside it, given in
1920 x 1080 source pixels, rasterised at the chroma planes of a 1080p 4:2:0 frame (960 x 540, as the
keyer takes it) and at full 1080p. :meth:`models.roto.RotoShapes.matte` gives each pixel its covered
share (antialiased); the baseline is ``cv2.fillPoly`` of the same shapes with 8 bits of sub-pixel
precision and no antialiasing (0 or 1 per pixel), the least a rasteriser can do. Both run in this
process, alternately, best of 3 rounds of 10 frames.

Run ``python -m tests.bench.roto``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from models.roto import RotoShapes, parse_roto

SOURCE = (1920, 1080)
SIZES = ((960, 540), (1920, 1080))
FRAMES = 10
SHIFT = 8
"""Fractional bits of the baseline's vertex coordinates."""


def shapes() -> RotoShapes:
    """The benchmark's shapes: a star-like 40-point outline moving 200 px across 100 frames, and a still quad."""
    rng = np.random.default_rng(1)
    angle = np.sort(rng.uniform(0, 2 * np.pi, 40))
    radius = rng.uniform(0.6, 1.0, 40)
    outline = np.stack([960 + 500 * radius * np.cos(angle), 540 + 400 * radius * np.sin(angle)], 1)
    quad = [[100, 100], [400, 120], [380, 900], [90, 880]]
    return parse_roto({"width": SOURCE[0], "height": SOURCE[1], "shapes": [
        {"keyframes": [{"frame": 0, "points": outline.tolist()}, {"frame": 100, "points": (outline + [200, 30]).tolist()}]},
        {"keyframes": [{"frame": 0, "points": quad}]}]})


def opencv_fill(roto: RotoShapes, frame: int, width: int, height: int) -> np.ndarray:
    """``(height, width)`` float32 0/1: the shapes at ``frame`` filled by ``cv2.fillPoly``."""
    scale = np.array([width / SOURCE[0], height / SOURCE[1]]) * (1 << SHIFT)
    polygons = [np.rint(shape.points_at(frame) * scale).astype(np.int32) for shape in roto.shapes]
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, polygons, 1, cv2.LINE_8, SHIFT)
    return mask.astype(np.float32)


def best_ms(render: Callable[[int], np.ndarray], rounds: int = 3) -> float:
    """Best of ``rounds`` mean milliseconds per frame over :data:`FRAMES` moving frames."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for frame in range(FRAMES):
            render(frame * 7)
        times.append((time.perf_counter() - start) / FRAMES * 1e3)
    return min(times)


def main() -> None:
    """Print the table."""
    roto = shapes()
    table = Table(title="Roto raster, ms per frame (a moving 40-point shape and a still quad)")
    for column in ("raster", "coverage (ours)", "cv2.fillPoly, no AA", "ratio", "mean |difference|"):
        table.add_column(column, justify="right")
    for width, height in SIZES:
        ours = best_ms(lambda f: roto.matte(f, width, height, SOURCE))
        baseline = best_ms(lambda f: opencv_fill(roto, f, width, height))
        difference = np.abs(roto.matte(35, width, height, SOURCE) - opencv_fill(roto, 35, width, height)).mean()
        table.add_row(f"{width}x{height}", f"{ours:.1f}", f"{baseline:.2f}", f"{ours / baseline:.1f}x", f"{difference:.5f}")
    Console().print(table)


if __name__ == "__main__":
    main()
