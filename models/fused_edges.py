"""The screen matte's edge controls on the CPU (numba): despot, shrink/grow and softness.

The stencils behind :class:`models.keyer_params.KeyerParams`' edge controls,
on the chroma-resolution screen matte before the temporal and guided filters
(the fused matte, :mod:`models.fused_matte`, calls :func:`edge_matte`):
a minimum or maximum over a square window (morphological erosion and dilation:
Serra, "Image Analysis and Mathematical Morphology", 1982) and a box mean,
each over the pixels inside the frame and separable (rows, then columns). The
numpy reference (:func:`models.keyer_reference.edge_matte`) and the graph
(:func:`models.keyer_graph.edge_matte`) compute the same; the parity tests are
in ``tests/models/test_keyer_stencils.py``.
"""

from __future__ import annotations

import numba
import numpy as np

from models.keyer_params import KeyerParams


@numba.njit(cache=True, nogil=True)
def extreme_filter(x: np.ndarray, r: int, grow: bool) -> np.ndarray:
    """Stencil: ``(H, W)`` float32 maximum (``grow``) or minimum over ``(2r+1)^2`` windows of ``x``
    ``(H, W)``, counting only the pixels inside the frame (OpenCV's ``dilate`` / ``erode``, ONNX MaxPool)."""
    h, w = x.shape
    across, out = np.empty_like(x), np.empty_like(x)
    for i in range(h):
        for j in range(w):
            best = x[i, j]
            for jj in range(max(j - r, 0), min(j + r + 1, w)):
                best = max(best, x[i, jj]) if grow else min(best, x[i, jj])
            across[i, j] = best
    for i in range(h):
        for j in range(w):
            best = across[i, j]
            for ii in range(max(i - r, 0), min(i + r + 1, h)):
                best = max(best, across[ii, j]) if grow else min(best, across[ii, j])
            out[i, j] = best
    return out


@numba.njit(cache=True, nogil=True)
def box_filter(x: np.ndarray, r: int) -> np.ndarray:
    """Stencil: ``(H, W)`` float32 mean over ``(2r+1)^2`` windows of ``x`` ``(H, W)``, counting only the
    pixels inside the frame (ONNX AveragePool with ``count_include_pad=0``). Running sums (float64)
    along rows, then columns: the cost does not grow with ``r``."""
    h, w = x.shape
    across, out = np.empty((h, w), np.float64), np.empty_like(x)
    for i in range(h):
        total = 0.0
        for j in range(min(r, w)):
            total += x[i, j]
        for j in range(w):
            if j + r < w:
                total += x[i, j + r]
            if j - r - 1 >= 0:
                total -= x[i, j - r - 1]
            across[i, j] = total / (min(j + r + 1, w) - max(j - r, 0))
    column = np.zeros(w, np.float64)
    for i in range(min(r, h)):
        column += across[i]
    for i in range(h):
        if i + r < h:
            column += across[i + r]
        if i - r - 1 >= 0:
            column -= across[i - r - 1]
        count = min(i + r + 1, h) - max(i - r, 0)
        for j in range(w):
            out[i, j] = np.float32(column[j] / count)
    return out


def edge_matte(raw: np.ndarray, params: KeyerParams) -> np.ndarray:
    """The screen matte's edge controls on ``raw`` ``(Hc, Wc)`` float32 in [0, 1], in Keylight's order
    (despot black, despot white, shrink/grow, softness; :func:`models.keyer_reference.edge_matte`).

    Returns:
        ``(Hc, Wc)`` float32, a new array (``raw`` itself when every control is off).
    """
    if params.despot_black:
        raw = extreme_filter(extreme_filter(raw, params.despot_black, True), params.despot_black, False)
    if params.despot_white:
        raw = extreme_filter(extreme_filter(raw, params.despot_white, False), params.despot_white, True)
    if params.shrink_grow:
        raw = extreme_filter(raw, abs(params.shrink_grow), params.shrink_grow > 0)
    if params.softness:
        raw = box_filter(raw, params.softness)
    return raw
