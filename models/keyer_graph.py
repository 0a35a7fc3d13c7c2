"""The screen keyer as an ONNX graph, built in code, working on Y'CbCr planes.

The graph keys where the colour information lives. A colour-difference key
``d = w . RGB`` with weights summing to zero depends on chroma only (see
:meth:`models.yuv.YuvMatrix.chroma_form`), so for 4:2:0 footage the key is
computed at chroma resolution, a quarter of the pixels, and the matte is then
refined to full resolution with luma, which carries the fine detail (hair).
Per batch of frames:

1. colour difference ``d = c_b Cb + c_r Cr`` (centred chroma) at chroma resolution;
2. raw alpha ``clip(A - d * key_scale, 0, 1)``, where ``key_scale`` carries the
   per-pixel clean plate (``1 / d(plate)``), screen gain and clip black/white,
   raised to the bound that chroma off the plate's axis sets (that chroma can
   only be the foreground's: :func:`_off_axis_alpha`) and to the bound that luma
   above what the colour difference implies sets (:func:`_luma_excess_alpha`);
3. optionally (``temporal_min`` below 1; off by default), a motion-adaptive
   temporal filter over the batch (an ONNX ``Scan`` whose
   carried state is the previous matte and luma): on static pixels the matte
   moves towards the new raw alpha by ``temporal_min`` per frame, removing
   flicker; where luma changes by ``motion_threshold`` or more it follows at once;
4. luma refinement with the fast guided filter (He, Sun & Tang, "Guided Image
   Filtering", TPAMI 2013; He & Sun, "Fast Guided Filter", arXiv:1505.00996):
   the linear coefficients ``alpha ~ a Y' + b`` are fitted at chroma resolution
   against the 2x2-averaged luma, upsampled bilinearly, and applied to the
   full-resolution luma;
5. unmixing with the clean plate, ``P = C - (1 - alpha) * plate``, the
   premultiplied foreground of ``C = aF + (1-a)S`` (Porter & Duff 1984; Smith &
   Blinn, "Blue Screen Matting", SIGGRAPH 1996), on luma and chroma;
6. despill on chroma only: ``P - relu(d(P)) * despill * v`` with ``v`` the
   luma-free spill direction (:func:`models.colour.despill_vector`), so
   brightness is kept;
7. ``composite``: ``P + (1 - alpha) * background`` per plane, with ``P`` first
   limited to a valid premultiplied colour (``P_Y >= 0``, ``|P_C| <= alpha``)
   so nothing of the source leaks where the matte is 0; ``layer``:
   ``P / alpha`` with chroma upsampled to full resolution (4:4:4 + alpha).

Tensors are NCHW. Outputs are rounded half to even to uint8 (QuantizeLinear).
"""

from __future__ import annotations

import itertools

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.keyer_params import LIGHT_EPS, LIGHT_TRUST, KeyerOutput, KeyerParams

OPSET = 17
_F = TensorProto.FLOAT
_U8 = TensorProto.UINT8
_EPS_ALPHA = 1.0 / 1024.0


class _Builder:
    """Collects nodes; ``op`` returns the name of its (single) output."""

    def __init__(self, prefix: str = "") -> None:
        self.nodes: list[onnx.NodeProto] = []
        self._names = itertools.count()
        self.prefix = prefix

    def const(self, value: np.ndarray | float) -> str:
        name = f"{self.prefix}k{next(self._names)}"
        array = np.asarray(value, dtype=np.float32)
        self.nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name)))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: object) -> str:
        name = out or f"{self.prefix}t{next(self._names)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], **attrs))
        return name

    def split(self, x: str, parts: int, outs: list[str] | None = None) -> list[str]:
        names = outs or [f"{self.prefix}s{next(self._names)}" for _ in range(parts)]
        self.nodes.append(helper.make_node("Split", [x], names, axis=1))
        return names

    def u8_const(self, value: int) -> str:
        name = f"{self.prefix}k{next(self._names)}"
        array = np.asarray(value, dtype=np.uint8)
        self.nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name)))
        return name

    def to_u8(self, x: str, out: str, zero: int = 0, scale: float = 1.0) -> str:
        """float32 -> uint8 ``saturate(round(x / scale) + zero)``, half to even.

        One QuantizeLinear: a threaded pass that also clips, where Add + Clip + Cast are three.
        """
        return self.op("QuantizeLinear", x, self.const(scale), self.u8_const(zero), out=out)


def _temporal_body(params: KeyerParams) -> onnx.GraphProto:
    """Scan body: one frame of the motion-adaptive matte filter, on ``(1, Hc, Wc)`` planes."""
    g = _Builder("b_")
    one = g.const(1.0)
    motion = g.op("Abs", g.op("Sub", "luma_in", "luma_prev"))
    k_motion = g.op("Min", g.op("Add", g.op("Mul", motion, g.const(1.0 / params.motion_threshold)),
                                g.const(params.temporal_min)), one)
    k = g.op("Max", k_motion, g.op("Sub", one, "valid_prev"))
    g.op("Add", "alpha_prev", g.op("Mul", k, g.op("Sub", "alpha_in", "alpha_prev")), out="alpha_next")
    g.op("Identity", "luma_in", out="luma_next")
    g.op("Max", "valid_prev", one, out="valid_next")
    g.op("Identity", "alpha_next", out="alpha_out")
    plane = [1, "Hc", "Wc"]
    vi = helper.make_tensor_value_info
    return helper.make_graph(
        g.nodes,
        "temporal_matte",
        [vi("alpha_prev", _F, plane), vi("luma_prev", _F, plane), vi("valid_prev", _F, [1]),
         vi("alpha_in", _F, plane), vi("luma_in", _F, plane)],
        [vi("alpha_next", _F, plane), vi("luma_next", _F, plane), vi("valid_next", _F, [1]), vi("alpha_out", _F, plane)],
    )


def _box(g: _Builder, x: str, radius: int) -> str:
    """Mean over a ``(2r+1)^2`` window, edges averaged over the pixels inside the frame.

    One AveragePool: for the small radii used here it is faster on the CPU
    provider than two 1-D passes (0.7 vs 1.0 ms per 1080p chroma plane).
    """
    size = 2 * radius + 1
    return g.op("AveragePool", x, kernel_shape=[size, size], pads=[radius] * 4, count_include_pad=0)


def _guided_coefficients(g: _Builder, guide: str, alpha: str, params: KeyerParams) -> tuple[str, str]:
    """Mean guided-filter coefficients ``(a, b)`` with ``alpha ~ a * guide + b``, each ``(N, 1, Hc, Wc)``."""
    r = params.guide_radius
    m_i, m_p = _box(g, guide, r), _box(g, alpha, r)
    m_ip, m_ii = _box(g, g.op("Mul", guide, alpha), r), _box(g, g.op("Mul", guide, guide), r)
    cov = g.op("Sub", m_ip, g.op("Mul", m_i, m_p))
    var = g.op("Sub", m_ii, g.op("Mul", m_i, m_i))
    a = g.op("Div", cov, g.op("Add", var, g.const(params.guide_eps)))
    b = g.op("Sub", m_p, g.op("Mul", a, m_i))
    return _box(g, a, r), _box(g, b, r)


def _i64(values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64))


def _to_rows(g: _Builder, x: str, subsampled: bool, mode: str = "nearest") -> str:
    """``(N, C, Hc, Wc)`` -> ``(N, C, Hc, 1, W)``: horizontal 2x resize for 4:2:0, then a row axis.

    Chroma is upsampled with ``mode="linear"``; 4:4:4 guided-filter
    coefficients only gain the row axis (:func:`_coefficients_to_luma`).
    """
    if subsampled:
        x = g.op("Resize", x, "", g.const(np.array([1.0, 1.0, 1.0, 2.0])), mode=mode)
    return g.op("Unsqueeze", x, g.op("Constant", value=_i64([3])))


def _chroma_footprint(g: _Builder, y_plane: str) -> str:
    """Luma ``(N, 1, H, W)`` averaged over each 4:2:0 chroma sample's footprint, ``(N, 1, H/2, W/2)``:
    ``(1, 3, 3, 1) / 8`` down (edge rows repeated), ``(1, 1) / 2`` across
    (:func:`models.fused_composite.luma_guide` says why)."""
    padded = g.op("Pad", y_plane, g.op("Constant", value=_i64([0, 0, 1, 0, 0, 0, 1, 0])), mode="edge")
    kernel = np.float32([[1, 1], [3, 3], [3, 3], [1, 1]])[None, None] / 16.0
    return g.op("Conv", padded, g.const(kernel), strides=[2, 2])


def _coefficients_to_luma(g: _Builder, x: str, subsampled: bool, luma_shape: str) -> str:
    """Guided-filter coefficients ``(N, 1, Hc, Wc)`` at every luma sample, in luma's row-pair form ``luma_shape``.

    4:2:0: a bilinear 2x resize with half-pixel centres, clamped at the edges
    (He & Sun, "Fast Guided Filter", 2015, upsample the coefficients bilinearly):
    holding them over each 2x2 footprint left steps of two luma samples along a
    moving edge (benchmark mean dtSSD 2.87 -> 2.85). 4:4:4: as they are.
    """
    if not subsampled:
        return _to_rows(g, x, subsampled)
    full = g.op("Resize", x, "", g.const(np.array([1.0, 1.0, 2.0, 2.0])), mode="linear")
    return g.op("Reshape", full, luma_shape)


def _inverse_light(g: _Builder, diff: str, guide: str, cb: str, cr: str, params: KeyerParams, black: float) -> str:
    """The reciprocal of the screen's light relative to the clean plate, ``(N, 1, Hc, Wc)``.
    The light is about 1 on the lit screen, 0.5 in a shadow that halves it, and
    the frame's gain under exposure flicker; its reciprocal is taken at the
    block grid, so the keyer multiplies where it would divide at chroma resolution.

    A colour-difference key scales with the screen's brightness, so a shadow on
    the screen reads as partial foreground. The ratio ``k = d / d(plate)`` is the
    light at a screen pixel; it is trusted where the pixel is the plate's colour
    made darker or brighter: its luma ratio agrees with ``k`` and its chroma has
    no component across the plate's. The trusted ratios are averaged by
    normalised convolution (Knutsson & Westin, CVPR 1993) over a wide window, so
    the estimate reaches under the actor from the screen around it. Where that
    window's mean trust is below ``LIGHT_TRUST`` (under and right beside the
    actor) the light blends toward that of a wider window (``light_reach``
    blocks), not the plate's: the actor's shadow beside a motion-blurred edge
    would otherwise read as partial foreground. Computed at half, then an
    eighth of the chroma resolution; a shadow is soft.
    """
    one = g.const(1.0)
    def half(x: str) -> str:  # pooled one by one: a Concat of the planes costs more than the pools
        return g.op("AveragePool", x, kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)

    d, y = half(diff), half(guide)
    cb, cr = half(cb), half(cr)
    inv_dp, inv_yp, w_b, w_r = g.split("screen_maps", 4)
    k = g.op("Mul", d, inv_dp)
    luma_gap = g.op("Sub", g.op("Mul", g.op("Sub", y, g.const(black)), inv_yp), k)
    hue_gap = g.op("Add", g.op("Mul", cb, w_b), g.op("Mul", cr, w_r))

    def closeness(x: str, tolerance: float) -> str:
        return g.op("Relu", g.op("Sub", one, g.op("Mul", g.op("Abs", x), g.const(1.0 / tolerance))))

    lit = g.op("Clip", g.op("Mul", g.op("Sub", k, g.const(0.2)), g.const(5.0)), g.const(0.0), one)
    trust = g.op("Mul", g.op("Mul", closeness(luma_gap, params.light_luma_tolerance),
                             closeness(hue_gap, params.light_hue_tolerance)), lit)
    both = g.op("Concat", g.op("Mul", trust, k), trust, axis=1)
    cell, r = params.light_block // 2, params.light_radius
    blocks = g.op("AveragePool", both, kernel_shape=[cell, cell], strides=[cell, cell], ceil_mode=1)
    eps = g.const(LIGHT_EPS)  # no trusted screen nearby: the plate's light (1)

    def window(radius: int) -> tuple[str, str]:  # the light and the mean trust over (2 radius + 1)^2 blocks
        sums = blocks if radius == 0 else g.op(
            "AveragePool", blocks, kernel_shape=[2 * radius + 1] * 2, pads=[radius] * 4, count_include_pad=1)
        num, den = g.split(sums, 2)
        return g.op("Div", g.op("Add", num, eps), g.op("Add", den, eps)), den

    light, den = window(r)
    if params.light_reach > 0:  # little trusted screen in the window: the light of the wider one
        far, _ = window(params.light_reach)
        near = g.op("Clip", g.op("Mul", den, g.const(1.0 / LIGHT_TRUST)), g.const(0.0), one)
        light = g.op("Add", far, g.op("Mul", near, g.op("Sub", light, far)))
    light = g.op("Clip", light, g.const(0.25), g.const(1.5))
    return g.op("Resize", g.op("Reciprocal", light), "", "", g.op("Shape", diff), mode="linear")


def _matte(
    g: _Builder, params: KeyerParams, luma_scale: float, luma_offset: float, chroma_form: np.ndarray, subsampled: bool,
    hold: bool = False,
) -> dict[str, str]:
    """Steps 1-4: chroma key, temporal filter, luma refinement. Returns named intermediates
    (on the CPU, :mod:`models.fused_matte` computes the same).

    Luma arrives as ``(N, 1, Hc, s, W)`` (the ``(N, 1, H, W)`` memory seen as
    pairs of rows that share a chroma row), so the chroma-resolution
    coefficients reach every luma sample by a bilinear resize
    (:func:`_coefficients_to_luma`).
    """
    y_full = g.op("Cast", "luma", to=_F)  # one pass; DequantizeLinear is slower (6.1 vs 3.4 ms per 1080p frame)
    shape = g.op("Shape", y_full)
    width = g.op("Slice", shape, g.op("Constant", value=_i64([4])), g.op("Constant", value=_i64([5])))
    plane_shape = g.op("Concat", g.op("Constant", value=_i64([0, 1, -1])), width, axis=0)
    y_plane = g.op("Reshape", y_full, plane_shape)
    y_low = _chroma_footprint(g, y_plane) if subsampled else y_plane
    guide = g.op("Mul", y_low, g.const(1.0 / luma_scale))
    cb, cr = (g.op("Sub", g.op("Cast", plane, to=_F), g.const(128.0)) for plane in g.split("chroma", 2))
    diff = _chroma_dot(g, cb, cr, chroma_form)
    offset = (1.0 - params.clip_black) / (params.clip_white - params.clip_black)
    inv_light = _inverse_light(g, diff, guide, cb, cr, params, luma_offset / luma_scale)
    raw = g.op("Sub", g.const(offset), g.op("Mul", diff, g.op("Mul", "key_scale", inv_light)))
    if params.off_axis > 0:  # max(clip(u), clip(v)) = clip(max(u, v)): one Clip for all
        raw = g.op("Max", raw, _off_axis_alpha(g, cb, cr, inv_light, params))
    if params.luma_excess > 0:
        raw = g.op("Max", raw, _luma_excess_alpha(g, guide, diff, params, luma_offset / luma_scale))
    raw = g.op("Clip", raw, g.const(0.0), g.const(1.0))
    if hold:  # a holdout matte (a face) is foreground whatever its colour
        raw = g.op("Max", raw, "hold")
    if params.temporal_min < 1.0:
        g.nodes.append(helper.make_node(
            "Scan", ["state_alpha", "state_luma", "state_valid", raw, guide],
            ["next_alpha", "next_luma", "next_valid", "alpha_t"], num_scan_inputs=2, body=_temporal_body(params)))
        alpha_t = "alpha_t"
    else:  # no temporal filter: the state passes through unchanged
        for name in ("alpha", "luma", "valid"):
            g.op("Identity", f"state_{name}", out=f"next_{name}")
        alpha_t = raw
    mean_a, mean_b = _guided_coefficients(g, guide, alpha_t, params)
    zero, one = g.const(0.0), g.const(1.0)
    transp_low = g.op("Clip", g.op("Sub", g.op("Sub", g.const(1.0), mean_b), g.op("Mul", mean_a, guide)), zero, one)
    # Full resolution: transparency 1 - alpha = a' Y + b'.
    a_full = _coefficients_to_luma(g, g.op("Mul", mean_a, g.const(-1.0 / luma_scale)), subsampled, shape)
    b_full = _coefficients_to_luma(g, g.op("Sub", one, mean_b), subsampled, shape)
    transp = g.op("Clip", g.op("Add", g.op("Mul", a_full, y_full), b_full), zero, one)
    return {"y_full": y_full, "cb": cb, "cr": cr, "diff": diff, "transp_low": transp_low, "transp": transp}


def _off_axis_alpha(g: _Builder, cb: str, cr: str, inv_light: str, params: KeyerParams) -> str:
    """A lower bound of alpha from chroma off the screen's axis, ``(N, 1, Hc, Wc)``, not yet clipped to [0, 1].

    In ``c = a f + (1 - a) s`` the chroma component perpendicular to the clean
    plate's ``s`` comes from the foreground alone, so ``a >= |c x s| / (|s| |f|)``;
    with the foreground at most ``1 / off_axis`` times as saturated as the screen
    (``|f| <= |s| / off_axis``, scaled by the screen's light),
    ``a >= off_axis |c x s| / (light |s|^2)``. A colour-difference key reads a
    foreground whose colour difference matches the screen's (an amber veil on a
    yellow-green screen) as screen; this bound keeps it. Mapped through the clip
    black/white like the key, with its own black point ``off_axis_black``: the
    hue of a real screen drifts from the clean plate's (the corners of the GRID
    backdrop), so this bound needs a higher floor than the key. ``off_axis`` 1
    (foreground no more saturated than the screen) left a 10 % matte in those
    corners; 0.6 does not. With the key's black point 0.05, they kept 6 %; 0.1 leaves 2 %.
    """
    scale = params.off_axis / (params.clip_white - params.clip_black)
    w_b, w_r = g.split(g.op("Mul", "plate_across", g.const(scale)), 2)  # per shot: (-s_r, s_b) / |s|^2, scaled
    across = g.op("Abs", g.op("Add", g.op("Mul", cb, w_b), g.op("Mul", cr, w_r)))  # scale |c x s| / |s|^2
    return g.op("Sub", g.op("Mul", across, inv_light), g.const(params.off_axis_black * scale / params.off_axis))


def _luma_excess_alpha(g: _Builder, guide: str, diff: str, params: KeyerParams, black: float) -> str:
    """A lower bound of alpha from luma above what the colour difference implies, ``(N, 1, Hc, Wc)``,
    not yet clipped to [0, 1].

    In ``c = a f + (1 - a) L s`` (``s`` the clean plate, ``L`` its light) the
    excess ``e = Y'(c) - d(c) Y'(s) / d(s) = a (Y'(f) - d(f) Y'(s) / d(s))`` does
    not depend on the light. Where ``d(f) >= 0`` it is at most ``a Y'(f) <= a``, so
    ``a >= e`` for a foreground no brighter than white; where ``d(f) < 0`` it is
    below the colour-difference key itself, which then rules. A colour-difference
    key reads a pale foreground mixed with the screen (a white veil, grey hair
    carrying spill: ``d(f)`` near 0) as mostly screen; this bound keeps it.
    Mapped through the clip black/white like the key, weighted by
    ``luma_excess``, with its own black point ``luma_excess_black`` on the 0-1
    luma scale. On the benchmark's clips (:mod:`tests.bench`) it took mean MAD
    from 7.54 to 6.36 and mean dtSSD from 3.58 to 3.30 (weight 1, black 0.03; the
    hard clip's 16.56 to 12.00), and the real clips' screens stay clean.
    """
    width = params.clip_white - params.clip_black
    excess = g.op("Sub", g.op("Sub", guide, g.const(black)), g.op("Mul", diff, "plate_luma_ratio"))
    return g.op("Sub", g.op("Mul", excess, g.const(params.luma_excess / width)), g.const(params.luma_excess_black / width))


def _chroma_dot(g: _Builder, cb: str, cr: str, form: np.ndarray) -> str:
    """``form[0] * Cb + form[1] * Cr`` of two ``(N, 1, Hc, Wc)`` planes.

    Written as Mul + Add on separate planes: a 1x1 Conv or a ReduceSum over a
    channel axis is several times slower on the CPU provider, and a Split copies.
    """
    return g.op("Add", g.op("Mul", cb, g.const(float(form[0]))), g.op("Mul", cr, g.const(float(form[1]))))


def _foreground_chroma(
    g: _Builder, m: dict[str, str], form: np.ndarray, spill: np.ndarray, params: KeyerParams
) -> tuple[str, str]:
    """Steps 5-6 on chroma: unmixed, despilled ``(Cb, Cr)`` planes at chroma resolution.

    The spill amount is the colour difference of the unmixed chroma,
    ``d(P) = d(C) - t d(plate)``, from the key's own ``d(C)``: ``d`` is linear.
    """
    transp_low = m["transp_low"]
    plate_cb, plate_cr = g.split("plate_chroma", 2)
    plate_diff = _chroma_dot(g, plate_cb, plate_cr, form)  # per shot
    spill_amount = g.op("Relu", g.op("Sub", m["diff"], g.op("Mul", transp_low, plate_diff)))
    planes = []
    for plane, plate, direction in ((m["cb"], plate_cb, spill[0]), (m["cr"], plate_cr, spill[1])):
        removed = g.op("Add", g.op("Mul", transp_low, plate), g.op("Mul", spill_amount, g.const(params.despill * float(direction))))
        planes.append(g.op("Sub", plane, removed))
    return planes[0], planes[1]


def _composite(g: _Builder, m: dict[str, str], fg_chroma: tuple[str, str], transp_low: str, luma_offset: float) -> None:
    """Step 7, composite: ``image_luma`` and ``image_chroma`` over the background planes
    (on the CPU, :mod:`models.fused_composite` computes the same).

    The premultiplied foreground is first limited to what a premultiplied colour
    can be, so where the matte is 0 nothing of the source (its noise, a shadow or
    fold the clean plate missed) leaks into the background: luma ``P_Y >= 0``
    (above black) and chroma ``|P_C| <= alpha * 128``. (A luma ceiling
    ``P_Y <= alpha`` too costs three more full-resolution passes and moved the
    composite error of the benchmark clips by under 0.25 levels, either way.)
    Luma: ``off + P + (1 - alpha) (bg - off)``.
    """
    transp = m["transp"]
    # off + max(P, 0) + t (bg - off) with P = Y - off - t (plate - off), as
    # max(Y - t (plate - off), off) + t (bg - off): the differences are per background
    # frame (B = 1 for a still), so 5 full-resolution passes (3 more than without the limit).
    bg_above = g.op("Sub", g.op("Cast", "bg_luma", to=_F), g.const(luma_offset))
    unmixed = g.op("Max", g.op("Sub", m["y_full"], g.op("Mul", transp, g.op("Sub", "plate_luma", g.const(luma_offset)))),
                   g.const(luma_offset))
    g.to_u8(g.op("Add", unmixed, g.op("Mul", transp, bg_above)), "image_luma")
    reach = g.op("Mul", g.op("Sub", g.const(1.0), transp_low), g.const(128.0))
    below = g.op("Neg", reach)
    mixed = []
    for fg, bg in zip(fg_chroma, g.split("bg_chroma", 2)):
        limited = g.op("Min", g.op("Max", fg, below), reach)
        bg_centred = g.op("Sub", g.op("Cast", bg, to=_F), g.const(128.0))
        mixed.append(g.to_u8(g.op("Add", limited, g.op("Mul", transp_low, bg_centred)), f"image_{len(mixed)}", zero=128))
    g.op("Concat", *mixed, axis=1, out="image_chroma")  # uint8: a quarter of the bytes of the float planes


def _layer(g: _Builder, m: dict[str, str], fg_chroma: tuple[str, str], luma_offset: float, subsampled: bool) -> None:
    """Step 7, layer: straight (unpremultiplied) luma and full-resolution chroma."""
    transp = m["transp"]
    alpha_safe = g.op("Max", g.op("Sub", g.const(1.0), transp), g.const(_EPS_ALPHA))
    y_black = g.op("Sub", m["y_full"], g.const(luma_offset))
    premult_y = g.op("Sub", y_black, g.op("Mul", transp, "plate_luma"))
    straight_y = g.op("Add", g.op("Div", premult_y, alpha_safe), g.const(luma_offset))
    g.to_u8(straight_y, "image_luma")
    both = g.op("Concat", *fg_chroma, axis=1)
    straight_c = g.op("Div", _to_rows(g, both, subsampled, mode="linear"), alpha_safe)
    g.to_u8(straight_c, "image_chroma", zero=128)


def build_keyer_model(
    chroma_form: np.ndarray,
    spill_chroma: np.ndarray,
    params: KeyerParams,
    output: KeyerOutput,
    subsampled: bool,
    luma_scale: float,
    luma_offset: float,
    hold: bool = False,
    matte: bool = True,
) -> onnx.ModelProto:
    """Build the keyer graph.

    Args:
        chroma_form: ``(2,)`` ``(c_b, c_r)``: the colour difference per centred chroma code value.
        spill_chroma: ``(2,)`` despill direction in centred chroma code values (``d`` of it is 1).
        params: keyer controls; clip/gain enter through the ``key_scale`` input.
        output: ``composite`` or ``layer`` (see :data:`models.keyer_params.KeyerOutput`).
        subsampled: 4:2:0 chroma (``Hc, Wc = H/2, W/2``) or 4:4:4 (``Hc, Wc = H, W``).
        luma_scale, luma_offset: code values per unit of Y' and of black (219/16 or 255/0).
        hold: add the ``hold`` input, a holdout matte at chroma resolution that
            raises the raw matte before the temporal and guided filters (the
            face region of a face replacement, so skin carrying spill is kept).
        matte: add the ``alpha`` output (a layer, a matte file or a face swap
            needs it; a plain composite does not, and skips its full-resolution pass).

    Full-resolution planes are passed in row-pair form ``(N, C, Hc, s, W)``
    (``s`` = 2 for 4:2:0, 1 for 4:4:4): the same memory as ``(N, C, H, W)``,
    reshaped for free by the caller.

    Graph inputs:
        ``luma`` ``(N, 1, Hc, s, W)`` uint8; ``chroma`` ``(N, 2, Hc, Wc)`` uint8
        (Cb, Cr); ``key_scale`` ``(1, 1, Hc, Wc)`` float32; ``plate_luma``
        ``(1, 1, Hc, s, W)`` float32 (code values; minus ``luma_offset`` for
        ``layer``); ``plate_chroma`` ``(1, 2, Hc, Wc)`` float32 centred;
        ``screen_maps`` ``(1, 4, Hq, Wq)``, ``plate_across`` ``(1, 2, Hc, Wc)`` and
        ``plate_luma_ratio`` ``(1, 1, Hc, Wc)`` float32 (:class:`models.keyer.ScreenInputs`);
        ``bg_luma`` ``(B, 1, Hc, s, W)`` and ``bg_chroma`` ``(B, 2, Hc, Wc)``
        uint8, ``B`` = N or 1 (``composite`` only); ``state_alpha``,
        ``state_luma`` ``(1, Hc, Wc)`` float32; ``state_valid`` ``(1,)``;
        ``hold`` ``(N, 1, Hc, Wc)`` float32 in [0, 1] (only with ``hold``).

    Graph outputs:
        ``image_luma`` ``(N, 1, Hc, s, W)`` uint8; ``image_chroma``
        ``(N, 2, Hc, Wc)`` uint8 (``layer``: ``(N, 2, Hc, s, W)``);
        ``alpha`` ``(N, 1, Hc, s, W)`` uint8 (with ``matte``); ``next_alpha``, ``next_luma``
        ``(1, Hc, Wc)`` float32; ``next_valid`` ``(1,)``.
    """
    g = _Builder()
    m = _matte(g, params, luma_scale, luma_offset, chroma_form, subsampled, hold)
    fg_chroma = _foreground_chroma(g, m, chroma_form, spill_chroma, params)
    transp_low = m["transp_low"]
    vi = helper.make_tensor_value_info
    s = 2 if subsampled else 1
    blocks = ["Hc", s, "W"]
    inputs = [vi("luma", _U8, ["N", 1, *blocks]), vi("chroma", _U8, ["N", 2, "Hc", "Wc"]),
              vi("key_scale", _F, [1, 1, "Hc", "Wc"]), vi("plate_luma", _F, [1, 1, *blocks]),
              vi("plate_chroma", _F, [1, 2, "Hc", "Wc"]), vi("screen_maps", _F, [1, 4, "Hq", "Wq"]),
              vi("plate_across", _F, [1, 2, "Hc", "Wc"]), vi("plate_luma_ratio", _F, [1, 1, "Hc", "Wc"])]
    chroma_out = ["N", 2, "Hc", "Wc"]
    if output == "composite":
        _composite(g, m, fg_chroma, transp_low, luma_offset)
        inputs += [vi("bg_luma", _U8, ["B", 1, *blocks]), vi("bg_chroma", _U8, ["B", 2, "Hc", "Wc"])]
    else:
        _layer(g, m, fg_chroma, luma_offset, subsampled)
        chroma_out = ["N", 2, *blocks]
    if matte:
        g.to_u8(m["transp"], "alpha", zero=255, scale=-1.0 / 255.0)  # 255 (1 - transparency)
    plane = [1, "Hc", "Wc"]
    inputs += [vi("state_alpha", _F, plane), vi("state_luma", _F, plane), vi("state_valid", _F, [1])]
    if hold:
        inputs.append(vi("hold", _F, ["N", 1, "Hc", "Wc"]))
    outputs = [vi("image_luma", _U8, ["N", 1, *blocks]), vi("image_chroma", _U8, chroma_out),
               *([vi("alpha", _U8, ["N", 1, *blocks])] if matte else []),
               vi("next_alpha", _F, plane), vi("next_luma", _F, plane), vi("next_valid", _F, [1])]
    graph = helper.make_graph(g.nodes, f"mattefarm_keyer_{output}", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mattefarm")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
