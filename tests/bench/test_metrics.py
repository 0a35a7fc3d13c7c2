"""Small known cases for tests/bench/metrics.py (RVM's matting metrics plus our composite error)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.bench.metrics import AlphaBias, MattingScores, composite_error, conn, dtssd, gauss_filter, grad, mad, mse


def _square(size: int = 32, lo: int = 8, hi: int = 24) -> np.ndarray:
    alpha = np.zeros((size, size), np.float32)
    alpha[lo:hi, lo:hi] = 1.0
    return alpha


def _step_edge(width: int = 40, ramp: int = 0) -> np.ndarray:
    """(20, width) float32: 0 on the left, 1 on the right, a linear ramp of `ramp` pixels between."""
    x = np.arange(width, dtype=np.float32)
    middle = width / 2
    row = np.clip((x - middle) / ramp + 0.5, 0, 1) if ramp else (x >= middle).astype(np.float32)
    return np.tile(row.astype(np.float32), (20, 1))


def test_identical_mattes_score_zero() -> None:
    rng = np.random.default_rng(3)
    alpha = rng.random((24, 32), dtype=np.float32)
    previous = rng.random((24, 32), dtype=np.float32)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    assert mad(alpha, alpha) == 0.0
    assert mse(alpha, alpha) == 0.0
    assert grad(alpha, alpha) == 0.0
    assert conn(alpha, alpha) == 0.0
    assert dtssd(alpha, previous, alpha, previous) == 0.0
    assert composite_error(rgb, rgb) == 0.0


def test_mad_mse_constant_offset() -> None:
    true = np.full((8, 8), 0.5, np.float32)
    pred = true + np.float32(0.1)
    assert mad(pred, true) == pytest.approx(100.0, rel=1e-5)  # |0.1| x 1e3
    assert mse(pred, true) == pytest.approx(10.0, rel=1e-5)  # 0.1^2 x 1e3
    half = true.copy()
    half[:, :4] += 0.2  # half the pixels off by 0.2
    assert mad(half, true) == pytest.approx(100.0, rel=1e-5)
    assert mse(half, true) == pytest.approx(20.0, rel=1e-5)


def test_gauss_filter_is_rvm_kernel() -> None:
    filter_x, filter_y = gauss_filter(1.4)
    assert filter_x.shape == (9, 9)  # half size ceil(1.4 * sqrt(-2 ln(sqrt(2 pi) 1.4 0.01))) = 4
    assert np.sqrt((filter_x**2).sum()) == pytest.approx(1.0)
    np.testing.assert_array_equal(filter_y, filter_x.T)
    assert filter_x[4, 0] > 0 > filter_x[4, 8]  # -x G(x): positive on the left of the centre
    np.testing.assert_allclose(filter_x[:, 4], 0.0, atol=1e-15)


def test_grad_step_vs_blurred_edge() -> None:
    step, blurred = _step_edge(), _step_edge(ramp=8)
    error = grad(blurred, step)
    assert error > 0
    assert grad(step, blurred) == pytest.approx(error, rel=1e-6)
    assert grad(_step_edge(ramp=2), step) < error  # a sharper prediction is closer


def test_grad_ignores_global_scale() -> None:
    """RVM min-max normalises both mattes, so a matte scaled by 0.5 has the same gradient."""
    blurred = _step_edge(ramp=6)
    assert grad(blurred * np.float32(0.5), blurred) == pytest.approx(0.0, abs=1e-9)
    assert mad(blurred * np.float32(0.5), blurred) > 0


def test_conn_disconnected_blob() -> None:
    true = _square()
    pred = true.copy()
    pred[1:4, 27:30] = 1.0  # a 3x3 blob not connected to the square
    # Outside the square the round-down level is 0; at the blob phi_pred = 1 - 1 = 0 and
    # phi_true = 1, so each blob pixel adds 1: 9 / 1000.
    assert conn(pred, true) == pytest.approx(9 / 1000)
    assert conn(true, true) == 0.0


def test_conn_ignores_faint_blob() -> None:
    true = _square()
    pred = true.copy()
    pred[1:4, 27:30] = 0.1  # faint blob: difference 0.1 < 0.15 is ignored by RVM
    assert conn(pred, true) == 0.0


def test_conn_uses_4_connectivity() -> None:
    true = _square()
    true[24:26, 24:26] = 1.0  # 2x2 blob touching the square's corner only diagonally
    pred = true.copy()
    pred[24:26, 24:26] = 0.12
    # 4-connected: the blob leaves the largest component at t=0.1, level 0; phi_true = 1 - 1 = 0,
    # pred_diff 0.12 < 0.15 so phi_pred = 1: error 1 per pixel (8-connected would give 0.9).
    assert conn(pred, true) == pytest.approx(4 * 1.0 / 1000)


def test_dtssd_same_motion_is_zero() -> None:
    true_tm1, true_t = _square(), np.roll(_square(), 3, axis=1)
    offset = np.float32(0.2) * (np.arange(32, dtype=np.float32)[None, :] / 32)
    # Wrong mattes (MAD > 0) that change between frames exactly as the truth does.
    assert mad(true_t + offset, true_t) > 0
    assert dtssd(true_t + offset, true_tm1 + offset, true_t, true_tm1) == pytest.approx(0.0, abs=1e-6)
    assert dtssd(true_tm1, true_tm1, true_t, true_tm1) > 0  # prediction froze, truth moved


def test_dtssd_2x2_hand_computed() -> None:
    pred_tm1 = np.zeros((2, 2), np.float32)
    true_tm1 = np.zeros((2, 2), np.float32)
    pred_t = np.array([[0.5, 0.5], [0.0, 0.0]], np.float32)
    true_t = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    # differences -0.5, 0.5, 0, 0 -> sum of squares 0.5, / 4 pixels = 0.125, sqrt x 100
    assert dtssd(pred_t, pred_tm1, true_t, true_tm1) == pytest.approx(100 * math.sqrt(0.125), rel=1e-6)


def test_composite_error_known_pair() -> None:
    pred = np.zeros((2, 2, 3), np.uint8)
    true = pred.copy()
    true[..., 1] = 10  # green channel off by 10 levels everywhere: 4 x 10 / 12 values
    assert composite_error(pred, true) == pytest.approx(10 / 3)
    true[0, 0] = 255  # no uint8 wrap-around: 0 vs 255 counts 255
    assert composite_error(pred, true) == pytest.approx((255 * 3 + 3 * 10) / 12)
    assert composite_error(true, pred) == composite_error(pred, true)


def test_scores_average_and_every() -> None:
    true = [_square(), np.roll(_square(), 2, axis=1), np.roll(_square(), 4, axis=1)]
    pred = [a + np.float32(0.1) for a in true]
    pred[1] = _square() * np.float32(0.5) + np.float32(0.1)  # frame 1 differs: Grad must skip it
    rgb = np.zeros((32, 32, 3), np.uint8)
    scores = MattingScores(every=2)
    for p, t in zip(pred, true, strict=True):
        scores.add(p, t, rgb, rgb + 6)
    result = scores.averages()
    assert scores.frames == 3
    assert set(result) == {"MAD", "MSE", "Grad", "Conn", "dtSSD", "Comp"}
    assert result["MAD"] == pytest.approx(np.mean([mad(p, t) for p, t in zip(pred, true, strict=True)]), rel=1e-6)
    assert result["MSE"] == pytest.approx(np.mean([mse(p, t) for p, t in zip(pred, true, strict=True)]), rel=1e-6)
    dt = [0.0, dtssd(pred[1], pred[0], true[1], true[0]), dtssd(pred[2], pred[1], true[2], true[1])]
    assert result["dtSSD"] == pytest.approx(np.mean(dt))  # frame 0 counts as 0, as in RVM
    assert result["Comp"] == pytest.approx(6.0)
    expected_grad = (grad(pred[0], true[0]) + grad(pred[2], true[2])) / 2  # frames 0 and 2 only
    assert result["Grad"] == pytest.approx(expected_grad)
    assert result["Conn"] == pytest.approx((conn(pred[0], true[0]) + conn(pred[2], true[2])) / 2)
    assert grad(pred[1], true[1]) != pytest.approx(expected_grad)  # so skipping frame 1 is visible


def test_scores_dtssd_counts_first_frame_as_zero() -> None:
    frozen, moved = _square(), np.roll(_square(), 3, axis=1)
    scores = MattingScores()
    scores.add(frozen, frozen)
    scores.add(frozen, moved)  # prediction did not move, truth did
    result = scores.averages()
    assert result["dtSSD"] == pytest.approx(dtssd(frozen, frozen, moved, frozen) / 2)
    assert math.isnan(result["Comp"])


def _levels(*values: int) -> np.ndarray:
    """(1, N) float32 alphas of 8-bit levels, as read_truth gives them."""
    return (np.array([values], np.float32) / np.float32(255)).astype(np.float32)


def test_alpha_bias_per_bin_hand_computed() -> None:
    # true levels: 0 and 255 (outside every bin), 20 (0.078, below 0.1), 26 (0.102: bin 0),
    # 51 (0.2 exactly in float32: bin 1, not 0), 90 and 100 (0.35, 0.39: bin 2), 229 (0.898: bin 7), 240 (0.94: out)
    true = _levels(0, 255, 20, 26, 51, 90, 100, 229, 240)
    error = np.float32([0.9, -0.9, 0.5, 0.02, -0.04, 0.10, 0.20, -0.06, 0.7])
    bias = AlphaBias()
    bias.add(true + error, true)
    assert bias.counts.tolist() == [1, 1, 2, 0, 0, 0, 0, 1]
    got = bias.bias()
    np.testing.assert_allclose(got[[0, 1, 2, 7]], [0.02, -0.04, 0.15, -0.06], atol=1e-6)
    assert np.isnan(got[3:7]).all()  # empty bins are NaN, never 0
    assert not bias.within(0.05)  # empty bins cannot pass
    assert AlphaBias.labels()[0] == "[0.1,0.2)" and AlphaBias.labels()[-1] == "[0.8,0.9]"


def test_alpha_bias_sign_and_limit() -> None:
    true = np.tile(np.linspace(0.0, 1.0, 256, dtype=np.float32), (4, 1))
    too_opaque, bias = true + np.float32(0.18), AlphaBias()  # unclipped: bin [0.8,0.9] keeps +0.18
    bias.add(too_opaque, true)
    assert (bias.counts > 0).all()
    np.testing.assert_allclose(bias.bias(), 0.18, atol=1e-6)  # every bin, sign kept (MAD would not show it)
    assert not bias.within(0.05)
    exact = AlphaBias()
    exact.add(true + np.float32(0.049), true)
    assert exact.within(0.05)
    assert not exact.within(0.04)
    flipped = AlphaBias()
    flipped.add(true - np.float32(0.06), true)
    assert not flipped.within(0.05)
    np.testing.assert_allclose(flipped.bias(), -0.06, atol=1e-6)


def test_alpha_bias_pools_by_pixels() -> None:
    true_a, true_b = np.full((2, 5), 0.5, np.float32), np.full((1, 5), 0.55, np.float32)
    a, b = AlphaBias(), AlphaBias()
    a.add(true_a + np.float32(0.1), true_a)  # 10 pixels at +0.1
    b.add(true_b - np.float32(0.2), true_b)  # 5 pixels at -0.2
    pooled = a.merge(b)
    assert pooled.counts[4] == 15
    assert pooled.bias()[4] == pytest.approx((10 * 0.1 - 5 * 0.2) / 15, abs=1e-6)  # not the mean of means
    streamed = AlphaBias()
    streamed.add(true_a + np.float32(0.1), true_a)
    streamed.add(true_b - np.float32(0.2), true_b)  # two frames into one accumulator
    np.testing.assert_allclose(streamed.bias(), pooled.bias(), equal_nan=True)
    assert a.counts[4] == 10  # merge leaves its inputs alone
