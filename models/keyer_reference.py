"""The screen keyer in plain numpy (float64), one frame at a time: the reference the fast forms are held to.

The per-pixel formulas are :mod:`models.keyer_formulas`'s, run on float64
arrays; the stencils are written here with numpy and OpenCV, as plainly as
they can be (each one's parity with the graph's and the fused loops' is
tested in ``tests/models/test_keyer_stencils.py``). Slow: for tests and for
checking a change, not for rendering.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

import models.keyer_formulas as kf
from models.keyer import ScreenInputs
from models.keyer_params import LIGHT_EPS, LIGHT_TRUST, KeyerParams
from models.yuv import YuvMatrix


@dataclass(frozen=True)
class ReferenceFrame:
    """One keyed frame of the reference.

    Attributes:
        luma: ``(H, W)`` float64 Y' code values, rounded (composite, or straight for a layer).
        chroma: ``(2, Hc, Wc)`` float64 Cb, Cr code values, rounded (a layer: ``(2, H, W)``).
        alpha: ``(H, W)`` float64 matte code values ``255 (1 - t)``, rounded.
        state: the temporal state after this frame, ``(alpha, guide, valid)`` at chroma resolution.
    """

    luma: np.ndarray
    chroma: np.ndarray
    alpha: np.ndarray
    state: tuple[np.ndarray | float, np.ndarray | float, float]


def box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Stencil: mean over a ``(2r+1)^2`` window of an ``(H, W)`` array, counting only the pixels inside the frame."""
    kernel = np.ones(2 * r + 1)
    total = cv2.sepFilter2D(x, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_CONSTANT)
    count = cv2.sepFilter2D(np.ones_like(x), cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_CONSTANT)
    return total / count


def zero_box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Stencil: sum over a ``(2r+1)^2`` window, zero outside the frame, over ``(2r+1)^2``."""
    size = 2 * r + 1
    return cv2.boxFilter(x, cv2.CV_64F, (size, size), borderType=cv2.BORDER_CONSTANT)


def block_mean(x: np.ndarray, b: int) -> np.ndarray:
    """Stencil: mean over ``b x b`` blocks of an ``(H, W)`` array; a block cut by the edge averages what it holds."""
    h, w = x.shape
    padded = np.full((-(-h // b) * b, -(-w // b) * b), np.nan)
    padded[:h, :w] = x
    return np.nanmean(padded.reshape(padded.shape[0] // b, b, padded.shape[1] // b, b), axis=(1, 3))


def footprint_guide(luma: np.ndarray, subsampled: bool) -> np.ndarray:
    """Stencil: ``(H, W)`` luma over each 4:2:0 chroma sample's footprint, ``(1, 3, 3, 1) / 8`` down (edge
    rows repeated), ``(1, 1) / 2`` across, ``(H/2, W/2)`` float64 code values; 4:4:4: as it is."""
    y = luma.astype(np.float64)
    if not subsampled:
        return y
    pairs = (y[:, 0::2] + y[:, 1::2]) / 2
    rows = np.vstack([pairs[:1], pairs, pairs[-1:]])
    return (rows[0:-3:2] + 3 * rows[1:-2:2] + 3 * rows[2:-1:2] + rows[3::2]) / 8


def resize_linear(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Stencil: bilinear resize to ``size`` = ``(W, H)``, half-pixel centres, edges clamped (ONNX Resize ``linear``)."""
    return cv2.resize(x, size, interpolation=cv2.INTER_LINEAR)


def erode(x: np.ndarray, r: int) -> np.ndarray:
    """Stencil: minimum over a ``(2r+1)^2`` window of an ``(H, W)`` array, over the pixels inside the frame."""
    return cv2.erode(x, np.ones((2 * r + 1, 2 * r + 1), np.uint8))  # OpenCV's default border is outside every minimum


def dilate(x: np.ndarray, r: int) -> np.ndarray:
    """Stencil: maximum over a ``(2r+1)^2`` window of an ``(H, W)`` array, over the pixels inside the frame."""
    return cv2.dilate(x, np.ones((2 * r + 1, 2 * r + 1), np.uint8))


def edge_matte(raw: np.ndarray, params: KeyerParams) -> np.ndarray:
    """The screen matte's edge controls on ``raw`` ``(Hc, Wc)`` in [0, 1], in Keylight's order of its
    Screen Matte group: despot black (a closing), despot white (an opening), shrink/grow (a minimum
    or a maximum), softness (a box mean); each is off at 0 (:class:`models.keyer_params.KeyerParams`)."""
    if params.despot_black:
        raw = erode(dilate(raw, params.despot_black), params.despot_black)
    if params.despot_white:
        raw = dilate(erode(raw, params.despot_white), params.despot_white)
    if params.shrink_grow:
        raw = dilate(raw, params.shrink_grow) if params.shrink_grow > 0 else erode(raw, -params.shrink_grow)
    if params.softness:
        raw = box_mean(raw, params.softness)
    return raw


def edge_luma(raw: np.ndarray, guide: np.ndarray, plate_guide: np.ndarray, inv_light: np.ndarray,
              params: KeyerParams, black: float, contrast: float) -> np.ndarray:
    """The key ``raw`` ``(Hc, Wc)`` moved toward luma's alpha at edges (:func:`models.keyer_formulas.luma_line`),
    with window means over ``(2 edge_luma_radius + 1)^2`` pixels inside the frame, trusting luma from the
    gap ``contrast`` (:attr:`models.keyer.ScreenInputs.line_contrast`)."""
    solid, r = kf.solid_weight(raw), params.edge_luma_radius
    solid_luma, solid_mean, bare_mean = (box_mean(x, r) for x in (solid * guide, solid, kf.bare_weight(raw)))
    return kf.luma_line(raw, guide, solid_luma, solid_mean, bare_mean, plate_guide, inv_light, black, params.edge_luma,
                        contrast)


def light_wrap(image_y: np.ndarray, image_c: np.ndarray, transp_low: np.ndarray, background: tuple[np.ndarray, np.ndarray],
               params: KeyerParams, subsampled: bool) -> tuple[np.ndarray, np.ndarray]:
    """The composite's light wrap: each rounded sample mixed toward the plate's box-blurred light by
    :func:`models.keyer_formulas.wrap_amount`, at chroma resolution (the amount and the plate's luma
    resized bilinearly to the luma grid), rounded again.

    Args:
        image_y: ``(H, W)``, image_c: ``(2, Hc, Wc)`` float64 composite code values.
        transp_low: ``(Hc, Wc)`` transparency at chroma resolution.
        background: the plate's ``(H, W)``, ``(2, Hc, Wc)`` uint8 planes.

    Returns:
        The wrapped ``(image_y, image_c)``, float64 code values.
    """
    r = params.light_wrap_radius
    amount = kf.wrap_amount(transp_low, box_mean(transp_low, r), params.light_wrap)
    plate_c = np.stack([box_mean(p.astype(np.float64) - 128.0, r) for p in background[1]])
    image_c = kf.to_code(kf.light_wrapped(image_c - 128.0, amount, plate_c), 128.0, 1.0)
    plate_y = box_mean(footprint_guide(background[0], subsampled), r)
    if subsampled:
        amount, plate_y = (resize_linear(x, image_y.shape[::-1]) for x in (amount, plate_y))
    return kf.to_code(kf.light_wrapped(image_y, amount, plate_y), 0.0, 1.0), image_c


def inverse_light(diff: np.ndarray, guide: np.ndarray, c: np.ndarray, screen: ScreenInputs, params: KeyerParams,
                  black: float) -> np.ndarray:
    """The reciprocal of the screen's light at chroma resolution, ``(Hc, Wc)`` float64 (normalised
    convolution of trusted light ratios; :func:`models.keyer_graph._inverse_light` explains it)."""
    d, y, cb, cr = (block_mean(x, 2) for x in (diff, guide, c[0], c[1]))
    inv_dp, inv_yp, w_b, w_r = screen.screen_maps[0].astype(np.float64)
    weighted, trust = kf.light_trust(d, y, cb, cr, inv_dp, inv_yp, w_b, w_r, black, 1.0 / params.light_luma_tolerance,
                                     1.0 / params.light_hue_tolerance)
    blocks = [block_mean(x, params.light_block // 2) for x in (weighted, trust)]

    def window(radius: int) -> tuple[np.ndarray, np.ndarray]:
        num, den = (zero_box_mean(x, radius) for x in blocks)
        return kf.light_ratio(num, den, LIGHT_EPS), den

    light, trusted = window(params.light_radius)
    if params.light_reach > 0:
        far, _ = window(params.light_reach)
        light = kf.light_blend(light, far, trusted, 1.0 / LIGHT_TRUST)
    return resize_linear(kf.inverse_light(light), diff.shape[::-1])


def reference_matte(luma: np.ndarray, chroma: np.ndarray, screen: ScreenInputs, params: KeyerParams,
                    state: tuple[np.ndarray | float, np.ndarray | float, float], subsampled: bool, matrix: YuvMatrix,
                    hold: np.ndarray | None = None, garbage: np.ndarray | None = None,
                    core: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, float]]:
    """Steps 1-4 of the keyer on one frame: chroma key (with the edge's luma line), temporal filter, luma refinement.

    Args:
        luma: ``(H, W)`` uint8 Y'. chroma: ``(2, Hc, Wc)`` uint8 Cb, Cr.
        screen: the shot's inputs (:func:`models.keyer.prepare_screen`). params: as fitted to the frame.
        state: ``(alpha, guide, valid)`` after the frame before (``(0, 0, 0)`` before the first).
        subsampled: 4:2:0 planes. matrix: the footage's Y'CbCr matrix and range.
        hold: ``(Hc, Wc)`` holdout matte in [0, 1], or None.
        garbage, core: ``(Hc, Wc)`` garbage and core mattes in [0, 1], or None: applied after the
            temporal filter (the state does not hold them), the core first.

    Returns:
        Transparency at chroma resolution ``(Hc, Wc)`` and at full resolution ``(H, W)``
        (float64), and the state after this frame.
    """
    alpha_prev, luma_prev, valid = state
    c = chroma.astype(np.float64) - 128.0
    diff = kf.colour_difference(c[0], c[1], *screen.chroma_form)
    width = params.clip_white - params.clip_black
    y_low = footprint_guide(luma, subsampled)
    guide = y_low / matrix.luma_scale
    black = matrix.luma_offset / matrix.luma_scale
    inv_light = inverse_light(diff, guide, c, screen, params, black)
    across = screen.plate_across[0].astype(np.float64)
    f0, f1 = screen.chroma_form
    raw = kf.raw_alpha(c[0], c[1], guide, inv_light, screen.key_scale[0, 0], f0, f1,
                       (1.0 - params.clip_black) / width, params.off_axis > 0, across[0], across[1],
                       params.off_axis_black / width, params.luma_excess > 0, black, screen.plate_luma_ratio[0, 0],
                       params.luma_excess / width, params.luma_excess_black / width)
    if params.edge_luma > 0:
        raw = edge_luma(raw, guide, screen.plate_guide[0, 0].astype(np.float64), inv_light, params, black,
                        float(screen.line_contrast.flat[0]))
    if hold is not None:
        raw = kf.held(raw, hold)
    if params.edge_matte:
        raw = edge_matte(raw, params)
    if params.temporal_min < 1.0:
        raw = kf.temporal_step(raw, guide, alpha_prev, luma_prev, valid, params.temporal_min,
                               1.0 / params.motion_threshold)
        state = (raw, guide, 1.0)
    if core is not None:
        raw = kf.held(raw, core)
    if garbage is not None:
        raw = kf.garbage_cut(raw, garbage)
    r = params.guide_radius
    m_i, m_p, m_ip, m_ii = (box_mean(x, r) for x in (guide, raw, guide * raw, guide * guide))
    a, b = kf.guided_coefficients(m_i, m_p, m_ip, m_ii, params.guide_eps)
    ta, tb = kf.transparency_coefficients(box_mean(a, r), box_mean(b, r), 1.0 / matrix.luma_scale)
    transp_low = kf.transparency(ta, tb, y_low)
    if subsampled:  # bilinear upsampling of the coefficients to the luma grid
        ta, tb = (resize_linear(x, luma.shape[::-1]) for x in (ta, tb))
    transp = kf.transparency(ta, tb, luma.astype(np.float64))
    return transp_low, transp, state  # type: ignore[return-value]  # the state keeps scalars before the first frame


def reference_key(luma: np.ndarray, chroma: np.ndarray, background: tuple[np.ndarray, np.ndarray] | None,
                  screen: ScreenInputs, params: KeyerParams, state: tuple[np.ndarray | float, np.ndarray | float, float],
                  subsampled: bool, matrix: YuvMatrix, hold: np.ndarray | None = None,
                  garbage: np.ndarray | None = None, core: np.ndarray | None = None) -> ReferenceFrame:
    """One frame through the whole keyer: a composite over ``background``, or a layer when it is None.

    Args:
        luma, chroma, screen, params, state, subsampled, matrix, hold, garbage, core: as :func:`reference_matte`.
        background: ``((H, W), (2, Hc, Wc))`` uint8 Y', Cb/Cr planes of the new background, or None.

    Returns:
        The keyed frame, its matte and the state after it.
    """
    transp_low, transp, state = reference_matte(luma, chroma, screen, params, state, subsampled, matrix, hold, garbage,
                                                core)
    c = chroma.astype(np.float64) - 128.0
    plate = screen.plate_chroma[0].astype(np.float64)
    form = screen.chroma_form
    amount = kf.spill_amount(kf.colour_difference(c[0], c[1], *form), transp_low,
                             kf.colour_difference(plate[0], plate[1], *form))
    fg = np.stack([kf.premultiplied_chroma(c[q], transp_low, plate[q], amount, params.despill * screen.spill_chroma[q])
                   for q in range(2)])
    y, off = luma.astype(np.float64), matrix.luma_offset
    plate_above = screen.plate_above[0, 0].astype(np.float64)
    if background is not None:
        image_y = kf.to_code(kf.over_luma(y, transp, plate_above, background[0].astype(np.float64), off), 0.0, 1.0)
        bg_c = background[1].astype(np.float64) - 128.0
        image_c = kf.to_code(kf.over_chroma(fg, transp_low, bg_c), 128.0, 1.0)
        if params.light_wrap > 0:
            image_y, image_c = light_wrap(image_y, image_c, transp_low, background, params, subsampled)
    else:
        image_y = kf.to_code(kf.straight_luma(y, transp, plate_above, off), 0.0, 1.0)
        if subsampled:  # linearly across, each chroma row shared by its two luma rows
            fg = np.repeat(np.stack([resize_linear(p, (luma.shape[1], fg.shape[1])) for p in fg]), 2, axis=1)
        image_c = kf.to_code(kf.straight_chroma(fg, transp), 128.0, 1.0)
    alpha = kf.to_code(transp, kf.MATTE_ZERO, kf.MATTE_INV_SCALE)
    return ReferenceFrame(image_y, image_c, alpha, state)
