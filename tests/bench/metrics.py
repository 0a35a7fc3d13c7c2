"""Video matting metrics, as the Robust Video Matting (RVM) evaluation code defines them.

Source followed line by line: repository ``PeterL1n/RobustVideoMatting``, file
``evaluation/evaluate_lr.py`` (commit 17d1774b032fd503bfe53c57d295db719f9e3da1), classes
``MetricMAD``, ``MetricMSE``, ``MetricGRAD``, ``MetricCONN`` and ``MetricDTSSD``. That file is
the numpy/OpenCV version; ``evaluation/evaluate_hr.py`` is a PyTorch port which has no CONN and
whose GRAD skips the min-max normalisation -- we follow the LR file.

Conventions (as in RVM): every alpha is an ``(H, W)`` float32 array in ``[0, 1]`` (RVM reads
8-bit PNGs and divides by 255 before any metric, so all thresholds and scales below are on the
0-1 scale, never 0-255). Scale factors are RVM's, so numbers are comparable with its tables:

- ``MAD``  = mean |pred - true| x 1e3
- ``MSE``  = mean (pred - true)^2 x 1e3
- ``Grad`` = sum over pixels of (|grad true| - |grad pred|)^2 / 1e3, gradients by first-order
  Gaussian-derivative filters (sigma 1.4) on min-max normalised mattes (``cv2.NORM_MINMAX``: a
  constant matte normalises to all zeros, as in RVM)
- ``Conn`` = sum over pixels of |phi_true - phi_pred| / 1e3, with RVM's connectivity map
  (largest 4-connected component of the intersection at thresholds 0.1, 0.2, ... 1.0; only
  differences >= 0.15 count)
- ``dtSSD`` = sqrt(mean(((pred_t - pred_t-1) - (true_t - true_t-1))^2)) x 1e2, from Erofeev et
  al., "Perceptually Motivated Benchmark for Video Matting", BMVC 2015. RVM scores frame 0 as 0
  and averages it in; :class:`MattingScores` does the same.

Grad and Conn are sums, not means: they grow with the frame area (RVM reports them at 512x288
for LR). ``Comp`` (:func:`composite_error`) is ours, not RVM's, and so is :class:`AlphaBias`, the
mean signed error per bin of true alpha (issue 17: a keyer that makes partial alpha too opaque
shows a positive bias there, which MAD over the whole frame hides).
"""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np


def mad(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute difference x 1e3 of two (H, W) float32 alphas in [0, 1] (RVM MetricMAD)."""
    return float(np.abs(pred - true).mean() * 1e3)


def mse(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean squared difference x 1e3 of two (H, W) float32 alphas in [0, 1] (RVM MetricMSE)."""
    return float(((pred - true) ** 2).mean() * 1e3)


def _gaussian(x: np.ndarray | float, sigma: float) -> np.ndarray | float:
    return np.exp(-(x**2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))


def _dgaussian(x: np.ndarray | float, sigma: float) -> np.ndarray | float:
    return -x * _gaussian(x, sigma) / sigma**2


def gauss_filter(sigma: float, epsilon: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """RVM's ``MetricGRAD.gauss_filter``: (filter_x, filter_y), square float64 kernels.

    filter_x[i, j] = G(i - h) * G'(j - h) (Gaussian across, its derivative along x), scaled to
    unit L2 norm; filter_y is its transpose. h = ceil(sigma * sqrt(-2 ln(sqrt(2 pi) sigma eps))),
    so sigma 1.4 gives a 9x9 kernel.
    """
    half = np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * epsilon)))
    offsets = np.arange(int(2 * half + 1), dtype=np.float64) - half
    filter_x = np.outer(_gaussian(offsets, sigma), _dgaussian(offsets, sigma))
    filter_x /= np.sqrt((filter_x**2).sum())
    return filter_x, np.ascontiguousarray(filter_x.T)


def _gauss_gradient(img: np.ndarray, filter_x: np.ndarray, filter_y: np.ndarray) -> np.ndarray:
    """Gradient magnitude (H, W) float32; cv2.filter2D (correlation), replicated border, as RVM."""
    gx = cv2.filter2D(img, -1, filter_x, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(img, -1, filter_y, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx**2 + gy**2)


def grad(pred: np.ndarray, true: np.ndarray, sigma: float = 1.4) -> float:
    """RVM MetricGRAD: gradient error of two (H, W) float32 alphas in [0, 1], a sum / 1e3.

    Each matte is min-max normalised to [0, 1] first (``cv2.normalize(..., 1., 0.,
    NORM_MINMAX)``, so a constant matte becomes all zeros), then filtered with
    :func:`gauss_filter` kernels.
    """
    filter_x, filter_y = gauss_filter(sigma)
    pred_normed = cv2.normalize(pred.astype(np.float32), None, 1.0, 0.0, cv2.NORM_MINMAX)
    true_normed = cv2.normalize(true.astype(np.float32), None, 1.0, 0.0, cv2.NORM_MINMAX)
    true_grad = _gauss_gradient(true_normed, filter_x, filter_y).astype(np.float32)
    pred_grad = _gauss_gradient(pred_normed, filter_x, filter_y).astype(np.float32)
    return float(((true_grad - pred_grad) ** 2).sum() / 1000)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Boolean (H, W): the largest 4-connected component of a uint8 0/1 mask (empty if none)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    sizes = stats[1:, cv2.CC_STAT_AREA]  # row 0 is the background
    if len(sizes) == 0:
        return np.zeros(mask.shape, dtype=bool)
    return labels == int(np.argmax(sizes)) + 1


def conn(pred: np.ndarray, true: np.ndarray, step: float = 0.1) -> float:
    """RVM MetricCONN: connectivity error of two (H, W) float32 alphas in [0, 1], a sum / 1e3.

    For thresholds t_i = step, 2 step, ... 1.0 the largest 4-connected component of
    (true >= t_i) & (pred >= t_i) is found; a pixel's round-down level is the threshold
    t_(i-1) below the first t_i at which it drops out of that component (1 if it never does).
    phi = 1 - (alpha - level) where that difference is >= 0.15, else 1. Slow at 1080p (ten
    connected-component passes).
    """
    thresh_steps = np.arange(0, 1 + step, step)
    round_down_map = -np.ones_like(true)
    for i in range(1, len(thresh_steps)):
        intersection = ((true >= thresh_steps[i]) & (pred >= thresh_steps[i])).astype(np.uint8)
        omega = _largest_component(intersection)
        round_down_map[(round_down_map == -1) & ~omega] = thresh_steps[i - 1]
    round_down_map[round_down_map == -1] = 1
    true_diff = true - round_down_map
    pred_diff = pred - round_down_map
    true_phi = 1 - true_diff * (true_diff >= 0.15)
    pred_phi = 1 - pred_diff * (pred_diff >= 0.15)
    return float(np.sum(np.abs(true_phi - pred_phi)) / 1000)


def dtssd(pred_t: np.ndarray, pred_tm1: np.ndarray, true_t: np.ndarray, true_tm1: np.ndarray) -> float:
    """RVM MetricDTSSD (Erofeev et al., BMVC 2015) x 1e2, for (H, W) float32 alphas in [0, 1].

    sqrt(sum(((pred_t - pred_tm1) - (true_t - true_tm1))^2) / (H * W)) * 100.
    """
    diff = ((pred_t - pred_tm1) - (true_t - true_tm1)) ** 2
    return float(np.sqrt(np.sum(diff) / true_t.size) * 1e2)


def composite_error(pred_rgb: np.ndarray, true_rgb: np.ndarray) -> float:
    """Ours, not RVM's: mean |pred - true| of two (H, W, 3) uint8 RGB composites, in 8-bit levels.

    0 = identical; 255 = every channel of every pixel off by full scale.
    """
    return float(np.abs(pred_rgb.astype(np.int16) - true_rgb.astype(np.int16)).mean())


class MattingScores:
    """Streaming per-clip averages of the metrics above; holds only the previous frame's alphas.

    Feed frames in display order with :meth:`add`; :meth:`averages` gives
    ``{"MAD", "MSE", "Grad", "Conn", "dtSSD", "Comp"}``. ``every``: Grad and Conn are computed
    only on frames 0, every, 2 every, ... (Conn takes ~10 connected-component passes per frame,
    slow at 1080p) and averaged over those frames; the other metrics use every frame. dtSSD
    counts frame 0 as 0, as RVM's evaluation does. A metric with no sample averages to NaN
    (e.g. Comp when composites are always None).
    """

    def __init__(self, every: int = 1) -> None:
        if every < 1:
            raise ValueError("every must be >= 1")
        self.every = every
        self._sums = {name: 0.0 for name in ("MAD", "MSE", "Grad", "Conn", "dtSSD", "Comp")}
        self._counts = dict.fromkeys(self._sums, 0)
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._index = 0

    def _record(self, name: str, value: float) -> None:
        self._sums[name] += value
        self._counts[name] += 1

    def add(
        self,
        pred_alpha: np.ndarray,
        true_alpha: np.ndarray,
        pred_composite: np.ndarray | None = None,
        true_composite: np.ndarray | None = None,
    ) -> None:
        """Score one frame: alphas (H, W) float32 [0, 1]; composites (H, W, 3) uint8 RGB or None."""
        pred = np.asarray(pred_alpha, dtype=np.float32)
        true = np.asarray(true_alpha, dtype=np.float32)
        self._record("MAD", mad(pred, true))
        self._record("MSE", mse(pred, true))
        if self._index % self.every == 0:
            self._record("Grad", grad(pred, true))
            self._record("Conn", conn(pred, true))
        previous = self._previous
        self._record("dtSSD", 0.0 if previous is None else dtssd(pred, previous[0], true, previous[1]))
        if pred_composite is not None and true_composite is not None:
            self._record("Comp", composite_error(pred_composite, true_composite))
        self._previous = (pred, true)
        self._index += 1

    @property
    def frames(self) -> int:
        """Frames added so far."""
        return self._index

    def averages(self) -> dict[str, float]:
        """Mean of each metric over the frames it was computed on (NaN where none)."""
        return {k: self._sums[k] / self._counts[k] if self._counts[k] else math.nan for k in self._sums}


BIAS_EDGES = tuple(round(0.1 * k, 1) for k in range(1, 10))  # 0.1, 0.2, ... 0.9: eight bins
_EDGE_TOLERANCE = 1e-6  # float32 8-bit levels such as 51/255 land on the edge's upper side


class AlphaBias:
    """Streaming mean signed alpha error (estimated - true) per bin of the *true* alpha.

    Bins: [0.1, 0.2), [0.2, 0.3), ... [0.7, 0.8), [0.8, 0.9] (the last one closed); a true alpha
    within 1e-6 of an edge counts as on it (so 51/255 in float32 is 0.2). Pixels whose true alpha
    is below 0.1 or above 0.9 are not counted. Positive bias = too opaque. Sums are float64 and
    per pixel, so :meth:`merge` of several clips gives the pixel-weighted pooled bias.
    """

    def __init__(self) -> None:
        self.sums = np.zeros(len(BIAS_EDGES) - 1, np.float64)
        self.counts = np.zeros(len(BIAS_EDGES) - 1, np.int64)

    @staticmethod
    def labels() -> list[str]:
        """Bin names, e.g. ``[0.1,0.2)`` ... ``[0.8,0.9]``."""
        last = len(BIAS_EDGES) - 2
        return [f"[{lo:.1f},{hi:.1f}{']' if k == last else ')'}" for k, (lo, hi) in enumerate(itertools.pairwise(BIAS_EDGES))]

    def add(self, pred_alpha: np.ndarray, true_alpha: np.ndarray) -> None:
        """Count one frame: alphas (H, W) float in [0, 1]."""
        true = np.asarray(true_alpha, np.float64).ravel()
        lo, hi = BIAS_EDGES[0] - _EDGE_TOLERANCE, BIAS_EDGES[-1] + _EDGE_TOLERANCE
        inside = (true >= lo) & (true <= hi)
        true = true[inside]
        error = np.asarray(pred_alpha, np.float64).ravel()[inside] - true
        index = np.searchsorted(np.float64(BIAS_EDGES) - _EDGE_TOLERANCE, true, side="right") - 1
        index = np.minimum(index, len(self.counts) - 1)  # 0.9 itself closes the last bin
        self.sums += np.bincount(index, weights=error, minlength=len(self.sums))
        self.counts += np.bincount(index, minlength=len(self.counts))

    def merge(self, other: AlphaBias) -> AlphaBias:
        """A new AlphaBias holding both (pooled over pixels)."""
        pooled = AlphaBias()
        pooled.sums, pooled.counts = self.sums + other.sums, self.counts + other.counts
        return pooled

    def bias(self) -> np.ndarray:
        """(8,) float64 mean signed error per bin; NaN where a bin has no pixel."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1), np.nan)

    def within(self, limit: float = 0.05) -> bool:
        """True when every bin has pixels and its bias is within +-limit."""
        return bool(np.all(self.counts > 0) and np.all(np.abs(self.bias()) <= limit))
