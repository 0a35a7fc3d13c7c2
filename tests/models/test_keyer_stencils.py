"""Parity of each keyer stencil across its three forms: the ONNX graph's (models.keyer_graph), the
fused loops' (models.fused_matte, models.fused_composite) and the numpy reference's
(models.keyer_reference). The per-pixel formulas are shared (models.keyer_formulas); only these
are written per form. Sizes include odd ones, where edge handling differs if it can."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import models.keyer_formulas as kf
from models import fused_composite, fused_edges, fused_matte, keyer_graph, keyer_reference
from models.keyer_params import KeyerParams
from models.keyer_tracer import GraphBuilder, Tracer

SIZES = [(6, 8), (7, 9), (24, 33)]


def run_graph(build: Callable[[GraphBuilder, Tracer], str], x: np.ndarray) -> np.ndarray:
    """Run a one-stencil graph ``build(g, x) -> output name`` on ``x`` ``(N, C, H, W)`` float32."""
    g = GraphBuilder()
    out = build(g, g.tracer("x"))
    g.op("Identity", out, out="y")
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(g.nodes, "stencil", [vi("x", TensorProto.FLOAT, None)], [vi("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", keyer_graph.OPSET)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]


def plane(shape: tuple[int, ...], seed: int = 1, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("size", SIZES)
def test_box_mean_counts_only_pixels_inside(size: tuple[int, int]) -> None:
    x = plane(size)
    for r in (1, 2):
        graph = run_graph(lambda g, t: keyer_graph.box_mean(g, t, r).name, x[None, None])[0, 0]
        ref = keyer_reference.box_mean(x.astype(np.float64), r)
        assert np.abs(graph - ref).max() < 1e-5
        assert abs(ref[0, 0] - x[: r + 1, : r + 1].mean()) < 1e-6  # a corner averages what it holds


@pytest.mark.parametrize("size", SIZES)
def test_guided_filter_fused_matches_reference(size: tuple[int, int]) -> None:
    """The fused guided filter (running sums) against box means of the reference and the graph."""
    guide, alpha = plane(size, 2), plane(size, 3)
    r, eps, luma_scale = 1, 1e-3, 219.0
    ta, tb = np.empty(size, np.float32), np.empty(size, np.float32)
    fused_matte.guided_transparency(guide, alpha, r, np.float32(eps), np.float32(luma_scale), ta, tb)
    means = [keyer_reference.box_mean(x.astype(np.float64), r) for x in (guide, alpha, guide * alpha, guide * guide)]
    a, b = kf.guided_coefficients(*means, eps)
    ref_a, ref_b = kf.transparency_coefficients(keyer_reference.box_mean(a, r), keyer_reference.box_mean(b, r),
                                                1.0 / luma_scale)
    assert np.abs(ta - ref_a).max() < 1e-6 and np.abs(tb - ref_b).max() < 1e-4
    params = KeyerParams(guide_radius=r, guide_eps=eps)

    def graph_form(g: GraphBuilder, t: Tracer) -> str:
        g_plane, a_plane = (g.tracer(n) for n in g.split(t.name, 2))
        mean_a, mean_b = keyer_graph.guided_means(g, g_plane, a_plane, params)
        ta_graph, tb_graph = kf.transparency_coefficients(mean_a, mean_b, np.float32(1.0 / luma_scale))
        return g.op("Concat", ta_graph.name, tb_graph.name, axis=1)

    out = run_graph(graph_form, np.stack([guide, alpha])[None])[0]
    assert np.abs(out[0] - ref_a).max() < 1e-6 and np.abs(out[1] - ref_b).max() < 1e-4


@pytest.mark.parametrize("size", SIZES)
def test_block_means_cut_by_the_edge_average_what_they_hold(size: tuple[int, int]) -> None:
    """The 2x2 half means (fused: of Cb, Cr and the guide, with the colour difference of the means)
    and the light's block means, against the reference and the graph's AveragePool."""
    h, w = size
    chroma = np.random.default_rng(4).integers(0, 256, (2, h, w), dtype=np.uint8)
    guide = plane(size, 5)
    f0, f1 = np.float32(0.7), np.float32(-1.1)
    half = np.empty((4, (h + 1) // 2, (w + 1) // 2), np.float32)
    fused_matte.half_means(chroma, guide, f0, f1, half)
    c = chroma.astype(np.float64) - 128.0
    for got, x in zip(half, (kf.colour_difference(c[0], c[1], f0, f1), guide, c[0], c[1])):
        ref = keyer_reference.block_mean(np.asarray(x, np.float64), 2)
        assert np.abs(got - ref).max() < 1e-4
        graph = run_graph(lambda g, t: keyer_graph.block_mean(g, t.name, 2), np.asarray(x, np.float32)[None, None])
        assert np.abs(graph[0, 0] - ref).max() < 1e-4
    for cell in (3, 4):
        graph = run_graph(lambda g, t: keyer_graph.block_mean(g, t.name, cell), guide[None, None])[0, 0]
        assert np.abs(graph - keyer_reference.block_mean(guide.astype(np.float64), cell)).max() < 1e-6


@pytest.mark.parametrize("size", SIZES)
def test_zero_padded_window_means(size: tuple[int, int]) -> None:
    x = plane(size, 6)
    for r in (1, 4):
        ref = keyer_reference.zero_box_mean(x.astype(np.float64), r)
        assert np.abs(fused_matte.zero_box_mean(x, r) - ref).max() < 1e-6
        graph = run_graph(lambda g, t: keyer_graph.zero_box_mean(g, t.name, r), x[None, None])[0, 0]
        assert np.abs(graph - ref).max() < 1e-6


@pytest.mark.parametrize("size", SIZES)
def test_light_resize_to_chroma_resolution(size: tuple[int, int]) -> None:
    """The light's reciprocal from the block grid to chroma resolution: bilinear, half-pixel, clamped."""
    grid = plane((max(size[0] // 4, 1), max(size[1] // 4, 1)), 7)
    h, w = size
    ref = keyer_reference.resize_linear(grid.astype(np.float64), (w, h))
    assert np.abs(fused_matte.resize_linear(grid, h, w) - ref).max() < 1e-5

    def graph_form(g: GraphBuilder, t: Tracer) -> str:
        return g.op("Resize", t.name, "", "", g.i64([1, 1, h, w]), mode="linear")

    assert np.abs(run_graph(graph_form, grid[None, None])[0, 0] - ref).max() < 1e-5


@pytest.mark.parametrize("size", [(6, 8), (24, 34)])
def test_chroma_footprint_guide(size: tuple[int, int]) -> None:
    luma = np.random.default_rng(8).integers(0, 256, size, dtype=np.uint8)
    ref = keyer_reference.footprint_guide(luma, subsampled=True)
    fused = fused_composite.luma_guide(luma[None], True, 1.0)[0, 0]
    graph = run_graph(lambda g, t: keyer_graph.chroma_footprint(g, t.name), luma.astype(np.float32)[None, None])[0, 0]
    assert np.abs(fused - ref).max() < 1e-3 and np.abs(graph - ref).max() < 1e-3


@pytest.mark.parametrize("size", [(3, 4), (12, 17)])
def test_coefficients_to_the_luma_grid(size: tuple[int, int]) -> None:
    """4:2:0 coefficients resized 2x bilinearly to every luma sample (fused: one row at a time)."""
    hc, wc = size
    x = plane(size, 9)
    ref = keyer_reference.resize_linear(x.astype(np.float64), (2 * wc, 2 * hc))
    row = np.empty(2 * wc, np.float32)
    fused = np.stack([(fused_composite.bilinear_row(x, i, row), row.copy())[1] for i in range(2 * hc)])
    assert np.abs(fused - ref).max() < 1e-5

    def graph_form(g: GraphBuilder, t: Tracer) -> str:
        shape = g.i64([1, 1, hc, 2, 2 * wc])
        return g.op("Reshape", keyer_graph.coefficients_to_luma(g, t, True, shape).name, g.i64([1, 1, 2 * hc, 2 * wc]))

    assert np.abs(run_graph(graph_form, x[None, None])[0, 0] - ref).max() < 1e-5


@pytest.mark.parametrize("width", [4, 13])
def test_layer_chroma_widened_linearly(width: int) -> None:
    """A layer's 4:2:0 chroma row widened 2x linearly (each row then serves its two luma rows)."""
    x = plane((2, width), 10)
    ref = keyer_reference.resize_linear(x.astype(np.float64), (2 * width, 2))
    wide = np.empty(2 * width, np.float32)
    fused_composite.linear_row_2x(x[0], wide)
    assert np.abs(wide - ref[0]).max() < 1e-5
    graph = run_graph(lambda g, t: keyer_graph.rows_form(g, t.name, True, mode="linear"), x[None, None])
    assert np.abs(graph[0, 0, :, 0] - ref).max() < 1e-5


def test_temporal_scan_over_frames() -> None:
    """The motion-adaptive filter scanned over a batch: the graph's Scan, the fused loop, the formula."""
    n, size = 5, (6, 7)
    raw, guide = plane((n, *size), 11), plane((n, *size), 12, 0.2)
    params = KeyerParams(temporal_min=0.3, motion_threshold=0.1)
    alpha, luma, valid = np.zeros(size), np.zeros(size), 0.0
    ref = []
    for f in range(n):
        alpha = kf.temporal_step(raw[f].astype(np.float64), guide[f], alpha, luma, valid, params.temporal_min,
                                 1.0 / params.motion_threshold)
        luma, valid = guide[f], 1.0
        ref.append(alpha)
    state_alpha, state_luma = np.zeros(size, np.float32), np.zeros(size, np.float32)
    for f in range(n):
        work = raw[f].copy()
        fused_matte.temporal_filter(work, guide[f], state_alpha, state_luma, np.float32(0.0 if f == 0 else 1.0),
                                    np.float32(params.temporal_min), np.float32(1.0 / params.motion_threshold))
        assert np.abs(work - ref[f]).max() < 1e-5
    vi = helper.make_tensor_value_info
    plane_shape = [1, *size]
    scan = helper.make_node("Scan", ["a0", "l0", "v0", "raw", "guide"], ["a1", "l1", "v1", "out"], num_scan_inputs=2,
                            body=keyer_graph.temporal_body(params))
    graph = helper.make_graph(
        [scan], "scan",
        [vi("a0", TensorProto.FLOAT, plane_shape), vi("l0", TensorProto.FLOAT, plane_shape), vi("v0", TensorProto.FLOAT, [1]),
         vi("raw", TensorProto.FLOAT, [n, *plane_shape]), vi("guide", TensorProto.FLOAT, [n, *plane_shape])],
        [vi("out", TensorProto.FLOAT, [n, *plane_shape])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", keyer_graph.OPSET)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    zeros = np.zeros(plane_shape, np.float32)
    out = session.run(["out"], {"a0": zeros, "l0": zeros, "v0": np.zeros(1, np.float32),
                                "raw": raw[:, None], "guide": guide[:, None]})[0]
    assert np.abs(out[:, 0] - np.stack(ref)).max() < 1e-5


@pytest.mark.parametrize("size", SIZES)
def test_window_minimum_and_maximum_count_only_pixels_inside(size: tuple[int, int]) -> None:
    """The edge controls' erosion and dilation (despot, shrink/grow): OpenCV's, the fused loops', MaxPool's."""
    x = plane(size, 13)
    for r in (1, 3):
        for grow in (True, False):
            ref = (keyer_reference.dilate if grow else keyer_reference.erode)(x.astype(np.float64), r)
            assert np.abs(fused_edges.extreme_filter(x, r, grow) - ref).max() == 0
            graph = run_graph(lambda g, t: keyer_graph.extreme_pool(g, t, r, grow).name, x[None, None])[0, 0]
            assert np.abs(graph - ref).max() == 0
            corner = x[: r + 1, : r + 1]
            assert ref[0, 0] == (corner.max() if grow else corner.min())  # the frame's outside never wins


@pytest.mark.parametrize("size", SIZES)
def test_box_filter_of_softness_and_light_wrap(size: tuple[int, int]) -> None:
    """The fused running-sum box mean against the reference's and the graph's (radii past the frame too)."""
    x = plane(size, 14)
    for r in (1, 5, 40):
        ref = keyer_reference.box_mean(x.astype(np.float64), r)
        assert np.abs(fused_edges.box_filter(x, r) - ref).max() < 1e-6
        graph = run_graph(lambda g, t: keyer_graph.box_mean(g, t, r).name, x[None, None])[0, 0]
        assert np.abs(graph - ref).max() < 1e-5


@pytest.mark.parametrize("size", SIZES)
def test_edge_matte_in_every_form(size: tuple[int, int]) -> None:
    """Despot black and white, shrink/grow, softness in sequence; a lone speck goes, a pinhole fills."""
    x = (plane(size, 15) > 0.5).astype(np.float32)
    x[2, 2], x[3, 3] = 1.0 - x[2, 2], x[2, 2]
    for controls in ({"despot_black": 1, "despot_white": 1, "shrink_grow": -1, "softness": 1},
                     {"shrink_grow": 2}, {"despot_white": 2, "softness": 3}):
        params = KeyerParams(**controls)
        ref = keyer_reference.edge_matte(x.astype(np.float64), params)
        assert np.abs(fused_edges.edge_matte(x, params) - ref).max() < 1e-6
        graph = run_graph(lambda g, t: keyer_graph.edge_matte(g, t, params).name, x[None, None])[0, 0]
        assert np.abs(graph - ref).max() < 1e-6
    speck, hole = np.zeros((9, 9), np.float32), np.ones((9, 9), np.float32)
    speck[4, 4], hole[4, 4] = 1.0, 0.0
    assert fused_edges.edge_matte(speck, KeyerParams(despot_white=1)).max() == 0
    assert fused_edges.edge_matte(hole, KeyerParams(despot_black=1)).min() == 1
    assert fused_edges.edge_matte(speck, KeyerParams(despot_black=1)).sum() == 1  # closing keeps a white speck


@pytest.mark.parametrize("size", [(7, 9), (40, 70), (53, 37)])
def test_edge_luma_fused_tiles_match_the_reference(size: tuple[int, int]) -> None:
    """The fused luma line computes only the tiles near both bare screen and solid foreground
    (:func:`models.fused_matte._active_tiles`); the reference computes every pixel. A key of a disc
    (solid), bare screen and noise, with edges crossing tile borders and the frame's edges."""
    h, w = size
    yy, xx = np.mgrid[:h, :w]
    disc = np.clip((min(h, w) * 0.35 - np.hypot(yy - h * 0.45, xx - w * 0.6)) / 3.0, 0.0, 1.0)
    raw = np.clip(disc + plane(size, 4, 0.08) - 0.04, 0.0, 1.0).astype(np.float32)
    guide, plate_guide = plane(size, 5), plane(size, 6, 0.8)
    inv_light = (0.8 + plane(size, 7, 0.4)).astype(np.float32)
    black, hold = 16 / 219, np.zeros((1, 1), np.float32)
    for r in (1, 2, 5):
        params = KeyerParams(edge_luma_radius=r)
        fused = raw.copy()
        fused_matte.edge_luma(fused, guide, plate_guide, inv_light, params, black, 0.03, hold, False)
        ref = keyer_reference.edge_luma(raw.astype(np.float64), guide.astype(np.float64), plate_guide.astype(np.float64),
                                         inv_light.astype(np.float64), params, black, 0.03)
        assert np.abs(fused - ref).max() < 1e-4
        if min(size) > 20:  # (the smallest frame has no solid pixel: only the frame's edges are tested there)
            assert np.abs(ref - raw).max() > 0.05, "the line moved the key somewhere: the test can fail"
    graph = run_graph(lambda g, t: keyer_graph.box_mean(g, kf.solid_weight(t) * t, 2).name, raw[None, None])[0, 0]
    solid = kf.solid_weight(raw.astype(np.float64))
    assert np.abs(graph - keyer_reference.box_mean(solid * raw, 2)).max() < 1e-5
