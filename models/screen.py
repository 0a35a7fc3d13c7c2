"""Screen analysis: the screen colour and the clean plate, estimated from sampled frames.

Real screens are unevenly lit (gradients, darker corners, cloth folds), so the
keyer compares each pixel with a *clean plate*: the screen colour as it varies
across the frame. The analysis runs once per job over frames sampled across
the whole shot; its result is stored in the job plan and handed to every
chunk, so all chunks key identically.

Method: (1) find the screen hue as the peak of a saturation-weighted hue
histogram (restricted to the hinted family for ``green``/``blue``); (2) in
each sampled frame mark pixels of that hue whose colour difference is close to
the screen's and whose luma is in proportion to it (eroded, so edges and
motion blur do not leak in); (3) take the
per-pixel median over the frames where a pixel was screen, which is robust to
an actor who moves (each pixel is screen in some frames); (4) fill pixels that
were never screen (behind a static actor) by normalised convolution at
growing scales (Knutsson & Westin, CVPR 1993), then smooth lightly.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from models.border import NO_BORDER, Border, fill_rgb, find_blanking
from models.colour import REC709_LUMA, hex_to_rgb, rgb_to_hex, screen_weights
from models.errors import InputError

ANALYSIS_WIDTH = 320
"""Frames are analysed at this width (aspect kept); the plate is stored at it."""

SCREEN_HUE_COSINE = 0.95
"""Least cosine between a pixel's chroma direction and the screen's for the pixel to count as bare
screen (18 degrees). Light changes a screen's brightness, not its hue; a looser 0.85 took a
semi-transparent veil tinted by spill for screen and baked it into the clean plate (MAD on the
yellow-green benchmark clip 15.1 -> 9.0 with the tighter bound; real clips lose under 0.3 % of
their screen pixels)."""

SCREEN_LIFT_SPREAD = 4.0
SCREEN_LIFT_FLOOR = 1.25
"""Bounds on a bare-screen pixel's *lift*: its luma ratio to the screen colour's over its
colour-difference ratio. Light scales a screen's luma and colour difference alike, so on bare
screen, lit or shaded, the lift is about 1: CREMA-D 0.99-1.03 from the 25th to the 75th
percentile; the GRID backdrop, whose hue drifts, 0.75-1.02 and 0.96-1.47. A pale foreground mixed
with the screen (a veil carrying spill, seen through as screen-hued) raises luma more than colour
difference: 1.4 for a 40 % ivory veil on CREMA-D's screen, up to 3.3 on the benchmark's dark blue
screen. A pixel counts as screen only below ``max(SCREEN_LIFT_FLOOR, median + SCREEN_LIFT_SPREAD *
IQR)`` of the shot's lifts over its screen-hued pixels (quartiles, so a veil that covers a tenth
of the screen does not move the bound). Without it a veil that stayed in one place was baked into
the clean plate and keyed away: MAD on the benchmark's blue clip 7.70 -> 5.86, on its hard clip
17.90 -> 16.56 with it. CREMA-D loses 0.8 % of its screen-hued pixels, GRID 0.04 %."""

NOISE_ROW_STEP = 8
""":func:`screen_luma_noise` measures every this many rows of each frame: all rows of a job's 24
analysis frames at 1080p took 1.7 s of a 2 s analysis, every 8th row 0.1 s, with the same deviation
within 3 % on the benchmark's clips and within 0.05 code values on GRID's and CREMA-D's clean screens."""
NOISE_KEEP = 0.95
NOISE_TRUNCATED_MEAN = 0.7169
""":func:`screen_luma_noise` averages the smallest ``NOISE_KEEP`` of the absolute differences; for
normal noise of deviation ``s`` that mean is ``NOISE_TRUNCATED_MEAN s`` (the half-normal below its
95th percentile, z = 1.96: ``sqrt(2 / pi) (1 - exp(-z^2 / 2)) / 0.95``). A mean, unlike the median,
does not jump between the few values 8-bit frames of a clean screen take (the median of every 8th
row against every row: 0.30 against 0.385 code values on CREMA-D)."""
NOISE_UNMEASURED = 0.002
"""The luma noise (0-1 scale) taken for an analysis stored before the noise was measured: the one
at which the edge's luma line trusts luma as it did then (:func:`models.keyer_formulas.line_contrast`
gives 0.04)."""

# OpenCV hue (0-180) ranges of the screen families a user can name.
HUE_FAMILIES: dict[str, tuple[int, int]] = {"green": (30, 90), "blue": (85, 135), "auto": (0, 180)}


@dataclass(frozen=True)
class ScreenAnalysis:
    """What the keyer needs to know about the screen of one shot.

    Attributes:
        screen_rgb: ``(3,)`` float32, the typical screen colour, RGB in [0, 1].
        clean_plate: ``(h, w, 3)`` float32 RGB in [0, 1], the screen colour
            at every position, at analysis resolution (upsampled by the keyer).
        screen_fraction: share of sampled pixels that were screen, [0, 1].
        border: blanking lines ``(top, bottom, left, right)`` in pixels, which the
            keyer fills with the picture line beside them (:mod:`models.border`).
        luma_noise: the standard deviation of the bare screen's luma from pixel to pixel,
            0-1 scale of Y' (one 8-bit code value is 1/219; :func:`screen_luma_noise`).
    """

    screen_rgb: np.ndarray
    clean_plate: np.ndarray
    screen_fraction: float
    border: Border = NO_BORDER
    luma_noise: float = NOISE_UNMEASURED

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the plate as base64 of a float16 ``.npy``)."""
        buffer = io.BytesIO()
        np.save(buffer, self.clean_plate.astype(np.float16), allow_pickle=False)
        return {
            "screen_colour": rgb_to_hex(self.screen_rgb),
            "screen_rgb": [float(c) for c in self.screen_rgb],
            "screen_fraction": round(float(self.screen_fraction), 4),
            "clean_plate_npy_b64": base64.b64encode(buffer.getvalue()).decode("ascii"),
            "border": list(self.border),
            "luma_noise": round(float(self.luma_noise), 6),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ScreenAnalysis":
        """Inverse of :meth:`to_dict` (a plan stored before borders were found has none; one stored
        before the noise was measured takes :data:`NOISE_UNMEASURED`)."""
        raw = base64.b64decode(data["clean_plate_npy_b64"])
        plate = np.load(io.BytesIO(raw), allow_pickle=False).astype(np.float32)
        top, bottom, left, right = (int(n) for n in data.get("border", NO_BORDER))
        return cls(np.asarray(data["screen_rgb"], np.float32), plate, float(data["screen_fraction"]),
                   (top, bottom, left, right), float(data.get("luma_noise", NOISE_UNMEASURED)))


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """``(w, h)`` of the analysis resolution for a frame of ``width`` x ``height``."""
    w = min(ANALYSIS_WIDTH, width)
    return w, max(1, round(height * w / width))


def _screen_colour(small: list[np.ndarray], family: str) -> np.ndarray:
    """Median RGB of the pixels at the peak hue of the given family, ``(3,)`` float32."""
    hsv = np.concatenate([cv2.cvtColor(f, cv2.COLOR_RGB2HSV).reshape(-1, 3) for f in small])
    rgb = np.concatenate([f.reshape(-1, 3) for f in small])
    lo, hi = HUE_FAMILIES[family]
    sat, val, hue = hsv[:, 1].astype(np.float32), hsv[:, 2], hsv[:, 0]
    candidates = (sat > 60) & (val > 40) & (hue >= lo) & (hue < hi)
    if candidates.mean() < 0.02:
        raise InputError(
            f"no {family if family != 'auto' else 'coloured'} screen found in the sampled frames",
            "pass the screen colour with --screen #RRGGBB (or --screen green/blue)",
        )
    hist = np.bincount(hue[candidates], weights=sat[candidates], minlength=180)
    hist = np.convolve(np.concatenate([hist[-3:], hist, hist[:3]]), np.ones(7), mode="valid")
    peak = int(np.argmax(hist))
    near = candidates & (np.abs(((hue.astype(np.int16) - peak + 90) % 180) - 90) <= 10)
    return np.median(rgb[near], axis=0).astype(np.float32) / 255.0


def _screen_candidates(frame: np.ndarray, screen_rgb: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of one small frame with enough colour difference and the screen's hue
    (:data:`SCREEN_HUE_COSINE`), ``(h, w)`` bool, and every pixel's lift (:data:`SCREEN_LIFT_FLOOR`),
    ``(h, w)`` float32."""
    rgb = frame.astype(np.float32) / 255.0
    ratio = (rgb @ weights) / max(float(screen_rgb @ weights), 1e-3)
    chroma = rgb - rgb.mean(axis=2, keepdims=True)
    ref = screen_rgb - screen_rgb.mean()
    cosine = (chroma @ ref) / (np.linalg.norm(chroma, axis=2) * np.linalg.norm(ref) + 1e-6)
    lift = (rgb @ REC709_LUMA) / max(float(screen_rgb @ REC709_LUMA), 1e-3) / np.maximum(ratio, 1e-3)
    return (ratio > 0.45) & (cosine > SCREEN_HUE_COSINE), lift


def _screen_masks(small: list[np.ndarray], screen_rgb: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(F, h, w)`` bool: pixels of the small frames that are clearly bare screen: candidates
    whose lift is within the shot's bound (:data:`SCREEN_LIFT_FLOOR`), eroded so that edges and
    motion blur do not leak in."""
    found = [_screen_candidates(f, screen_rgb, weights) for f in small]
    lifts = np.concatenate([lift[candidate] for candidate, lift in found])
    bound = SCREEN_LIFT_FLOOR
    if lifts.size:
        q1, median, q3 = np.percentile(lifts, [25, 50, 75])
        bound = max(SCREEN_LIFT_FLOOR, float(median + SCREEN_LIFT_SPREAD * (q3 - q1)))
    kernel = np.ones((5, 5), np.uint8)
    return np.stack([cv2.erode((candidate & (lift < bound)).astype(np.uint8), kernel).astype(bool)
                     for candidate, lift in found])


def screen_luma_noise(frames: Sequence[np.ndarray], masks: np.ndarray) -> float:
    """The bare screen's luma noise: a robust standard deviation of Y' from pixel to pixel, 0-1 scale.

    Each frame's Y' (Rec. 709 weights) less its 3 x 3 box mean, on every :data:`NOISE_ROW_STEP`-th row
    (the frame's edge rows and columns left out), over the pixels the analysis
    found to be bare screen (``masks``, brought to the frame's size); for independent noise of
    deviation ``s`` that difference has deviation ``s sqrt(8/9)``. The deviation is taken from the mean of
    the smallest 95 % of the absolute differences (:data:`NOISE_TRUNCATED_MEAN`), so the screen's
    texture and the odd foreground pixel do not count. Measured: the benchmark's clips 0.57-2.36 code values,
    GRID's clean screens 0.37-0.38 and CREMA-D's 0.31 (mostly the rounding of the 8-bit RGB frames the
    analysis reads; their Y' planes alone measure 0-0.2).

    Args:
        frames: ``(H, W, 3)`` uint8 RGB frames. masks: ``(F, h, w)`` bool bare screen at analysis size.

    Returns:
        The deviation on the 0-1 scale of Y' (RGB 0-255 over 255); 0 where no screen was found.
    """
    height, width = frames[0].shape[:2]
    weights = np.asarray(REC709_LUMA, np.float32) / 255.0
    step = NOISE_ROW_STEP
    differences = []
    for frame, mask in zip(frames, masks):
        luma = frame.astype(np.float32) @ weights
        rows = [luma[1 + dy:height - 1 + dy:step] for dy in (-1, 0, 1)]  # each sampled row and its neighbours
        box = sum(r[:, :-2] + r[:, 1:-1] + r[:, 2:] for r in rows) / 9.0
        screen = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        differences.append((rows[1][:, 1:-1] - box)[screen[1:height - 1:step, 1:-1]])
    values = np.abs(np.concatenate(differences))
    if not values.size:
        return 0.0
    kept = values[values <= np.percentile(values, 100 * NOISE_KEEP)]
    return float(kept.mean() / NOISE_TRUNCATED_MEAN * 3.0 / np.sqrt(8.0))


def fill_holes(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill unknown pixels from known ones by normalised convolution at growing scales.

    Args:
        values: ``(h, w, 3)`` float32; only pixels where ``known`` is true count.
        known: ``(h, w)`` bool, at least one true.

    Returns:
        ``(h, w, 3)`` float32 equal to ``values`` where known, filled elsewhere.
    """
    out = values.copy()
    filled = known.copy()
    weight = known.astype(np.float32)
    sigma = 2.0
    while not filled.all():
        num = cv2.GaussianBlur(values * weight[..., None], (0, 0), sigma)
        den = cv2.GaussianBlur(weight, (0, 0), sigma)
        reach = (den > 1e-4) & ~filled
        out[reach] = num[reach] / den[reach, None]
        filled |= reach
        sigma *= 2.0
        if sigma > 4 * max(values.shape[:2]):
            out[~filled] = values[known].mean(axis=0)
            break
    return out


def nan_median(samples: np.ndarray) -> np.ndarray:
    """The median over axis 0 of the values that are not NaN, as ``np.nanmedian(samples, axis=0)``.

    Args:
        samples: ``(S, ...)`` float32 with at least one value that is not NaN
            along axis 0 everywhere.

    Returns:
        ``samples.shape[1:]`` float32: the middle value, or the mean of the two middle ones.

    One sort along the samples (NaN sorts last) and two picks: numpy's
    ``nanmedian`` takes a slow path for few samples (0.72 against 0.09 s for
    24 frames of 480 x 270 x 3).
    """
    ordered = np.sort(samples, axis=0)
    valid = np.count_nonzero(~np.isnan(samples), axis=0)
    low = np.take_along_axis(ordered, ((valid - 1) // 2)[None], axis=0)[0]
    high = np.take_along_axis(ordered, (valid // 2)[None], axis=0)[0]
    return (low + high) / 2


def estimate_screen(frames: Sequence[np.ndarray], screen: str = "auto", balance: float = 0.5) -> ScreenAnalysis:
    """Estimate the screen colour and the clean plate from frames sampled across a shot.

    Args:
        frames: sampled frames, each ``(H, W, 3)`` uint8 RGB, all the same size.
        screen: ``auto``, ``green``, ``blue`` or ``#RRGGBB`` (the exact screen colour).
        balance: screen balance used for the colour difference (see :mod:`models.colour`).

    Returns:
        The :class:`ScreenAnalysis` at :func:`analysis_size` resolution.

    Raises:
        InputError: no frames, an unknown ``screen`` value, or no screen found.
    """
    if not frames:
        raise InputError("no frames to analyse the screen from", "check that the video decodes")
    border = find_blanking(frames)
    if any(border):  # the blanking lines are not screen: the plate takes the picture beside them
        frames = [fill_rgb(f, border) for f in frames]
    height, width = frames[0].shape[:2]
    size = analysis_size(width, height)
    small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    if screen.startswith("#"):
        screen_rgb = hex_to_rgb(screen)
    elif screen in HUE_FAMILIES:
        screen_rgb = _screen_colour(small, screen)
    else:
        raise InputError(f"unknown screen {screen!r}", "use auto, green, blue or #RRGGBB")
    weights = screen_weights(screen_rgb, balance)
    stack = np.stack(small).astype(np.float32) / 255.0
    masks = _screen_masks(small, screen_rgb, weights)
    known: np.ndarray = np.any(masks, axis=0)  # (h, w) bool: a 0-d np.bool only without an axis
    if not known.any():
        raise InputError("the screen colour was not found in the frames", "check --screen or the footage")
    samples = np.where(masks[..., None], stack, np.nan)
    median = nan_median(samples[:, known])
    plate: np.ndarray = np.zeros((size[1], size[0], 3), np.float32)
    plate[known] = median
    plate = fill_holes(plate, known)
    plate = cv2.GaussianBlur(plate, (0, 0), 1.0)
    return ScreenAnalysis(screen_rgb.astype(np.float32), plate.astype(np.float32), float(masks.mean()), border,
                          screen_luma_noise(frames, masks))
