"""The keyer's composite and layer steps on the CPU, fused into a few passes over memory (numba).

On the CPU a shot is keyed by fused loops rather than the onnxruntime graph
(:mod:`models.keyer_graph`): :mod:`models.fused_matte` computes the matte's
coefficients, and this module the rest, each step one loop that LLVM
vectorises: the guide (luma over each chroma sample's footprint); the despill
and the chroma composite at chroma resolution; the refinement ``t = a' Y + b'``
with the composite of the luma plane at full resolution (or, for a layer, the
straight colour). onnxruntime's CPU provider runs each elementwise operator as
its own pass over memory (``../shared/FIELD-NOTES.md``): in the graph those
steps are about forty operators and 13 ms of a 25 ms 1080p frame on one core;
here they are 1.5 ms.

The per-pixel formulas are :mod:`models.keyer_formulas`'s (inlined through
:mod:`models.keyer_jit`), in float32, rounded half to even as the graph's
QuantizeLinear; only the stencils (the footprint guide, the bilinear resizes)
are written here. The result matches the graph (used on CUDA) and the numpy
reference (:mod:`models.keyer_reference`) to one code value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from models.keyer_formulas import CENTRE, MATTE_INV_SCALE, MATTE_ZERO, ONE, ZERO
from models.keyer_jit import JIT

_transparency, _colour_difference, _spill_amount = JIT["transparency"], JIT["colour_difference"], JIT["spill_amount"]
_premultiplied_chroma, _over_chroma, _over_luma = JIT["premultiplied_chroma"], JIT["over_chroma"], JIT["over_luma"]
_straight_luma, _straight_chroma, _to_code = JIT["straight_luma"], JIT["straight_chroma"], JIT["to_code"]


@numba.njit(cache=True, nogil=True, fastmath=True)
def _guide(luma: np.ndarray, shift: int, scale: np.float32, out: np.ndarray) -> None:
    n, h, w = luma.shape
    wc = out.shape[3]
    if shift == 0:
        for f in range(n):
            for i in range(h):
                source, target = luma[f, i], out[f, 0, i]
                for j in range(w):
                    target[j] = np.float32(source[j]) * scale
        return
    weight, three = np.float32(scale / 16.0), np.int32(3)
    for f in range(n):
        for ic in range(out.shape[2]):  # rows 2ic - 1 .. 2ic + 2 weighted 1, 3, 3, 1 (edge rows repeated)
            r0, r1 = luma[f, max(2 * ic - 1, 0)], luma[f, 2 * ic]
            r2, r3, target = luma[f, 2 * ic + 1], luma[f, min(2 * ic + 2, h - 1)], out[f, 0, ic]
            for jc in range(wc):
                j = 2 * jc
                total = (np.int32(r0[j]) + np.int32(r0[j + 1]) + np.int32(r3[j]) + np.int32(r3[j + 1])
                         + three * (np.int32(r1[j]) + np.int32(r1[j + 1]) + np.int32(r2[j]) + np.int32(r2[j + 1])))
                target[jc] = np.float32(total) * weight


def luma_guide(luma: np.ndarray, subsampled: bool, luma_scale: float) -> np.ndarray:
    """The guided filter's guide: luma at chroma resolution, on the 0-1 scale.

    4:2:0: luma over each chroma sample's footprint, ``(1, 3, 3, 1) / 8`` down
    rows ``2i - 1 .. 2i + 2`` (edge rows repeated) and ``(1, 1) / 2`` across:
    the filter swscale subsamples 4:2:0 chroma with (measured on a one-sample
    line: 1/8 and 3/8 of a row to each of the two nearest chroma rows), so the
    guide sees the same neighbourhood as the chroma it explains (against a 2x2
    mean: benchmark mean dtSSD 2.85 -> 2.83).

    Args:
        luma: ``(N, H, W)`` uint8 Y' code values (even H, W when ``subsampled``).
        subsampled: 4:2:0 (the footprint above) or 4:4:4 (as is).
        luma_scale: code values per unit of Y' (219 limited range, 255 full).

    Returns:
        ``(N, 1, Hc, Wc)`` float32 footprint mean of Y' over ``luma_scale`` (black not removed).
    """
    shift = 1 if subsampled else 0
    n, h, w = luma.shape
    out = np.empty((n, 1, h >> shift, w >> shift), np.float32)
    _guide(np.ascontiguousarray(luma), shift, np.float32(1.0 / luma_scale), out)
    return out


@dataclass(frozen=True)
class CompositeConstants:
    """Per-shot inputs of the fused composite.

    Attributes:
        plate_above: ``(H, W)`` float32 clean plate Y' minus black (code values).
        plate_chroma: ``(2, Hc, Wc)`` float32 clean plate Cb, Cr, centred code values.
        plate_diff: ``(Hc, Wc)`` float32 the plate's colour difference ``form . plate_chroma``.
        form: ``(2,)`` float32 colour difference per centred chroma code value.
        spill: ``(2,)`` float32 despill direction times the despill strength.
    """

    plate_above: np.ndarray
    plate_chroma: np.ndarray
    plate_diff: np.ndarray
    form: np.ndarray
    spill: np.ndarray


@numba.njit(cache=True, nogil=True, fastmath=True)
def _foreground(chroma: np.ndarray, a: np.ndarray, b: np.ndarray, guide: np.ndarray, luma_scale: np.float32,
                plate: np.ndarray, plate_diff: np.ndarray, form: np.ndarray, spill: np.ndarray, f: int, i: int,
                out: np.ndarray) -> None:
    """Row ``i`` of frame ``f`` at chroma resolution: ``out`` (3, Wc) = the unmixed, despilled
    centred Cb, Cr and the transparency ``t``."""
    a_row, b_row, g_row = a[f, 0, i], b[f, 0, i], guide[f, 0, i]
    cb_row, cr_row, pb_row, pr_row, pd_row = chroma[f, 0, i], chroma[f, 1, i], plate[0, i], plate[1, i], plate_diff[i]
    for j in range(out.shape[1]):
        t = _transparency(a_row[j], b_row[j], g_row[j] * luma_scale)
        cb, cr = np.float32(cb_row[j]) - CENTRE, np.float32(cr_row[j]) - CENTRE
        amount = _spill_amount(_colour_difference(cb, cr, form[0], form[1]), t, pd_row[j])
        out[0, j] = _premultiplied_chroma(cb, t, pb_row[j], amount, spill[0])
        out[1, j] = _premultiplied_chroma(cr, t, pr_row[j], amount, spill[1])
        out[2, j] = t


@numba.njit(cache=True, nogil=True, fastmath=True)
def _chroma(chroma: np.ndarray, a: np.ndarray, b: np.ndarray, guide: np.ndarray, luma_scale: np.float32,
            plate: np.ndarray, plate_diff: np.ndarray, form: np.ndarray, spill: np.ndarray, background: np.ndarray,
            out: np.ndarray) -> None:
    n, _, hc, wc = chroma.shape
    row = np.empty((3, wc), np.float32)
    for f in range(n):
        bg = background[f if background.shape[0] > 1 else 0]
        for i in range(hc):
            _foreground(chroma, a, b, guide, luma_scale, plate, plate_diff, form, spill, f, i, row)
            for q in range(2):
                bg_row, target = bg[q, i], out[f, q, i]
                for j in range(wc):
                    value = _over_chroma(row[q, j], row[2, j], np.float32(bg_row[j]) - CENTRE)
                    target[j] = np.uint8(_to_code(value, CENTRE, ONE))


@numba.njit(cache=True, nogil=True, fastmath=True)
def bilinear_row(plane: np.ndarray, i: int, out: np.ndarray) -> None:
    """Row ``i`` of ``plane`` ``(Hc, Wc)`` resized 2x bilinearly (half-pixel centres, edges clamped, as
    ONNX Resize ``linear`` and ``cv2.INTER_LINEAR``): ``out`` (2 Wc,). Luma row ``i`` sits a quarter
    of a chroma row from chroma row ``i // 2``, toward row ``i // 2 - 1`` when ``i`` is even."""
    hc, wc = plane.shape
    near, far = plane[i >> 1], plane[min(max((i >> 1) + (1 if i & 1 else -1), 0), hc - 1)]
    three, one = np.float32(0.75), np.float32(0.25)
    left, right = three * near[0] + one * far[0], three * near[wc - 1] + one * far[wc - 1]
    out[0], out[2 * wc - 1] = left, right
    for jc in range(wc - 1):  # between columns jc and jc + 1: a quarter and three quarters of the way
        v0 = three * near[jc] + one * far[jc]
        v1 = three * near[jc + 1] + one * far[jc + 1]
        out[2 * jc + 1] = three * v0 + one * v1
        out[2 * jc + 2] = one * v0 + three * v1


@numba.njit(cache=True, nogil=True, fastmath=True)
def _transparency_row(luma_row: np.ndarray, a: np.ndarray, b: np.ndarray, i: int, shift: int, a_row: np.ndarray,
                      b_row: np.ndarray, t_row: np.ndarray) -> None:
    """Transparency ``t`` (W,) of luma row ``i``: the coefficients ``(Hc, Wc)`` resized bilinearly to it."""
    if shift:
        bilinear_row(a, i, a_row)
        bilinear_row(b, i, b_row)
    else:
        a_row[:] = a[i]
        b_row[:] = b[i]
    for j in range(t_row.shape[0]):
        t_row[j] = _transparency(a_row[j], b_row[j], np.float32(luma_row[j]))


@numba.njit(cache=True, nogil=True, fastmath=True)
def _matte_row(t_row: np.ndarray, out: np.ndarray) -> None:
    for j in range(out.shape[0]):
        out[j] = np.uint8(_to_code(t_row[j], MATTE_ZERO, MATTE_INV_SCALE))


@numba.njit(cache=True, nogil=True, fastmath=True)
def _composite(luma: np.ndarray, a: np.ndarray, b: np.ndarray, plate: np.ndarray, background: np.ndarray,
               offset: np.float32, shift: int, out: np.ndarray, alpha: np.ndarray, with_alpha: bool) -> None:
    n, h, w = luma.shape
    a_row, b_row, t_row = np.empty(w, np.float32), np.empty(w, np.float32), np.empty(w, np.float32)
    for f in range(n):
        bg = background[f if background.shape[0] > 1 else 0]
        for i in range(h):
            source, plate_row, bg_row, target = luma[f, i], plate[i], bg[i], out[f, i]
            _transparency_row(source, a[f, 0], b[f, 0], i, shift, a_row, b_row, t_row)
            for j in range(w):
                value = _over_luma(np.float32(source[j]), t_row[j], plate_row[j], np.float32(bg_row[j]), offset)
                target[j] = np.uint8(_to_code(value, ZERO, ONE))
            if with_alpha:
                _matte_row(t_row, alpha[f, i])


@numba.njit(cache=True, nogil=True, fastmath=True)
def linear_row_2x(source: np.ndarray, out: np.ndarray) -> None:
    """Stencil: a row ``(Wc,)`` resized 2x linearly ``out`` (2 Wc,), half-pixel centres, edges clamped
    (ONNX Resize ``linear``)."""
    wc = source.shape[0]
    three, one = np.float32(0.75), np.float32(0.25)
    out[0], out[2 * wc - 1] = source[0], source[wc - 1]
    for jc in range(wc - 1):
        out[2 * jc + 1] = three * source[jc] + one * source[jc + 1]
        out[2 * jc + 2] = one * source[jc] + three * source[jc + 1]


@numba.njit(cache=True, nogil=True, fastmath=True)
def _layer(luma: np.ndarray, chroma: np.ndarray, a: np.ndarray, b: np.ndarray, guide: np.ndarray,
           luma_scale: np.float32, plate_chroma: np.ndarray, plate_diff: np.ndarray, form: np.ndarray,
           spill: np.ndarray, plate: np.ndarray, offset: np.float32, shift: int, out_luma: np.ndarray,
           out_chroma: np.ndarray, alpha: np.ndarray, with_alpha: bool) -> None:
    n, h, w = luma.shape
    wc = chroma.shape[3]
    a_row, b_row, t_row = np.empty(w, np.float32), np.empty(w, np.float32), np.empty(w, np.float32)
    fg, wide = np.empty((3, wc), np.float32), np.empty(w, np.float32)
    for f in range(n):
        for i in range(h):
            source, plate_row, target = luma[f, i], plate[i], out_luma[f, i]
            _transparency_row(source, a[f, 0], b[f, 0], i, shift, a_row, b_row, t_row)
            for j in range(w):
                value = _straight_luma(np.float32(source[j]), t_row[j], plate_row[j], offset)
                target[j] = np.uint8(_to_code(value, ZERO, ONE))
            if with_alpha:
                _matte_row(t_row, alpha[f, i])
            if not (shift and i & 1):  # the chroma row this luma row (and the next, for 4:2:0) shares
                _foreground(chroma, a, b, guide, luma_scale, plate_chroma, plate_diff, form, spill, f, i >> shift, fg)
            for q in range(2):
                if shift:
                    linear_row_2x(fg[q], wide)
                else:
                    wide[:] = fg[q]
                chroma_row = out_chroma[f, q, i]
                for j in range(w):
                    chroma_row[j] = np.uint8(_to_code(_straight_chroma(wide[j], t_row[j]), CENTRE, ONE))


def fused_composite(
    luma: np.ndarray, chroma: np.ndarray, transp_a: np.ndarray, transp_b: np.ndarray, guide: np.ndarray,
    constants: CompositeConstants, bg_luma: np.ndarray, bg_chroma: np.ndarray,
    luma_offset: float, luma_scale: float, subsampled: bool, matte: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Despill and composite over a background, from the matte's coefficients (:func:`models.fused_matte.fused_matte`).

    Chroma, per chroma sample: transparency ``t = clip(a' mean(Y') + b')``; the
    spill ``relu(d(C) - t d(plate))`` removed along the despill direction with
    the plate's share ``t P``; the premultiplied chroma limited to
    ``|P_C| <= (1 - t) 128``; plus ``t`` times the background. Luma, per sample:
    ``t = clip(a' Y + b', 0, 1)`` (the guided filter's linear model, He et al.,
    "Guided Image Filtering", TPAMI 2013, its coefficients resized bilinearly to
    the luma grid, :func:`bilinear_row`); :func:`models.keyer_formulas.over_luma`.

    Args:
        luma: ``(N, H, W)`` uint8 Y'. chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr
            (Hc, Wc = H/2, W/2 for 4:2:0, H, W for 4:4:4).
        transp_a, transp_b: ``(N, 1, Hc, Wc)`` float32 from :func:`models.fused_matte.fused_matte`.
        guide: ``(N, 1, Hc, Wc)`` float32 :func:`luma_guide` (the matte's guide).
        constants: the shot's plate and colour constants.
        bg_luma: ``(B, H, W)`` uint8; bg_chroma: ``(B, 2, Hc, Wc)`` uint8; B = 1 or N.
        luma_offset, luma_scale: black and code values per unit of Y' (16/219 or 0/255).
        subsampled: 4:2:0 or 4:4:4 planes.
        matte: also return the matte.

    Returns:
        ``(N, H, W)`` uint8 composite Y', ``(N, 2, Hc, Wc)`` uint8 Cb, Cr, and the
        ``(N, H, W)`` uint8 matte ``255 (1 - t)`` (None unless ``matte``).
    """
    image_chroma = np.empty(chroma.shape, np.uint8)
    _chroma(np.ascontiguousarray(chroma), transp_a, transp_b, guide, np.float32(luma_scale), constants.plate_chroma,
            constants.plate_diff, constants.form, constants.spill, np.ascontiguousarray(bg_chroma), image_chroma)
    image_luma, alpha = composite_luma(luma, transp_a, transp_b, constants.plate_above, bg_luma, luma_offset,
                                       subsampled, matte)
    return image_luma, image_chroma, alpha


def composite_luma(
    luma: np.ndarray, transp_a: np.ndarray, transp_b: np.ndarray, plate_above: np.ndarray,
    background: np.ndarray, luma_offset: float, subsampled: bool, matte: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Refine the matte with luma and composite the luma plane, in one pass.

    Per sample: transparency ``t = clip(a' Y + b', 0, 1)`` (the guided filter's
    linear model, He et al., "Guided Image Filtering", TPAMI 2013, with its
    coefficients resized bilinearly to the luma grid); the
    premultiplied foreground limited to at least black: :func:`models.keyer_formulas.over_luma`.

    Args:
        luma: ``(N, H, W)`` uint8 Y'. transp_a, transp_b: ``(N, 1, Hc, Wc)`` float32
            coefficients (:func:`models.fused_matte.fused_matte`; Hc = H/2 for
            4:2:0, H for 4:4:4).
        plate_above: ``(H, W)`` float32 clean plate Y' minus black (code values).
        background: ``(B, H, W)`` uint8 Y' of the new background, B = 1 or N.
        luma_offset: black in code values (16 limited range, 0 full).
        subsampled: 4:2:0 coefficients (one per 2x2 luma samples) or 4:4:4.
        matte: also return the matte.

    Returns:
        ``(N, H, W)`` uint8 composite Y', and ``(N, H, W)`` uint8 matte
        ``255 (1 - t)`` (None unless ``matte``).
    """
    n, h, w = luma.shape
    shift = 1 if subsampled else 0
    out = np.empty((n, h, w), np.uint8)
    alpha = np.empty((n, h, w) if matte else (0, 0, 0), np.uint8)
    _composite(np.ascontiguousarray(luma), transp_a, transp_b, plate_above, np.ascontiguousarray(background),
               np.float32(luma_offset), shift, out, alpha, matte)
    return out, (alpha if matte else None)


def fused_layer(
    luma: np.ndarray, chroma: np.ndarray, transp_a: np.ndarray, transp_b: np.ndarray, guide: np.ndarray,
    constants: CompositeConstants, luma_offset: float, luma_scale: float, subsampled: bool, matte: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The despilled foreground with straight (unpremultiplied) alpha, from the matte's coefficients.

    Luma, per sample: ``t = clip(a' Y + b', 0, 1)`` as in :func:`composite_luma`, then
    ``P / alpha + black`` (:func:`models.keyer_formulas.straight_luma`). Chroma: unmixed and
    despilled at chroma resolution as in :func:`fused_composite`, resized to full
    resolution (4:2:0: linearly across, each chroma row shared by its two luma rows,
    as the graph's layer), then divided by alpha (:func:`models.keyer_formulas.straight_chroma`).

    Args:
        luma, chroma, transp_a, transp_b, guide, constants, luma_offset, luma_scale,
            subsampled, matte: as :func:`fused_composite` (no background).

    Returns:
        ``(N, H, W)`` uint8 straight Y', ``(N, 2, H, W)`` uint8 straight Cb, Cr (4:4:4),
        and the ``(N, H, W)`` uint8 matte ``255 (1 - t)`` (None unless ``matte``).
    """
    n, h, w = luma.shape
    image_luma, image_chroma = np.empty((n, h, w), np.uint8), np.empty((n, 2, h, w), np.uint8)
    alpha = np.empty((n, h, w) if matte else (0, 0, 0), np.uint8)
    _layer(np.ascontiguousarray(luma), np.ascontiguousarray(chroma), transp_a, transp_b, guide, np.float32(luma_scale),
           constants.plate_chroma, constants.plate_diff, constants.form, constants.spill, constants.plate_above,
           np.float32(luma_offset), 1 if subsampled else 0, image_luma, image_chroma, alpha, matte)
    return image_luma, image_chroma, (alpha if matte else None)
