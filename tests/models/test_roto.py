"""Roto shapes (models.roto): keyframes interpolated per frame, antialiased rasterising at any size, and a clear
InputError for every way the JSON can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.errors import InputError
from models.roto import parse_roto, read_roto

SQUARE = [[10, 10], [30, 10], [30, 30], [10, 30]]


def _moving_square() -> dict:
    moved = [[x + 20, y] for x, y in SQUARE]
    return {"shapes": [{"name": "box", "keyframes": [{"frame": 10, "points": SQUARE}, {"frame": 20, "points": moved}]}]}


def test_points_move_linearly_between_keyframes_and_hold_outside_them() -> None:
    shape = parse_roto(_moving_square()).shapes[0]
    assert np.allclose(shape.points_at(0), SQUARE) and np.allclose(shape.points_at(10), SQUARE)
    assert np.allclose(shape.points_at(15), [[x + 10, y] for x, y in SQUARE])
    assert np.allclose(shape.points_at(13), [[x + 6, y] for x, y in SQUARE])
    assert np.allclose(shape.points_at(20), shape.points_at(99))


def test_a_square_rasterises_to_its_area_with_solid_inside_and_clear_outside() -> None:
    roto = parse_roto(_moving_square())
    matte = roto.matte(10, 64, 48, (64, 48))
    assert matte.shape == (48, 64) and matte.dtype == np.float32
    assert abs(matte.sum() - 400.0) < 8.0  # 20 x 20 pixels, within 2 %
    assert matte[11:29, 11:29].min() == 1.0 and matte[:8].max() == 0.0 and matte[:, 33:].max() == 0.0
    later = roto.matte(15, 64, 48, (64, 48))
    assert later[11:29, 21:39].min() == 1.0 and later[:, :19].max() == 0.0


def test_a_slanted_edge_is_antialiased_and_the_points_follow_the_raster_size() -> None:
    triangle = {"width": 200, "height": 100, "shapes": [{"keyframes": [{"frame": 0, "points": [[0, 0], [200, 0], [0, 100]]}]}]}
    roto = parse_roto(triangle)
    small, large = roto.matte(0, 100, 50, (1, 1)), roto.matte(0, 200, 100, (1, 1))
    partial = (small > 0.05) & (small < 0.95)
    assert partial.sum() >= 40  # a soft step along the diagonal, not a staircase of 0 and 1
    assert abs(small.mean() - 0.5) < 0.02 and abs(large.mean() - 0.5) < 0.02  # half the frame, at both sizes


def test_shapes_are_united_and_default_to_the_source_size() -> None:
    data = {"shapes": [{"keyframes": [{"frame": 0, "points": SQUARE}]},
                       {"keyframes": [{"frame": 0, "points": [[40, 10], [60, 10], [60, 30], [40, 30]]}]}]}
    matte = parse_roto(data).matte(0, 32, 24, (64, 48))  # half the source's size: points halved
    assert matte[6:14, 6:14].min() == 1.0 and matte[6:14, 21:29].min() == 1.0 and matte[6:14, 16:19].max() == 0.0


@pytest.mark.parametrize(("data", "words"), [
    ({"shapes": []}, "no list of shapes"),
    ([1, 2], "no list of shapes"),
    ({"shapes": [{"name": "stand"}]}, "shape stand has no list of keyframes"),
    ({"shapes": [{"keyframes": [{"frame": 0, "points": [[0, 0], [1, 1]]}]}]}, "at least 3"),
    ({"shapes": [{"keyframes": [{"frame": 0, "points": [[0, 0], [1, "a"], [2, 2]]}]}]}, "at least 3"),
    ({"shapes": [{"keyframes": [{"frame": 1.5, "points": SQUARE}]}]}, "whole-number frame"),
    ({"shapes": [{"keyframes": [{"frame": 0, "points": SQUARE}, {"frame": 0, "points": SQUARE}]}]}, "two keyframes"),
    ({"shapes": [{"keyframes": [{"frame": 0, "points": SQUARE}, {"frame": 5, "points": SQUARE[:3]}]}]},
     "different point counts"),
    ({"width": 0, "height": 10, "shapes": [{"keyframes": [{"frame": 0, "points": SQUARE}]}]}, "width and height"),
])
def test_bad_roto_json_is_an_input_error_naming_the_problem(data: object, words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_roto(data)
    assert words in str(caught.value) and caught.value.hint


def test_a_roto_file_that_is_not_json_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "shapes.json"
    path.write_text('{"shapes": [\n  {"keyframes": }\n]}')
    with pytest.raises(InputError, match=r"shapes.json is not JSON .* line 2"):
        read_roto(str(path))
    path.write_text(json.dumps(_moving_square()))
    assert read_roto(str(path)).shapes[0].name == "box"


def _sampled(polygons: list[np.ndarray], height: int, width: int, n: int) -> np.ndarray:
    """Coverage by brute force: n x n sample centres per pixel, inside any polygon (matplotlib-free even-odd)."""
    ys, xs = np.mgrid[0:height * n, 0:width * n]
    px, py = (xs + 0.5) / n, (ys + 0.5) / n
    inside = np.zeros(px.shape, bool)
    for poly in polygons:
        odd = np.zeros(px.shape, bool)
        for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0)):
            crosses = (y0 <= py) != (y1 <= py)
            with np.errstate(divide="ignore", invalid="ignore"):
                odd ^= crosses & (px < x0 + (py - y0) * (x1 - x0) / (y1 - y0))
        inside |= odd
    return inside.reshape(height, n, width, n).mean(axis=(1, 3))


def test_coverage_matches_dense_sampling_for_overlapping_concave_shapes() -> None:
    """Each pixel's coverage against 64 x 64 samples per pixel: a concave star and a square over it
    (their union, not their even-odd sum), edges at every slope, points off the pixel grid."""
    angles = np.linspace(0, 2 * np.pi, 14, endpoint=False)
    radii = np.where(np.arange(14) % 2 == 0, 11.3, 4.7)
    star = np.stack([16.2 + radii * np.cos(angles), 12.6 + radii * np.sin(angles)], 1)
    square = np.array([[14.3, 9.1], [29.7, 10.4], [28.2, 22.9], [15.1, 21.6]])
    data = {"shapes": [{"keyframes": [{"frame": 0, "points": p.tolist()}]} for p in (star, square)]}
    matte = parse_roto(data).matte(0, 32, 26, (32, 26))
    truth = _sampled([star, square], 26, 32, 64)
    assert np.abs(matte - truth).max() < 0.04  # measured 0.016 (8 scanlines a row, exact along each)
    assert abs(float(matte.sum()) - float(truth.sum())) < 0.5
