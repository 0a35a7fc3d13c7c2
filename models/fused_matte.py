"""The keyer's matte on the CPU, fused into a few passes over memory (numba).

The same steps as the keyer graph's matte (:mod:`models.keyer_graph` gives the
method), with the same per-pixel formulas (:mod:`models.keyer_formulas`, inlined
by numba through :mod:`models.keyer_jit`); only the stencils are written here.
The steps: the colour-difference key divided by a local estimate of the
screen's light, the off-axis and luma-excess floors, the edge's luma line, the holdout matte, the
motion-adaptive temporal filter, and the guided filter whose coefficients
refine the matte with luma. onnxruntime's CPU provider runs each of the graph's operators as its own
pass over a chroma-resolution plane; here each step is one loop that LLVM
vectorises. The graph stays the keyer on CUDA; the tests hold both to the
numpy reference (:mod:`models.keyer_reference`) within one code value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

import models.keyer_formulas as kf
from models.fused_edges import edge_matte
from models.keyer_jit import JIT
from models.keyer_params import LIGHT_EPS, LIGHT_TRUST, KeyerParams

_colour_difference, _light_trust, _light_ratio = JIT["colour_difference"], JIT["light_trust"], JIT["light_ratio"]
_light_blend, _inverse_light_of, _raw_alpha, _held = (
    JIT["light_blend"], JIT["inverse_light"], JIT["raw_alpha"], JIT["held"])
_temporal_step, _guided_coefficients = JIT["temporal_step"], JIT["guided_coefficients"]
_garbage_cut = JIT["garbage_cut"]
_solid_weight, _bare_weight, _luma_line = JIT["solid_weight"], JIT["bare_weight"], JIT["luma_line"]
_SOLID_FROM, _BARE_BELOW = kf.SOLID_FROM, kf.BARE_BELOW
_transparency_coefficients = JIT["transparency_coefficients"]


@dataclass(frozen=True)
class MatteConstants:
    """Per-shot inputs of the fused matte (the keyer graph's constant inputs, as planes).

    Attributes:
        key_scale: ``(Hc, Wc)`` float32 ``gain / ((white - black) d(plate))``.
        screen_maps: ``(4, Hq, Wq)`` float32 at half the chroma resolution (see
            :class:`models.keyer.ScreenInputs`).
        across: ``(2, Hc, Wc)`` float32 the plate's across-weights times
            ``off_axis / (white - black)``.
        form: ``(2,)`` float32 colour difference per centred chroma code value.
        black: luma black on the 0-1 guide scale (``luma_offset / luma_scale``).
        luma_scale: code values per unit of Y'.
        luma_ratio: ``(Hc, Wc)`` float32 the plate's ``Y' / d`` (:class:`models.keyer.ScreenInputs`).
        plate_guide: ``(Hc, Wc)`` float32 the plate's Y' above black, 0-1 scale (:class:`models.keyer.ScreenInputs`).
        line_contrast: the luma gap from which the edge's luma line trusts luma (:class:`models.keyer.ScreenInputs`).
    """

    key_scale: np.ndarray
    screen_maps: np.ndarray
    across: np.ndarray
    form: np.ndarray
    black: float
    luma_scale: float
    luma_ratio: np.ndarray
    plate_guide: np.ndarray
    line_contrast: float


@numba.njit(cache=True, nogil=True, fastmath=True)
def half_means(chroma: np.ndarray, guide: np.ndarray, f0: np.float32, f1: np.float32, out: np.ndarray) -> None:
    """2x2 means (edge blocks: what they hold) of the colour difference, guide, Cb and Cr -> ``out`` (4, Hq, Wq).

    A lone last row is taken twice (which averages the same); a lone last column is averaged alone.
    """
    hc, wc = guide.shape
    centre, quarter = np.float32(128.0), np.float32(0.25)
    for iq in range(out.shape[1]):
        i0, i1 = 2 * iq, min(2 * iq + 1, hc - 1)
        b0, b1, r0, r1, g0, g1 = chroma[0, i0], chroma[0, i1], chroma[1, i0], chroma[1, i1], guide[i0], guide[i1]
        d, y, cb_out, cr_out = out[0, iq], out[1, iq], out[2, iq], out[3, iq]
        for jq in range(wc // 2):  # whole blocks: straight-line code, which vectorises
            j = 2 * jq
            cb = (np.float32(b0[j]) + np.float32(b0[j + 1]) + np.float32(b1[j]) + np.float32(b1[j + 1])) * quarter - centre
            cr = (np.float32(r0[j]) + np.float32(r0[j + 1]) + np.float32(r1[j]) + np.float32(r1[j + 1])) * quarter - centre
            d[jq], y[jq], cb_out[jq], cr_out[jq] = _colour_difference(cb, cr, f0, f1), (g0[j] + g0[j + 1] + g1[j] + g1[j + 1]) * quarter, cb, cr
        if wc % 2:  # a lone last column
            jq, j = wc // 2, wc - 1
            cb = (np.float32(b0[j]) + np.float32(b1[j])) * np.float32(0.5) - centre
            cr = (np.float32(r0[j]) + np.float32(r1[j])) * np.float32(0.5) - centre
            d[jq], y[jq], cb_out[jq], cr_out[jq] = _colour_difference(cb, cr, f0, f1), (g0[j] + g1[j]) * np.float32(0.5), cb, cr


@numba.njit(cache=True, nogil=True, fastmath=True)
def _inverse_light(half: np.ndarray, maps: np.ndarray, black: np.float32, inv_luma_tol: np.float32,
                   inv_hue_tol: np.float32, cell: int, radius: int, reach: int) -> np.ndarray:
    """The reciprocal of the screen's light on the block grid, ``(Hw, Ww)`` float32 (the graph's ``_inverse_light``):
    trusted light ratios averaged over ``cell x cell`` blocks (a block cut by the edge averages what it
    holds), then over windows of blocks (zero outside)."""
    hq, wq = half.shape[1], half.shape[2]
    hw, ww = (hq + cell - 1) // cell, (wq + cell - 1) // cell
    num, den, count = np.zeros((hw, ww), np.float32), np.zeros((hw, ww), np.float32), np.zeros((hw, ww), np.float32)
    for iq in range(hq):
        for jq in range(wq):
            weighted, trust = _light_trust(half[0, iq, jq], half[1, iq, jq], half[2, iq, jq], half[3, iq, jq],
                                           maps[0, iq, jq], maps[1, iq, jq], maps[2, iq, jq], maps[3, iq, jq],
                                           black, inv_luma_tol, inv_hue_tol)
            num[iq // cell, jq // cell] += weighted
            den[iq // cell, jq // cell] += trust
            count[iq // cell, jq // cell] += np.float32(1.0)
    num /= count
    den /= count
    eps, inv_trust = np.float32(LIGHT_EPS), np.float32(1.0 / LIGHT_TRUST)
    near_num, near_den = zero_box_mean(num, radius), zero_box_mean(den, radius)
    far_num, far_den = (zero_box_mean(num, reach), zero_box_mean(den, reach)) if reach > 0 else (near_num, near_den)
    out = np.empty((hw, ww), np.float32)
    for i in range(hw):
        for j in range(ww):
            light = _light_ratio(near_num[i, j], near_den[i, j], eps)
            if reach > 0:  # little trusted screen in the window: the light of the wider one
                light = _light_blend(light, _light_ratio(far_num[i, j], far_den[i, j], eps), near_den[i, j], inv_trust)
            out[i, j] = _inverse_light_of(light)
    return out


@numba.njit(cache=True, nogil=True)
def zero_box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Stencil: ``(H, W)`` float32 sums over ``(2r+1)^2`` windows, zero outside, over ``(2r+1)^2``
    (ONNX AveragePool with ``count_include_pad=1``); ``x`` itself when ``r`` is 0."""
    if r == 0:
        return x
    h, w = x.shape
    out = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            total = np.float32(0.0)
            for ii in range(max(i - r, 0), min(i + r + 1, h)):
                for jj in range(max(j - r, 0), min(j + r + 1, w)):
                    total += x[ii, jj]
            out[i, j] = total / np.float32((2 * r + 1) ** 2)
    return out


@numba.njit(cache=True, nogil=True)
def linear_taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear resize taps with half-pixel centres, clamped at the edges (ONNX Resize ``half_pixel``)."""
    lo, hi, frac = np.empty(size_out, np.int64), np.empty(size_out, np.int64), np.empty(size_out, np.float32)
    scale = size_in / size_out
    for o in range(size_out):
        x = min(max((o + 0.5) * scale - 0.5, 0.0), size_in - 1.0)
        lo[o] = int(x)
        hi[o] = min(lo[o] + 1, size_in - 1)
        frac[o] = np.float32(x - lo[o])
    return lo, hi, frac


@numba.njit(cache=True, nogil=True, fastmath=True)
def resize_linear(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """Stencil: ``(h, w)`` float32 bilinear resize of ``x`` ``(H, W)``, half-pixel centres, edges clamped
    (ONNX Resize ``linear``, ``cv2.INTER_LINEAR``)."""
    rows, cols = linear_taps(x.shape[0], h), linear_taps(x.shape[1], w)
    out = np.empty((h, w), np.float32)
    for i in range(h):
        top, bottom, fy, target = x[rows[0][i]], x[rows[1][i]], rows[2][i], out[i]
        for j in range(w):
            a = top[cols[0][j]] + cols[2][j] * (top[cols[1][j]] - top[cols[0][j]])
            b = bottom[cols[0][j]] + cols[2][j] * (bottom[cols[1][j]] - bottom[cols[0][j]])
            target[j] = a + fy * (b - a)
    return out


@numba.njit(cache=True, nogil=True, fastmath=True)
def _raw_matte(chroma: np.ndarray, guide: np.ndarray, inv_light: np.ndarray, key_scale: np.ndarray,
               across: np.ndarray, f0: np.float32, f1: np.float32, offset: np.float32, off_axis: bool,
               across_floor: np.float32, luma_ratio: np.ndarray, black: np.float32, luma_excess: bool,
               excess_scale: np.float32, excess_floor: np.float32, hold: np.ndarray, with_hold: bool,
               out: np.ndarray) -> None:
    """The clipped key with the off-axis and luma-excess floors and the holdout matte, ``out`` (Hc, Wc),
    given the light's reciprocal at chroma resolution ``inv_light`` (Hc, Wc)."""
    hc, wc = guide.shape
    for i in range(hc):
        for j in range(wc):
            cb = np.float32(chroma[0, i, j]) - np.float32(128.0)
            cr = np.float32(chroma[1, i, j]) - np.float32(128.0)
            raw = _raw_alpha(cb, cr, guide[i, j], inv_light[i, j], key_scale[i, j], f0, f1, offset, off_axis,
                             across[0, i, j], across[1, i, j], across_floor, luma_excess, black, luma_ratio[i, j],
                             excess_scale, excess_floor)
            out[i, j] = _held(raw, hold[i, j]) if with_hold else raw


LINE_TILE = 16
"""Side, in matte pixels, of the tiles the fused luma line skips where it cannot act (larger than the
largest ``edge_luma_radius``, so a window reaches at most the next tile)."""


@numba.njit(cache=True, nogil=True, fastmath=True)
def _active_tiles(raw: np.ndarray, tile: int) -> np.ndarray:
    """``(Th, Tw)`` bool: the tiles of the key ``raw`` (Hc, Wc) within one tile of both a bare pixel
    (weight above 0: raw below ``BARE_BELOW``) and a solid one (raw above ``SOLID_FROM``); elsewhere a
    window holds no bare or no solid pixel, and :func:`models.keyer_formulas.luma_line` keeps the key."""
    h, w = raw.shape
    th, tw = (h + tile - 1) // tile, (w + tile - 1) // tile
    low, high = np.ones((th, tw), np.float32), np.zeros((th, tw), np.float32)
    for i in range(h):
        row, ti = raw[i], i // tile
        for tj in range(tw):
            least, most = low[ti, tj], high[ti, tj]
            for j in range(tj * tile, min((tj + 1) * tile, w)):
                least, most = min(least, row[j]), max(most, row[j])
            low[ti, tj], high[ti, tj] = least, most
    active = np.zeros((th, tw), np.bool_)
    for ti in range(th):
        for tj in range(tw):
            near_low, near_high = np.float32(1.0), np.float32(0.0)
            for a in range(max(ti - 1, 0), min(ti + 2, th)):
                for b in range(max(tj - 1, 0), min(tj + 2, tw)):
                    near_low, near_high = min(near_low, low[a, b]), max(near_high, high[a, b])
            active[ti, tj] = near_low < _BARE_BELOW and near_high > _SOLID_FROM
    return active


@numba.njit(cache=True, nogil=True, fastmath=True)
def _edge_weights(raw: np.ndarray, guide: np.ndarray, out: np.ndarray) -> None:
    """``out`` (3, Hc, Wc): the solid weight times the guide, the solid weight and the bare weight of
    the key ``raw`` (:func:`models.keyer_formulas.solid_weight`, :func:`models.keyer_formulas.bare_weight`)."""
    for i in range(raw.shape[0]):
        for j in range(raw.shape[1]):
            solid = _solid_weight(raw[i, j])
            out[0, i, j], out[1, i, j], out[2, i, j] = solid * guide[i, j], solid, _bare_weight(raw[i, j])


@numba.njit(cache=True, nogil=True, fastmath=True)
def _line_matte(raw: np.ndarray, guide: np.ndarray, plate_guide: np.ndarray, inv_light: np.ndarray, black: np.float32,
                strength: np.float32, contrast: np.float32, r: int, tile: int) -> None:
    """The key ``raw`` (Hc, Wc) after the edge's luma line (:func:`models.keyer_formulas.luma_line`), in
    place: in the tiles :func:`_active_tiles` finds, each pixel's window means of the weights
    (:func:`_edge_weights`, taken from the key before any change) over the pixels inside the frame,
    summed across the rows the tile's windows reach, then down; elsewhere the key as it is (with no
    tile active, nothing is computed)."""
    h, w = raw.shape
    active = _active_tiles(raw, tile)
    if not active.any():
        return
    weights = np.empty((3, h, w), np.float32)
    _edge_weights(raw, guide, weights)
    across = np.empty((3, tile + 2 * r, tile), np.float32)
    for ti in range(active.shape[0]):
        for tj in range(active.shape[1]):
            if not active[ti, tj]:
                continue
            i0, i1, j0, j1 = ti * tile, min((ti + 1) * tile, h), tj * tile, min((tj + 1) * tile, w)
            top = max(i0 - r, 0)
            for ii in range(top, min(i1 + r, h)):  # sums across, for every row a window of the tile reaches
                for j in range(j0, j1):
                    a, b = max(j - r, 0), min(j + r + 1, w)
                    solid_luma, solid, bare = np.float32(0.0), np.float32(0.0), np.float32(0.0)
                    for jj in range(a, b):
                        solid_luma += weights[0, ii, jj]
                        solid += weights[1, ii, jj]
                        bare += weights[2, ii, jj]
                    across[0, ii - top, j - j0], across[1, ii - top, j - j0], across[2, ii - top, j - j0] = (
                        solid_luma, solid, bare)
            for i in range(i0, i1):
                a, b = max(i - r, 0), min(i + r + 1, h)
                for j in range(j0, j1):
                    inv_count = np.float32(1.0) / np.float32((b - a) * (min(j + r + 1, w) - max(j - r, 0)))
                    solid_luma, solid, bare = np.float32(0.0), np.float32(0.0), np.float32(0.0)
                    for ii in range(a - top, b - top):
                        solid_luma += across[0, ii, j - j0]
                        solid += across[1, ii, j - j0]
                        bare += across[2, ii, j - j0]
                    raw[i, j] = _luma_line(raw[i, j], guide[i, j], solid_luma * inv_count, solid * inv_count,
                                           bare * inv_count, plate_guide[i, j], inv_light[i, j], black, strength,
                                           contrast)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _hold_matte(raw: np.ndarray, hold: np.ndarray) -> None:
    """The key ``raw`` (Hc, Wc) raised in place to the holdout matte ``hold`` (:func:`models.keyer_formulas.held`)."""
    for i in range(raw.shape[0]):
        for j in range(raw.shape[1]):
            raw[i, j] = _held(raw[i, j], hold[i, j])


def edge_luma(raw: np.ndarray, guide: np.ndarray, plate_guide: np.ndarray, inv_light: np.ndarray, params: KeyerParams,
              black: float, contrast: float, hold: np.ndarray, with_hold: bool) -> None:
    """The key ``raw`` (Hc, Wc) float32 moved in place toward luma's alpha at edges, then raised to the
    holdout matte ``hold`` (Hc, Wc) when ``with_hold`` (:func:`models.keyer_reference.edge_luma`).

    Only tiles near both bare screen and solid foreground are computed (:func:`_active_tiles`):
    on a 1080p frame of the benchmark's actor 0.5 ms, against 5 ms for dense box means of the
    three weight planes (most of a frame is screen or foreground alone)."""
    _line_matte(raw, guide, plate_guide, inv_light, np.float32(black), np.float32(params.edge_luma),
                np.float32(contrast), params.edge_luma_radius, LINE_TILE)
    if with_hold:
        _hold_matte(raw, hold)


@numba.njit(cache=True, nogil=True, fastmath=True)
def temporal_filter(raw: np.ndarray, guide: np.ndarray, state_alpha: np.ndarray, state_luma: np.ndarray, valid: np.float32,
              minimum: np.float32, inv_threshold: np.float32) -> None:
    """The motion-adaptive filter in place: ``raw`` becomes the filtered matte; the state takes this frame."""
    for i in range(raw.shape[0]):
        for j in range(raw.shape[1]):
            filtered = _temporal_step(raw[i, j], guide[i, j], state_alpha[i, j], state_luma[i, j], valid, minimum,
                                      inv_threshold)
            raw[i, j] = filtered
            state_alpha[i, j] = filtered
            state_luma[i, j] = guide[i, j]


@numba.njit(cache=True, nogil=True, fastmath=True)
def limit_matte(alpha: np.ndarray, garbage: np.ndarray, core: np.ndarray, with_garbage: bool, with_core: bool) -> None:
    """The garbage and core mattes in place on the filtered matte ``alpha`` (Hc, Wc): raised to
    ``core`` (:func:`models.keyer_formulas.held`), then cut to ``garbage``
    (:func:`models.keyer_formulas.garbage_cut`); each ``(Hc, Wc)`` float32 in [0, 1]."""
    for i in range(alpha.shape[0]):
        for j in range(alpha.shape[1]):
            value = alpha[i, j]
            if with_core:
                value = _held(value, core[i, j])
            if with_garbage:
                value = _garbage_cut(value, garbage[i, j])
            alpha[i, j] = value


@numba.njit(cache=True, nogil=True, fastmath=True)
def _row_sums(source: np.ndarray, r: int, target: np.ndarray) -> None:
    """Sums over ``[j - r, j + r]`` (inside the row) of one row: shifted whole-row adds, which vectorise."""
    w = source.shape[0]
    if r == 1 and w > 1:  # the default radius: three taps, straight-line
        target[0], target[w - 1] = source[0] + source[1], source[w - 2] + source[w - 1]
        for j in range(1, w - 1):
            target[j] = source[j - 1] + source[j] + source[j + 1]
        return
    for j in range(w):
        target[j] = source[j]
    for d in range(1, r + 1):
        for j in range(w - d):
            target[j] += source[j + d]
        for j in range(d, w):
            target[j] += source[j - d]


@numba.njit(cache=True, nogil=True, fastmath=True)
def _slide_moments(column_sums: np.ndarray, guide: np.ndarray, alpha: np.ndarray, row: int, sign: np.float32) -> None:
    """Add (``sign`` 1) or take away (-1) row ``row``'s guide, alpha, their product and the guide's
    square to the running column sums ``(4, W)``."""
    g, p = guide[row], alpha[row]
    s0, s1, s2, s3 = column_sums[0], column_sums[1], column_sums[2], column_sums[3]
    for j in range(g.shape[0]):
        s0[j] += sign * g[j]
        s1[j] += sign * p[j]
        s2[j] += sign * (g[j] * p[j])
        s3[j] += sign * (g[j] * g[j])


@numba.njit(cache=True, nogil=True, fastmath=True)
def _slide_rows(column_sums: np.ndarray, rows: np.ndarray, sign: np.float32) -> None:
    """Add (``sign`` 1) or take away (-1) the ``(C, W)`` rows to the running column sums ``(C, W)``."""
    for q in range(rows.shape[0]):
        target, source = column_sums[q], rows[q]
        for j in range(target.shape[0]):
            target[j] += sign * source[j]


@numba.njit(cache=True, nogil=True, fastmath=True)
def _coefficient_row(window: np.ndarray, scale: np.ndarray, eps: np.float32, out: np.ndarray) -> None:
    """The guided filter's ``a``, ``b`` of one row ``out`` (2, W) from its window sums ``(4, W)``
    (guide, alpha, product, square) and the reciprocal window sizes ``scale`` (W,)."""
    for j in range(out.shape[1]):
        out[0, j], out[1, j] = _guided_coefficients(window[0, j] * scale[j], window[1, j] * scale[j],
                                                    window[2, j] * scale[j], window[3, j] * scale[j], eps)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _transparency_row(window: np.ndarray, scale: np.ndarray, luma_scale: np.float32, transp_a: np.ndarray,
                      transp_b: np.ndarray) -> None:
    """One row of ``1 - alpha = transp_a Y' + transp_b`` from the window sums ``(2, W)`` of ``a``, ``b``."""
    per_code = np.float32(1.0) / luma_scale
    for j in range(transp_a.shape[0]):
        transp_a[j], transp_b[j] = _transparency_coefficients(window[0, j] * scale[j], window[1, j] * scale[j], per_code)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _window_sizes(row: int, r: int, h: int, cols: np.ndarray, scale: np.ndarray) -> None:
    """``scale`` (W,): the reciprocal pixel counts of row ``row``'s windows inside an ``h``-row frame,
    given each column's count across, ``cols`` (W,)."""
    rows = np.float32(min(row + r + 1, h) - max(row - r, 0))
    for j in range(scale.shape[0]):
        scale[j] = np.float32(1.0) / (rows * cols[j])


@numba.njit(cache=True, nogil=True, fastmath=True)
def guided_transparency(guide: np.ndarray, alpha: np.ndarray, r: int, eps: np.float32, luma_scale: np.float32,
            transp_a: np.ndarray, transp_b: np.ndarray) -> None:
    """Guided filter (He et al., "Guided Image Filtering", TPAMI 2013) coefficients of
    ``1 - alpha = transp_a Y' + transp_b``: box means over ``(2r+1)^2`` windows counting
    the pixels inside the frame, as the graph's AveragePool.

    One pass down the plane: running column sums over the window's rows (the row
    entering is added, the row leaving taken away), each row summed across by
    :func:`_row_sums`; the second box (over ``a``, ``b``) follows ``r`` rows
    behind the first and keeps the rows it still needs in a ring of ``2r+2``,
    so no full plane of coefficients is written or read back (1080p: 9.6 -> 4.3
    ms per frame on the benchmark machine against two ring-buffered passes).
    """
    h, w = guide.shape
    one = np.float32(1.0)
    cols = np.empty(w, np.float32)  # pixels of each column's window inside the frame
    for j in range(w):
        cols[j] = np.float32(min(j + r + 1, w) - max(j - r, 0))
    k = 2 * r + 2
    moments, coefficient_sums = np.zeros((4, w), np.float32), np.zeros((2, w), np.float32)
    window, scale, ring = np.empty((4, w), np.float32), np.empty(w, np.float32), np.empty((k, 2, w), np.float32)
    for row in range(min(r, h)):
        _slide_moments(moments, guide, alpha, row, one)
    for o in range(h + r):
        if o < h:  # a, b of row o
            if o + r < h:
                _slide_moments(moments, guide, alpha, o + r, one)
            if o - r - 1 >= 0:
                _slide_moments(moments, guide, alpha, o - r - 1, -one)
            for q in range(4):
                _row_sums(moments[q], r, window[q])
            _window_sizes(o, r, h, cols, scale)
            _coefficient_row(window, scale, eps, ring[o % k])
            if o < r:
                _slide_rows(coefficient_sums, ring[o % k], one)
        u = o - r
        if u >= 0:  # output row u: the box over rows [u - r, u + r] of a, b
            if u + r < h:
                _slide_rows(coefficient_sums, ring[(u + r) % k], one)
            if u - r - 1 >= 0:
                _slide_rows(coefficient_sums, ring[(u - r - 1) % k], -one)
            for q in range(2):
                _row_sums(coefficient_sums[q], r, window[q])
            _window_sizes(u, r, h, cols, scale)
            _transparency_row(window, scale, luma_scale, transp_a[u], transp_b[u])


def fused_matte(
    chroma: np.ndarray, guide: np.ndarray, hold: np.ndarray | None, constants: MatteConstants, params: KeyerParams,
    state: tuple[np.ndarray, np.ndarray, np.ndarray], garbage: np.ndarray | None = None, core: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Key a batch of consecutive frames to the guided filter's coefficients.

    Args:
        chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr.
        guide: ``(N, 1, Hc, Wc)`` float32 luma at chroma resolution, 0-1 scale
            (:func:`models.fused_composite.luma_guide`).
        hold: ``(N, Hc, Wc)`` float32 holdout matte in [0, 1], or None.
        constants: the shot's planes and colour constants.
        params: keyer controls.
        state: ``(alpha (1, Hc, Wc), luma (1, Hc, Wc), valid (1,))`` float32, the
            temporal filter's state after the frame before ``chroma[0]``.
        garbage, core: ``(N, Hc, Wc)`` float32 garbage and core mattes in [0, 1], or None:
            applied after the temporal filter (:func:`limit_matte`), so the state never holds
            them and a moving roto shape over still luma does not lag.

    Returns:
        ``transp_a``, ``transp_b`` ``(N, 1, Hc, Wc)`` float32 with
        ``1 - alpha = transp_a Y' + transp_b`` (Y' in code values), and the state
        after the last frame (unchanged when the temporal filter is off).
    """
    n, _, hc, wc = chroma.shape
    transp_a, transp_b = np.empty((n, 1, hc, wc), np.float32), np.empty((n, 1, hc, wc), np.float32)
    alpha_state, luma_state, valid = state[0][0].copy(), state[1][0].copy(), float(state[2][0])
    f0, f1 = np.float32(constants.form[0]), np.float32(constants.form[1])
    width = params.clip_white - params.clip_black
    offset = np.float32((1.0 - params.clip_black) / width)
    half = np.empty((4, (hc + 1) // 2, (wc + 1) // 2), np.float32)
    raw = np.empty((hc, wc), np.float32)
    no_hold = np.zeros((1, 1), np.float32)
    temporal, line = params.temporal_min < 1.0, params.edge_luma > 0
    excess_scale, excess_floor = np.float32(params.luma_excess / width), np.float32(params.luma_excess_black / width)
    for f in range(n):
        frame, g = np.ascontiguousarray(chroma[f]), guide[f, 0]
        half_means(frame, g, f0, f1, half)
        inv_light = _inverse_light(half, constants.screen_maps, np.float32(constants.black),
                                   np.float32(1.0 / params.light_luma_tolerance), np.float32(1.0 / params.light_hue_tolerance),
                                   params.light_block // 2, params.light_radius, params.light_reach)
        inv_light = resize_linear(inv_light, hc, wc)
        held_now = no_hold if hold is None else hold[f]  # after the edge's luma line when it is on
        _raw_matte(frame, g, inv_light, constants.key_scale, constants.across, f0, f1, offset, params.off_axis > 0,
                   np.float32(params.off_axis_black / width), constants.luma_ratio, np.float32(constants.black),
                   params.luma_excess > 0, excess_scale, excess_floor, held_now, hold is not None and not line, raw)
        if line:
            edge_luma(raw, g, constants.plate_guide, inv_light, params, constants.black, constants.line_contrast, held_now,
                      hold is not None)
        if params.edge_matte:  # despot, shrink/grow, softness (models.fused_edges)
            raw[:] = edge_matte(raw, params)
        if temporal:
            temporal_filter(raw, g, alpha_state, luma_state, np.float32(valid), np.float32(params.temporal_min),
                      np.float32(1.0 / params.motion_threshold))
            valid = 1.0
        if garbage is not None or core is not None:
            limit_matte(raw, no_hold if garbage is None else garbage[f], no_hold if core is None else core[f],
                        garbage is not None, core is not None)
        guided_transparency(g, raw, params.guide_radius, np.float32(params.guide_eps), np.float32(constants.luma_scale),
                transp_a[f, 0], transp_b[f, 0])
    if not temporal:
        return transp_a, transp_b, state
    return transp_a, transp_b, (alpha_state[None], luma_state[None], np.array([valid], np.float32))
