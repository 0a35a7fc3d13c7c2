"""The composite's light wrap on the CPU (numba): the plate's blurred light bled into the foreground's edge.

After the fused composite (:mod:`models.fused_composite`), each rounded sample
is mixed toward the plate's box-blurred light by
:func:`models.keyer_formulas.wrap_amount` (``light_wrap alpha blur(1 - alpha)``,
from the transparency at chroma resolution) with
:func:`models.keyer_formulas.light_wrapped`, and rounded again: chroma at
chroma resolution, luma with the amount and the plate's luma resized
bilinearly to the luma grid. The method is Nuke's LightWrap node (the
background blurred by *Diffuse*, masked by the foreground's alpha and the
inverse of its blurred alpha, at *Intensity*), mixed rather than added. The
numpy reference (:func:`models.keyer_reference.light_wrap`) and the graph
(:func:`models.keyer_graph.light_wrap`) compute the same.
"""

from __future__ import annotations

import numba
import numpy as np

from models.fused_composite import luma_guide
from models.fused_edges import box_filter
from models.fused_matte import resize_linear
from models.keyer_formulas import CENTRE, ONE, ZERO
from models.keyer_jit import JIT

_transparency, _wrap_amount, _light_wrapped, _to_code = (
    JIT["transparency"], JIT["wrap_amount"], JIT["light_wrapped"], JIT["to_code"])


@numba.njit(cache=True, nogil=True, fastmath=True)
def _transparency_plane(a: np.ndarray, b: np.ndarray, guide: np.ndarray, luma_scale: np.float32) -> np.ndarray:
    """Transparency at chroma resolution ``(Hc, Wc)``, as the composite's chroma takes it."""
    out = np.empty_like(guide)
    for i in range(guide.shape[0]):
        for j in range(guide.shape[1]):
            out[i, j] = _transparency(a[i, j], b[i, j], guide[i, j] * luma_scale)
    return out


@numba.njit(cache=True, nogil=True, fastmath=True)
def _amount(t: np.ndarray, t_blur: np.ndarray, strength: np.float32) -> np.ndarray:
    out = np.empty_like(t)
    for i in range(t.shape[0]):
        for j in range(t.shape[1]):
            out[i, j] = _wrap_amount(t[i, j], t_blur[i, j], strength)
    return out


@numba.njit(cache=True, nogil=True, fastmath=True)
def _wrap_plane(image: np.ndarray, amount: np.ndarray, plate: np.ndarray, zero: np.float32) -> None:
    """``image`` ``(h, w)`` uint8 (code values around ``zero``) mixed toward ``plate`` (centred) in place."""
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            value = _light_wrapped(np.float32(image[i, j]) - zero, amount[i, j], plate[i, j])
            image[i, j] = np.uint8(_to_code(value, zero, ONE))


def fused_light_wrap(image_luma: np.ndarray, image_chroma: np.ndarray, transp_a: np.ndarray, transp_b: np.ndarray,
                     guide: np.ndarray, bg_luma: np.ndarray, bg_chroma: np.ndarray, luma_scale: float, subsampled: bool,
                     strength: float, radius: int) -> None:
    """Wrap the plate's light into the composite's edges, in place.

    Args:
        image_luma: ``(N, H, W)`` uint8 composite Y'; image_chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr
            (:func:`models.fused_composite.fused_composite`), changed in place.
        transp_a, transp_b: ``(N, 1, Hc, Wc)`` float32 the matte's coefficients.
        guide: ``(N, 1, Hc, Wc)`` float32 the matte's guide (:func:`models.fused_composite.luma_guide`).
        bg_luma: ``(B, H, W)`` uint8; bg_chroma: ``(B, 2, Hc, Wc)`` uint8 the plate, B = 1 or N.
        luma_scale: code values per unit of Y'. subsampled: 4:2:0 planes.
        strength: :attr:`models.keyer_params.KeyerParams.light_wrap`, in (0, 1].
        radius: the blurs' radius in chroma pixels (:attr:`models.keyer_params.KeyerParams.light_wrap_radius`).
    """
    n, h, w = image_luma.shape
    plate_low = luma_guide(bg_luma, subsampled, 1.0)  # the plate's luma at chroma resolution, code values
    plates = []  # per plate frame (one for a still): its blurred light, luma at full resolution, chroma
    for b in range(len(bg_luma)):
        plate_y = box_filter(plate_low[b, 0], radius)
        plates.append((resize_linear(plate_y, h, w) if subsampled else plate_y,
                       np.stack([box_filter(bg_chroma[b, q].astype(np.float32) - CENTRE, radius) for q in range(2)])))
    for f in range(n):
        plate_y, plate_c = plates[f if len(plates) > 1 else 0]
        t = _transparency_plane(transp_a[f, 0], transp_b[f, 0], guide[f, 0], np.float32(luma_scale))
        amount = _amount(t, box_filter(t, radius), np.float32(strength))
        for q in range(2):
            _wrap_plane(image_chroma[f, q], amount, plate_c[q], CENTRE)
        _wrap_plane(image_luma[f], resize_linear(amount, h, w) if subsampled else amount, plate_y, ZERO)
