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
   at an edge (solid foreground and bare screen both nearby) moved toward the
   alpha that luma gives between the two (:func:`edge_luma`);
3. optionally (``temporal_min`` below 1; off by default), a motion-adaptive
   temporal filter over the batch (an ONNX ``Scan`` whose
   carried state is the previous matte and luma): on static pixels the matte
   moves towards the new raw alpha by ``temporal_min`` per frame, removing
   flicker; where luma changes by ``motion_threshold`` or more it follows at once;
4. luma refinement with the fast guided filter (He, Sun & Tang, "Guided Image
   Filtering", TPAMI 2013; He & Sun, "Fast Guided Filter", arXiv:1505.00996):
   the linear coefficients ``alpha ~ a Y' + b`` are fitted at chroma resolution
   against luma averaged over each chroma sample's footprint, upsampled bilinearly, and applied to the
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

Every per-pixel formula is :mod:`models.keyer_formulas`'s, traced into nodes
(:class:`models.keyer_tracer.Tracer`); this module writes only the stencils
(box means, the 4:2:0 footprint, the resizes, the temporal ``Scan``) and the wiring.
Tensors are NCHW. Outputs are rounded half to even to uint8 (QuantizeLinear).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

import models.keyer_formulas as kf
from models.keyer_params import LIGHT_EPS, LIGHT_TRUST, KeyerOutput, KeyerParams
from models.keyer_tracer import GraphBuilder, Tracer

OPSET = 17
_F = TensorProto.FLOAT
_U8 = TensorProto.UINT8


def _f32(value: float) -> np.float32:
    return np.float32(value)


def temporal_body(params: KeyerParams) -> onnx.GraphProto:
    """Scan body: one frame of the motion-adaptive matte filter (:func:`models.keyer_formulas.temporal_step`)
    on ``(1, Hc, Wc)`` planes; the state is the previous matte, the previous guide and ``valid``."""
    g = GraphBuilder("b_")
    t = g.tracer
    alpha = kf.temporal_step(t("alpha_in"), t("luma_in"), t("alpha_prev"), t("luma_prev"), t("valid_prev"),
                             _f32(params.temporal_min), _f32(1.0 / params.motion_threshold))
    g.op("Identity", alpha.name, out="alpha_next")
    g.op("Identity", "luma_in", out="luma_next")
    g.op("Max", "valid_prev", g.const(1.0), out="valid_next")
    g.op("Identity", alpha.name, out="alpha_out")
    plane: list[str | int] = [1, "Hc", "Wc"]
    vi = helper.make_tensor_value_info
    return helper.make_graph(
        g.nodes,
        "temporal_matte",
        [vi("alpha_prev", _F, plane), vi("luma_prev", _F, plane), vi("valid_prev", _F, [1]),
         vi("alpha_in", _F, plane), vi("luma_in", _F, plane)],
        [vi("alpha_next", _F, plane), vi("luma_next", _F, plane), vi("valid_next", _F, [1]), vi("alpha_out", _F, plane)],
    )


def box_mean(g: GraphBuilder, x: Tracer, radius: int) -> Tracer:
    """Stencil: mean over a ``(2r+1)^2`` window, edge windows averaged over the pixels inside the frame.

    One AveragePool: for the small radii used here it is faster on the CPU
    provider than two 1-D passes (0.7 vs 1.0 ms per 1080p chroma plane).
    """
    size = 2 * radius + 1
    return g.tracer(g.op("AveragePool", x.name, kernel_shape=[size, size], pads=[radius] * 4, count_include_pad=0))


def block_mean(g: GraphBuilder, x: str, cell: int) -> str:
    """Stencil: mean over ``cell x cell`` blocks (a block cut by the edge averages what it holds)."""
    return g.op("AveragePool", x, kernel_shape=[cell, cell], strides=[cell, cell], ceil_mode=1)


def zero_box_mean(g: GraphBuilder, x: str, radius: int) -> str:
    """Stencil: sum over a ``(2r+1)^2`` window over ``(2r+1)^2``, zero outside the frame."""
    if radius == 0:
        return x
    return g.op("AveragePool", x, kernel_shape=[2 * radius + 1] * 2, pads=[radius] * 4, count_include_pad=1)


def extreme_pool(g: GraphBuilder, x: Tracer, radius: int, grow: bool) -> Tracer:
    """Stencil: maximum (``grow``) or minimum over a ``(2r+1)^2`` window, over the pixels inside the frame
    (MaxPool's padding never wins a maximum; a minimum is the maximum of the negation, negated)."""
    size = 2 * radius + 1
    source = x if grow else -x
    pooled = g.tracer(g.op("MaxPool", source.name, kernel_shape=[size, size], pads=[radius] * 4))
    return pooled if grow else -pooled


def edge_matte(g: GraphBuilder, raw: Tracer, params: KeyerParams) -> Tracer:
    """The screen matte's edge controls on ``(N, 1, Hc, Wc)``, in Keylight's order: despot black (a
    closing), despot white (an opening), shrink/grow, softness (:func:`models.keyer_reference.edge_matte`)."""
    if params.despot_black:
        raw = extreme_pool(g, extreme_pool(g, raw, params.despot_black, True), params.despot_black, False)
    if params.despot_white:
        raw = extreme_pool(g, extreme_pool(g, raw, params.despot_white, False), params.despot_white, True)
    if params.shrink_grow:
        raw = extreme_pool(g, raw, abs(params.shrink_grow), params.shrink_grow > 0)
    if params.softness:
        raw = box_mean(g, raw, params.softness)
    return raw


def light_wrap(g: GraphBuilder, luma_u8: str, chroma_u8: list[str], transp_low: Tracer, params: KeyerParams,
               subsampled: bool) -> None:
    """The composite's light wrap (:func:`models.keyer_reference.light_wrap`): the rounded composite
    ``luma_u8`` ``(N, 1, Hc, s, W)`` and ``chroma_u8`` (Cb, Cr ``(N, 1, Hc, Wc)``) mixed toward the
    plate's box-blurred light by :func:`models.keyer_formulas.wrap_amount`, into ``image_luma`` and
    ``image_chroma``."""
    r = params.light_wrap_radius
    amount = kf.wrap_amount(transp_low, box_mean(g, transp_low, r), _f32(params.light_wrap))
    wrapped: list[str] = []
    for k, (plane, bg) in enumerate(zip(chroma_u8, g.split("bg_chroma", 2))):
        plate = box_mean(g, g.tracer(g.op("Cast", bg, to=_F)) - kf.CENTRE, r)
        value = kf.light_wrapped(g.tracer(g.op("Cast", plane, to=_F)) - kf.CENTRE, amount, plate)
        wrapped.append(g.to_u8(value.name, f"wrapped_{k}", zero=128))
    g.op("Concat", *wrapped, axis=1, out="image_chroma")
    bg_luma = g.op("Cast", "bg_luma", to=_F)
    bg_shape = g.op("Shape", bg_luma)
    plane_shape = g.op("Concat", g.i64([0, 1, -1]), g.op("Slice", bg_shape, g.i64([4]), g.i64([5])), axis=0)
    bg_plane = g.op("Reshape", bg_luma, plane_shape)
    plate_y = box_mean(g, g.tracer(chroma_footprint(g, bg_plane) if subsampled else bg_plane), r)
    luma_shape = g.op("Shape", luma_u8)
    value = kf.light_wrapped(g.tracer(g.op("Cast", luma_u8, to=_F)), coefficients_to_luma(g, amount, subsampled, luma_shape),
                             coefficients_to_luma(g, plate_y, subsampled, bg_shape))
    g.to_u8(value.name, "image_luma")


def edge_luma(g: GraphBuilder, raw: Tracer, guide: Tracer, inv_light: Tracer, params: KeyerParams,
              black: float) -> Tracer:
    """The key moved toward luma's alpha at edges (:func:`models.keyer_formulas.luma_line`), the window
    means over ``(2 edge_luma_radius + 1)^2`` pixels inside the frame, ``(N, 1, Hc, Wc)``."""
    solid, r = kf.solid_weight(raw), params.edge_luma_radius
    solid_luma, solid_mean, bare_mean = (box_mean(g, x, r) for x in (solid * guide, solid, kf.bare_weight(raw)))
    return kf.luma_line(raw, guide, solid_luma, solid_mean, bare_mean, g.tracer("plate_guide"), inv_light, _f32(black),
                        _f32(params.edge_luma), g.tracer("line_contrast"))


def guided_means(g: GraphBuilder, guide: Tracer, alpha: Tracer, params: KeyerParams) -> tuple[Tracer, Tracer]:
    """Window means of the guided filter's coefficients ``(a, b)``, ``alpha ~ a guide + b``, each ``(N, 1, Hc, Wc)``."""
    r = params.guide_radius
    m_i, m_p, m_ip, m_ii = (box_mean(g, x, r) for x in (guide, alpha, guide * alpha, guide * guide))
    a, b = kf.guided_coefficients(m_i, m_p, m_ip, m_ii, _f32(params.guide_eps))
    return box_mean(g, a, r), box_mean(g, b, r)


def rows_form(g: GraphBuilder, x: str, subsampled: bool, mode: str = "nearest") -> str:
    """Stencil: ``(N, C, Hc, Wc)`` -> ``(N, C, Hc, 1, W)``: a horizontal 2x resize for 4:2:0 (``mode``),
    then a row axis, so each chroma row is shared by its two luma rows (the layer's chroma)."""
    if subsampled:
        x = g.op("Resize", x, "", g.const(np.array([1.0, 1.0, 1.0, 2.0])), mode=mode)
    return g.op("Unsqueeze", x, g.i64([3]))


def chroma_footprint(g: GraphBuilder, y_plane: str) -> str:
    """Stencil: luma ``(N, 1, H, W)`` averaged over each 4:2:0 chroma sample's footprint, ``(N, 1, H/2, W/2)``:
    ``(1, 3, 3, 1) / 8`` down (edge rows repeated), ``(1, 1) / 2`` across
    (:func:`models.fused_composite.luma_guide` says why)."""
    padded = g.op("Pad", y_plane, g.i64([0, 0, 1, 0, 0, 0, 1, 0]), mode="edge")
    kernel = np.array([[1, 1], [3, 3], [3, 3], [1, 1]], dtype=np.float32)[None, None] / 16.0
    return g.op("Conv", padded, g.const(kernel), strides=[2, 2])


def coefficients_to_luma(g: GraphBuilder, x: Tracer, subsampled: bool, luma_shape: str) -> Tracer:
    """Stencil: coefficients ``(N, 1, Hc, Wc)`` at every luma sample, in luma's row-pair form ``luma_shape``.

    4:2:0: a bilinear 2x resize with half-pixel centres, clamped at the edges
    (He & Sun, "Fast Guided Filter", 2015, upsample the coefficients bilinearly):
    holding them over each 2x2 footprint left steps of two luma samples along a
    moving edge (benchmark mean dtSSD 2.87 -> 2.85). 4:4:4: as they are.
    """
    if not subsampled:
        return g.tracer(rows_form(g, x.name, subsampled))
    full = g.op("Resize", x.name, "", g.const(np.array([1.0, 1.0, 2.0, 2.0])), mode="linear")
    return g.tracer(g.op("Reshape", full, luma_shape))


def _inverse_light(g: GraphBuilder, diff: Tracer, guide: Tracer, cb: Tracer, cr: Tracer, params: KeyerParams,
                   black: float) -> Tracer:
    """The reciprocal of the screen's light relative to the clean plate, ``(N, 1, Hc, Wc)``.
    The light is about 1 on the lit screen, 0.5 in a shadow that halves it, and
    the frame's gain under exposure flicker; its reciprocal is taken at the
    block grid, so the keyer multiplies where it would divide at chroma resolution.

    A colour-difference key scales with the screen's brightness, so a shadow on
    the screen reads as partial foreground. The ratio ``k = d / d(plate)`` is the
    light at a screen pixel, weighted by trust (:func:`models.keyer_formulas.light_trust`);
    the trusted ratios are averaged by normalised convolution over a wide window,
    so the estimate reaches under the actor from the screen around it. Where that
    window's mean trust is below ``LIGHT_TRUST`` (under and right beside the
    actor) the light blends toward that of a wider window (``light_reach``
    blocks), not the plate's: the actor's shadow beside a motion-blurred edge
    would otherwise read as partial foreground. Computed at half, then an
    eighth of the chroma resolution; a shadow is soft.
    """
    def half(x: Tracer) -> Tracer:  # pooled one by one: a Concat of the planes costs more than the pools
        return g.tracer(block_mean(g, x.name, 2))

    inv_dp, inv_yp, w_b, w_r = (g.tracer(name) for name in g.split("screen_maps", 4))
    weighted, trust = kf.light_trust(half(diff), half(guide), half(cb), half(cr), inv_dp, inv_yp, w_b, w_r, _f32(black),
                                     _f32(1.0 / params.light_luma_tolerance), _f32(1.0 / params.light_hue_tolerance))
    both = g.op("Concat", weighted.name, trust.name, axis=1)
    blocks = block_mean(g, both, params.light_block // 2)
    eps = _f32(LIGHT_EPS)

    def window(radius: int) -> tuple[Tracer, Tracer]:  # the light and the mean trust over (2 radius + 1)^2 blocks
        num, den = (g.tracer(name) for name in g.split(zero_box_mean(g, blocks, radius), 2))
        return kf.light_ratio(num, den, eps), den

    light, den = window(params.light_radius)
    if params.light_reach > 0:  # little trusted screen in the window: the light of the wider one
        far, _ = window(params.light_reach)
        light = kf.light_blend(light, far, den, _f32(1.0 / LIGHT_TRUST))
    inverse = kf.inverse_light(light)
    return g.tracer(g.op("Resize", inverse.name, "", "", g.op("Shape", diff.name), mode="linear"))


def _matte(
    g: GraphBuilder, params: KeyerParams, luma_scale: float, luma_offset: float, chroma_form: np.ndarray,
    subsampled: bool, hold: bool = False, garbage: bool = False, core: bool = False,
) -> dict[str, Tracer]:
    """Steps 1-4: chroma key, temporal filter, luma refinement. Returns named intermediates
    (on the CPU, :mod:`models.fused_matte` computes the same).

    Luma arrives as ``(N, 1, Hc, s, W)`` (the ``(N, 1, H, W)`` memory seen as
    pairs of rows that share a chroma row), so the chroma-resolution
    coefficients reach every luma sample by a bilinear resize
    (:func:`coefficients_to_luma`).
    """
    y_full = g.op("Cast", "luma", to=_F)  # one pass; DequantizeLinear is slower (6.1 vs 3.4 ms per 1080p frame)
    shape = g.op("Shape", y_full)
    width = g.op("Slice", shape, g.i64([4]), g.i64([5]))
    plane_shape = g.op("Concat", g.i64([0, 1, -1]), width, axis=0)
    y_plane = g.op("Reshape", y_full, plane_shape)
    y_low = g.tracer(chroma_footprint(g, y_plane) if subsampled else y_plane)
    guide = y_low * _f32(1.0 / luma_scale)
    cb, cr = (g.tracer(g.op("Cast", plane, to=_F)) - kf.CENTRE for plane in g.split("chroma", 2))
    f0, f1 = _f32(chroma_form[0]), _f32(chroma_form[1])
    diff = kf.colour_difference(cb, cr, f0, f1)
    black = luma_offset / luma_scale
    inv_light = _inverse_light(g, diff, guide, cb, cr, params, black)
    width_01 = params.clip_white - params.clip_black
    w_b, w_r = (g.tracer(name) for name in g.split("plate_across", 2))  # per shot, scaled by the caller
    raw = kf.raw_alpha(
        cb, cr, guide, inv_light, g.tracer("key_scale"), f0, f1, _f32((1.0 - params.clip_black) / width_01),
        params.off_axis > 0, w_b, w_r, _f32(params.off_axis_black / width_01),
        params.luma_excess > 0, _f32(black), g.tracer("plate_luma_ratio"), _f32(params.luma_excess / width_01),
        _f32(params.luma_excess_black / width_01))
    if params.edge_luma > 0:  # at an edge, alpha also from luma between the solid foreground and the lit screen
        raw = edge_luma(g, raw, guide, inv_light, params, black)
    if hold:  # a holdout matte (a face) is foreground whatever its colour
        raw = kf.held(raw, g.tracer("hold"))
    if params.edge_matte:  # despot, shrink/grow, softness
        raw = edge_matte(g, raw, params)
    if params.temporal_min < 1.0:
        g.nodes.append(helper.make_node(
            "Scan", ["state_alpha", "state_luma", "state_valid", raw.name, guide.name],
            ["next_alpha", "next_luma", "next_valid", "alpha_t"], num_scan_inputs=2, body=temporal_body(params)))
        alpha_t = g.tracer("alpha_t")
    else:  # no temporal filter: the state passes through unchanged
        for name in ("alpha", "luma", "valid"):
            g.op("Identity", f"state_{name}", out=f"next_{name}")
        alpha_t = raw
    if core:  # after the temporal filter: its state never holds the core or garbage matte (no lag)
        alpha_t = kf.held(alpha_t, g.tracer("core"))
    if garbage:
        alpha_t = kf.garbage_cut(alpha_t, g.tracer("garbage"))
    mean_a, mean_b = guided_means(g, guide, alpha_t, params)
    ta, tb = kf.transparency_coefficients(mean_a, mean_b, _f32(1.0 / luma_scale))
    transp_low = kf.transparency(ta, tb, y_low)
    transp = kf.transparency(coefficients_to_luma(g, ta, subsampled, shape),
                             coefficients_to_luma(g, tb, subsampled, shape), g.tracer(y_full))
    return {"y_full": g.tracer(y_full), "cb": cb, "cr": cr, "diff": diff, "transp_low": transp_low, "transp": transp}


def _foreground_chroma(
    g: GraphBuilder, m: dict[str, Tracer], form: np.ndarray, spill: np.ndarray, params: KeyerParams
) -> tuple[Tracer, Tracer]:
    """Steps 5-6 on chroma: unmixed, despilled ``(Cb, Cr)`` planes at chroma resolution
    (:func:`models.keyer_formulas.spill_amount`, :func:`models.keyer_formulas.premultiplied_chroma`)."""
    t = m["transp_low"]
    plate_cb, plate_cr = (g.tracer(name) for name in g.split("plate_chroma", 2))
    plate_diff = kf.colour_difference(plate_cb, plate_cr, _f32(form[0]), _f32(form[1]))  # per shot
    amount = kf.spill_amount(m["diff"], t, plate_diff)
    return (kf.premultiplied_chroma(m["cb"], t, plate_cb, amount, _f32(params.despill * spill[0])),
            kf.premultiplied_chroma(m["cr"], t, plate_cr, amount, _f32(params.despill * spill[1])))


def _composite(g: GraphBuilder, m: dict[str, Tracer], fg_chroma: tuple[Tracer, Tracer], luma_offset: float,
               params: KeyerParams | None = None, subsampled: bool = True) -> None:
    """Step 7, composite: ``image_luma`` and ``image_chroma`` over the background planes
    (:func:`models.keyer_formulas.over_luma`, :func:`models.keyer_formulas.over_chroma`).

    The premultiplied foreground is first limited to what a premultiplied colour
    can be, so where the matte is 0 nothing of the source (its noise, a shadow or
    fold the clean plate missed) leaks into the background. (A luma ceiling
    ``P_Y <= alpha`` too costs three more full-resolution passes and moved the
    composite error of the benchmark clips by under 0.25 levels, either way.)
    """
    bg_luma = g.tracer(g.op("Cast", "bg_luma", to=_F))
    image_luma = kf.over_luma(m["y_full"], m["transp"], g.tracer("plate_luma"), bg_luma, _f32(luma_offset))
    wrap = params if params is not None and params.light_wrap > 0 else None  # then the rounded planes are wrapped
    luma_u8 = g.to_u8(image_luma.name, "unwrapped_luma" if wrap else "image_luma")
    mixed: list[str] = []
    for fg, bg in zip(fg_chroma, g.split("bg_chroma", 2)):
        bg_centred = g.tracer(g.op("Cast", bg, to=_F)) - kf.CENTRE
        value = kf.over_chroma(fg, m["transp_low"], bg_centred)
        mixed.append(g.to_u8(value.name, f"{'unwrapped' if wrap else 'image'}_{len(mixed)}", zero=128))
    if wrap is not None:
        light_wrap(g, luma_u8, mixed, m["transp_low"], wrap, subsampled)
        return
    g.op("Concat", *mixed, axis=1, out="image_chroma")  # uint8: a quarter of the bytes of the float planes


def _layer(g: GraphBuilder, m: dict[str, Tracer], fg_chroma: tuple[Tracer, Tracer], luma_offset: float,
           subsampled: bool) -> None:
    """Step 7, layer: straight (unpremultiplied) luma and full-resolution chroma
    (:func:`models.keyer_formulas.straight_luma`, :func:`models.keyer_formulas.straight_chroma`)."""
    straight_y = kf.straight_luma(m["y_full"], m["transp"], g.tracer("plate_luma"), _f32(luma_offset))
    g.to_u8(straight_y.name, "image_luma")
    both = g.op("Concat", fg_chroma[0].name, fg_chroma[1].name, axis=1)
    straight_c = kf.straight_chroma(g.tracer(rows_form(g, both, subsampled, mode="linear")), m["transp"])
    g.to_u8(straight_c.name, "image_chroma", zero=128)


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
    garbage: bool = False,
    core: bool = False,
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
        garbage, core: add the ``garbage`` and ``core`` inputs, mattes at chroma resolution
            that cut the filtered matte (:func:`models.keyer_formulas.garbage_cut`) and raise it
            (:func:`models.keyer_formulas.held`) after the temporal filter, before the guided filter.

    Full-resolution planes are passed in row-pair form ``(N, C, Hc, s, W)``
    (``s`` = 2 for 4:2:0, 1 for 4:4:4): the same memory as ``(N, C, H, W)``,
    reshaped for free by the caller.

    Graph inputs:
        ``luma`` ``(N, 1, Hc, s, W)`` uint8; ``chroma`` ``(N, 2, Hc, Wc)`` uint8
        (Cb, Cr); ``key_scale`` ``(1, 1, Hc, Wc)`` float32; ``plate_luma``
        ``(1, 1, Hc, s, W)`` float32 (the clean plate's Y' minus ``luma_offset``,
        code values); ``plate_chroma`` ``(1, 2, Hc, Wc)`` float32 centred;
        ``screen_maps`` ``(1, 4, Hq, Wq)``, ``plate_luma_ratio`` and ``plate_guide`` ``(1, 1, Hc, Wc)``
        float32 and ``line_contrast`` ``(1, 1, 1, 1)`` (:class:`models.keyer.ScreenInputs`); ``plate_across`` ``(1, 2, Hc, Wc)``
        float32, the plate's across-weights times ``off_axis / (clip_white - clip_black)``;
        ``bg_luma`` ``(B, 1, Hc, s, W)`` and ``bg_chroma`` ``(B, 2, Hc, Wc)``
        uint8, ``B`` = N or 1 (``composite`` only); ``state_alpha``,
        ``state_luma`` ``(1, Hc, Wc)`` float32; ``state_valid`` ``(1,)``;
        ``hold`` ``(N, 1, Hc, Wc)`` float32 in [0, 1] (only with ``hold``); ``garbage`` and
        ``core`` the same (only with ``garbage``, ``core``).

    Graph outputs:
        ``image_luma`` ``(N, 1, Hc, s, W)`` uint8; ``image_chroma``
        ``(N, 2, Hc, Wc)`` uint8 (``layer``: ``(N, 2, Hc, s, W)``);
        ``alpha`` ``(N, 1, Hc, s, W)`` uint8 (with ``matte``); ``next_alpha``, ``next_luma``
        ``(1, Hc, Wc)`` float32; ``next_valid`` ``(1,)``.
    """
    g = GraphBuilder()
    m = _matte(g, params, luma_scale, luma_offset, chroma_form, subsampled, hold, garbage, core)
    fg_chroma = _foreground_chroma(g, m, chroma_form, spill_chroma, params)
    vi = helper.make_tensor_value_info
    s = 2 if subsampled else 1
    blocks: list[str | int] = ["Hc", s, "W"]
    inputs = [vi("luma", _U8, ["N", 1, *blocks]), vi("chroma", _U8, ["N", 2, "Hc", "Wc"]),
              vi("key_scale", _F, [1, 1, "Hc", "Wc"]), vi("plate_luma", _F, [1, 1, *blocks]),
              vi("plate_chroma", _F, [1, 2, "Hc", "Wc"]), vi("screen_maps", _F, [1, 4, "Hq", "Wq"]),
              vi("plate_across", _F, [1, 2, "Hc", "Wc"]), vi("plate_luma_ratio", _F, [1, 1, "Hc", "Wc"]),
              vi("plate_guide", _F, [1, 1, "Hc", "Wc"]), vi("line_contrast", _F, [1, 1, 1, 1])]
    chroma_out: list[str | int] = ["N", 2, "Hc", "Wc"]
    if output == "composite":
        _composite(g, m, fg_chroma, luma_offset, params, subsampled)
        inputs += [vi("bg_luma", _U8, ["B", 1, *blocks]), vi("bg_chroma", _U8, ["B", 2, "Hc", "Wc"])]
    else:
        _layer(g, m, fg_chroma, luma_offset, subsampled)
        chroma_out = ["N", 2, *blocks]
    if matte:
        g.to_u8(m["transp"].name, "alpha", zero=255, scale=-1.0 / 255.0)  # 255 (1 - transparency)
    plane: list[str | int] = [1, "Hc", "Wc"]
    inputs += [vi("state_alpha", _F, plane), vi("state_luma", _F, plane), vi("state_valid", _F, [1])]
    if hold:
        inputs.append(vi("hold", _F, ["N", 1, "Hc", "Wc"]))
    inputs += [vi(name, _F, ["N", 1, "Hc", "Wc"]) for name, wanted in (("garbage", garbage), ("core", core)) if wanted]
    outputs = [vi("image_luma", _U8, ["N", 1, *blocks]), vi("image_chroma", _U8, chroma_out),
               *([vi("alpha", _U8, ["N", 1, *blocks])] if matte else []),
               vi("next_alpha", _F, plane), vi("next_luma", _F, plane), vi("next_valid", _F, [1])]
    graph = helper.make_graph(g.nodes, f"mattefarm_keyer_{output}", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mattefarm")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
