"""The screen keyer's per-pixel maths, written once for every form of the keyer.

Each function here is one per-pixel formula of the keyer (see
:mod:`models.keyer_graph` for the method and its sources). They use only
arithmetic operators and the numpy ufuncs ``minimum``, ``maximum``, ``abs``
and ``rint``, with ``float32`` constants, so the same function runs three ways:

- on numpy arrays: the float64 reference (:mod:`models.keyer_reference`);
- inlined into the numba loops of the fused CPU keyer on ``float32`` scalars
  (:mod:`models.fused_matte`, :mod:`models.fused_composite`, through
  :func:`models.keyer_jit.jit_formulas`); the ``float32`` constants keep the
  loops in single precision, as a Python ``float`` literal would not;
- on :class:`models.keyer_tracer.Tracer` values, whose operators and
  ``__array_ufunc__`` emit ONNX nodes: the keyer graph (:mod:`models.keyer_graph`).

Only the stencils (box means, the 4:2:0 footprint, the bilinear resizes, the
temporal scan over frames) are written per form, each with its own parity test
(``tests/models/test_keyer_stencils.py``). Change a formula here and every form
changes with it (``tests/models/test_keyer_formulas.py`` checks that).

Arguments are arrays of one shape (numpy), ``float32`` scalars (numba) or tracers;
the parameters (tolerances, scales, flags) are ``np.float32`` scalars and bools.
Units: ``cb``, ``cr`` centred chroma code values; ``y`` luma code values;
``guide`` luma on the 0-1 scale (code values over ``luma_scale``, black not
removed); transparency ``t = 1 - alpha`` in [0, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np

ZERO = np.float32(0.0)
ONE = np.float32(1.0)
CENTRE = np.float32(128.0)
"""The code value of zero chroma (8-bit)."""
CODE_MAX = np.float32(255.0)
LIT_FLOOR = np.float32(0.2)
"""Light ratio below which a pixel is not trusted as lit screen (ramps to full trust at 0.4)."""
LIT_RAMP = np.float32(5.0)
LIGHT_MIN = np.float32(0.25)
"""The screen's light is held in [LIGHT_MIN, LIGHT_MAX] of the clean plate's."""
LIGHT_MAX = np.float32(1.5)
EPS_ALPHA = np.float32(1.0 / 1024.0)
"""Smallest alpha a straight (unpremultiplied) colour is divided by."""

Value = Any
"""A numpy array, a float32 scalar inside numba, or a :class:`models.keyer_tracer.Tracer`."""


def clip01(x: Value) -> Value:
    """``x`` limited to [0, 1]."""
    return np.minimum(np.maximum(x, ZERO), ONE)


def colour_difference(cb: Value, cr: Value, f0: Value, f1: Value) -> Value:
    """The colour-difference key ``d = f0 Cb + f1 Cr`` (:meth:`models.yuv.YuvMatrix.chroma_form`):
    the RGB colour difference ``w . RGB`` with weights summing to zero, from centred chroma alone."""
    return f0 * cb + f1 * cr


def closeness(x: Value, inv_tolerance: Value) -> Value:
    """1 at ``x = 0`` falling linearly to 0 at ``|x| = 1 / inv_tolerance``."""
    return np.maximum(ONE - np.abs(x) * inv_tolerance, ZERO)


def light_trust(d: Value, y: Value, cb: Value, cr: Value, inv_dp: Value, inv_yp: Value, w_b: Value, w_r: Value,
                black: Value, inv_luma_tol: Value, inv_hue_tol: Value) -> tuple[Value, Value]:
    """The screen's light ratio ``k = d / d(plate)`` at one half-resolution sample, weighted by how
    much it is trusted: ``(trust k, trust)``.

    A pixel is trusted as lit screen where it is the plate's colour made darker
    or brighter: its luma ratio agrees with ``k`` (``luma_gap``) and its chroma
    has no component across the plate's (``hue_gap``), and ``k`` is not near 0.
    The weighted sums are averaged by normalised convolution (Knutsson & Westin,
    "Normalized and differential convolution", CVPR 1993): :func:`light_ratio`.

    Args:
        d, y, cb, cr: 2x2 means of the colour difference, the guide (0-1), Cb and Cr.
        inv_dp, inv_yp, w_b, w_r: the plate's maps (:func:`models.keyer.screen_maps`).
        black: luma black on the guide's scale. inv_luma_tol, inv_hue_tol: reciprocal tolerances.
    """
    k = d * inv_dp
    luma_gap = (y - black) * inv_yp - k
    hue_gap = cb * w_b + cr * w_r
    lit = clip01((k - LIT_FLOOR) * LIT_RAMP)
    trust = closeness(luma_gap, inv_luma_tol) * closeness(hue_gap, inv_hue_tol) * lit
    return trust * k, trust


def light_ratio(num: Value, den: Value, eps: Value) -> Value:
    """The light from window means of ``trust k`` and ``trust``: ``(num + eps) / (den + eps)``
    (no trusted screen nearby: the plate's light, 1)."""
    return (num + eps) / (den + eps)


def light_blend(near: Value, far: Value, den: Value, inv_trust: Value) -> Value:
    """The near window's light where it holds trusted screen (mean trust ``den`` at least
    ``1 / inv_trust``), blending toward the wider window's light ``far`` below that."""
    return far + clip01(den * inv_trust) * (near - far)


def inverse_light(light: Value) -> Value:
    """``1 / light``, the light first held in [LIGHT_MIN, LIGHT_MAX]."""
    return ONE / np.minimum(np.maximum(light, LIGHT_MIN), LIGHT_MAX)


def raw_alpha(cb: Value, cr: Value, guide: Value, inv_light: Value, key_scale: Value, f0: Value, f1: Value,
              offset: Value, off_axis: bool, w_b: Value, w_r: Value, across_floor: Value, luma_excess: bool,
              black: Value, luma_ratio: Value, excess_scale: Value, excess_floor: Value) -> Value:
    """The key before the filters, clipped to [0, 1].

    ``offset - d key_scale / light`` (``offset`` and ``key_scale`` carry the clip
    black/white, the screen gain and the clean plate's ``1 / d(plate)``), raised
    to two lower bounds of alpha that a colour-difference key misses, each mapped
    through the clip black/white like the key, with its own black point:

    Off the screen's axis (``off_axis``). In ``c = a f + (1 - a) s`` the chroma
    component perpendicular to the clean plate's ``s`` comes from the foreground
    alone, so ``a >= |c x s| / (|s| |f|)``; with the foreground at most
    ``1 / off_axis`` times as saturated as the screen (``|f| <= |s| / off_axis``,
    scaled by the screen's light), ``a >= off_axis |c x s| / (light |s|^2)``
    (``w_b``, ``w_r``: the plate's across-weights ``(-s_r, s_b) / |s|^2`` already
    times ``off_axis / (white - black)``; ``across_floor``: ``off_axis_black / (white - black)``).
    A colour-difference key reads a foreground whose colour difference matches
    the screen's (an amber veil on a yellow-green screen) as screen; this bound
    keeps it. The hue of a real screen drifts from the clean plate's (the corners
    of the GRID backdrop), so this bound needs a higher floor than the key:
    ``off_axis`` 1 left a 10 % matte in those corners, 0.6 does not; with the
    key's black point 0.05 they kept 6 %, 0.1 leaves 2 %.

    Luma excess (``luma_excess``). In ``c = a f + (1 - a) L s`` (``L`` the screen's
    light) the excess ``e = Y'(c) - d(c) Y'(s) / d(s) = a (Y'(f) - d(f) Y'(s) / d(s))``
    does not depend on the light. Where ``d(f) >= 0`` it is at most ``a Y'(f) <= a``,
    so ``a >= e`` for a foreground no brighter than white; where ``d(f) < 0`` it is
    below the colour-difference key itself, which then rules. A colour-difference
    key reads a pale foreground mixed with the screen (a white veil, grey hair
    carrying spill) as mostly screen; this bound keeps it (``luma_ratio``: the
    plate's ``Y' / d``; ``excess_scale``: ``luma_excess / (white - black)``). On the
    benchmark's clips it took mean MAD from 7.54 to 6.36 and mean dtSSD from 3.58
    to 3.30 (weight 1, black 0.03), and the real clips' screens stay clean.
    """
    d = colour_difference(cb, cr, f0, f1)
    raw = offset - d * (key_scale * inv_light)
    if off_axis:
        raw = np.maximum(raw, np.abs(cb * w_b + cr * w_r) * inv_light - across_floor)
    if luma_excess:
        raw = np.maximum(raw, (guide - black - d * luma_ratio) * excess_scale - excess_floor)
    return clip01(raw)


SOLID_FROM = np.float32(0.9)
"""Raw alpha from which a pixel counts as solid foreground for :func:`luma_line` (full weight at 1)."""
SOLID_RAMP = np.float32(10.0)
BARE_BELOW = np.float32(0.1)
"""Raw alpha below which a pixel counts as bare screen for :func:`luma_line` (full weight at 0)."""
BARE_RAMP = np.float32(10.0)
LINE_NEAR = np.float32(1.0 / 0.15)
"""The reciprocal of the window share of solid (and of bare) pixels at which :func:`luma_line` fully
trusts the window's solid foreground (and finds the pixel at an edge)."""
LINE_CONTRAST_FLOOR = np.float32(0.02)
"""The least luma gap (0-1 scale, about 4 code values) between the solid foreground and the lit
screen at which :func:`luma_line` starts to trust luma, however clean the screen: 8-bit codes and a
codec's ringing at edges are not measured as noise."""
LINE_CONTRAST_SPAN = np.float32(2.5)
""":func:`luma_line` trusts luma fully from this many times the gap where its trust starts."""
LINE_SLACK = np.float32(0.05)
"""How far luma's alpha must fall below the key before :func:`luma_line` lowers the key; also the
deviation of luma's alpha from noise at which the line starts to trust it (:func:`line_contrast`). A
chroma-widened edge (0.3 and more) is well past it. Chosen on both benchmark suites with the rim of
three GRID clips (issue 18)."""


def line_contrast(noise: float) -> np.float32:
    """The luma gap (0-1 scale) from which :func:`luma_line` trusts luma, for a shot whose bare
    screen's luma varies by ``noise`` (standard deviation, 0-1 scale,
    :func:`models.screen.screen_luma_noise`).

    Luma's alpha ``(B - c) / (B - F)`` over a gap ``B - F`` deviates by ``noise / gap``; the line
    trusts it from the gap where that falls to :data:`LINE_SLACK`, and never below
    :data:`LINE_CONTRAST_FLOOR`. The benchmark's clips (0.57-2.36 code values of noise) start at
    0.052-0.22, GRID's and CREMA-D's clean screens (0.31-0.38) at 0.028-0.035. Against a fixed gap of 0.04
    (quick benchmark, same machine): tuning MAD / Grad / dtSSD 6.54 / 2.80 / 3.20 -> 6.51 / 2.70 /
    3.16, held-out 10.83 / 4.01 / 3.40 -> 10.82 / 3.96 / 3.38, and the GRID ear rims 9.8 / 19.6 / 18.2
    -> 9.1 / 18.6 / 16.8 levels. A per-shot scalar, not a per-pixel formula.
    """
    return np.float32(max(float(noise) / float(LINE_SLACK), float(LINE_CONTRAST_FLOOR)))


def solid_weight(raw: Value) -> Value:
    """How surely a raw alpha is solid foreground, 0 below ``SOLID_FROM`` rising to 1 at 1."""
    return clip01((raw - SOLID_FROM) * SOLID_RAMP)


def bare_weight(raw: Value) -> Value:
    """How surely a raw alpha is bare screen, 1 at 0 falling to 0 at ``BARE_BELOW``."""
    return clip01((BARE_BELOW - raw) * BARE_RAMP)


def luma_line(raw: Value, guide: Value, solid_luma: Value, solid: Value, bare: Value, plate_luma: Value,
              inv_light: Value, black: Value, strength: Value, contrast: Value) -> Value:
    """The raw alpha lowered toward the alpha its luma gives between the nearby solid foreground and
    the lit screen (a colour line on one channel).

    In ``c = a F + (1 - a) B`` each channel gives ``a = (B - c) / (B - F)`` once the
    foreground ``F`` and the screen ``B`` behind the pixel are known (Chuang, Curless,
    Salesin & Szeliski, "A Bayesian Approach to Digital Matting", CVPR 2001, take them
    from the known regions nearby; Levin, Lischinski & Weiss, "A Closed-Form Solution
    to Natural Image Matting", TPAMI 2008, assume the same local colour lines). Here
    ``F`` is the mean luma of the solid pixels in the window (``solid_luma / solid``,
    window means of :func:`solid_weight` times the guide and of the weight) and ``B``
    the clean plate's luma scaled by the screen's light. Luma is full resolution, where
    4:2:0 chroma, and MPEG-1's more so, bleeds a pixel past an edge of one colour
    difference and another brightness (an ear on a backdrop): the chroma key sets the
    edge there wider than it is. The estimate is trusted where the window holds both
    solid foreground and bare screen (``solid``, ``bare`` window means; an edge) and as
    far as ``F`` and ``B`` differ in luma beyond the shot's noise (``contrast``, from
    :func:`line_contrast`, to :data:`LINE_CONTRAST_SPAN` times it); elsewhere the raw
    alpha stays. It only lowers the key, and only where luma's alpha is below it by more than
    :data:`LINE_SLACK`: chroma widens an edge, and a bare screen
    pixel whose luma is off the clean plate's (a plate estimated poorly beside the
    screen's frame) must not gain alpha from it (with both ways, a garbage matte's
    edge on the screen's frame took 12/255 of alpha 3 px into the studio beyond).

    Args:
        raw: the key. guide: luma, 0-1 scale with black. solid_luma, solid, bare: window means.
        plate_luma: the clean plate's luma above black (0-1). inv_light: ``1 / light``.
        black: luma black on the guide's scale. strength: :attr:`models.keyer_params.KeyerParams.edge_luma`.
        contrast: the luma gap where trust starts (:func:`line_contrast`), a per-shot scalar.
    """
    fg = solid_luma / np.maximum(solid, EPS_ALPHA)
    gap = black + plate_luma / inv_light - fg
    ramp = ONE / ((LINE_CONTRAST_SPAN - ONE) * contrast)
    trust = clip01((np.abs(gap) - contrast) * ramp) * clip01(solid * LINE_NEAR)
    trust = strength * trust * clip01(bare * LINE_NEAR)
    along = clip01((gap + fg - guide) * gap / np.maximum(gap * gap, contrast * contrast))
    return raw - trust * np.maximum(raw - along - LINE_SLACK, ZERO)


def held(raw: Value, hold: Value) -> Value:
    """The raw matte raised to a holdout matte (a face is foreground whatever its colour)."""
    return np.maximum(raw, hold)


def garbage_cut(alpha: Value, garbage: Value) -> Value:
    """The matte under a garbage matte, ``min(alpha, garbage)``: forced to 0 where the garbage
    matte is 0 (outside it), unchanged where it is 1, never raised. A core matte is
    :func:`held` applied at the same place (the keyer applies the core first, then the
    garbage: where the two overlap, the garbage matte wins)."""
    return np.minimum(alpha, garbage)


def temporal_step(raw: Value, guide: Value, alpha_prev: Value, luma_prev: Value, valid: Value,
                  temporal_min: Value, inv_threshold: Value) -> Value:
    """One frame of the motion-adaptive matte filter: the filtered matte.

    On static pixels the matte moves toward the new raw alpha by ``temporal_min``
    per frame; where the guide changed by ``1 / inv_threshold`` or more it
    follows at once; before the first frame (``valid`` 0) it is the raw alpha.
    """
    k = np.maximum(np.minimum(np.abs(guide - luma_prev) * inv_threshold + temporal_min, ONE), ONE - valid)
    return alpha_prev + k * (raw - alpha_prev)


def guided_coefficients(m_i: Value, m_p: Value, m_ip: Value, m_ii: Value, eps: Value) -> tuple[Value, Value]:
    """The guided filter's linear coefficients ``(a, b)`` with ``alpha ~ a guide + b`` from the
    window means of the guide, alpha, their product and the guide's square (He, Sun & Tang,
    "Guided Image Filtering", TPAMI 2013, eqs. 5-6)."""
    a = (m_ip - m_i * m_p) / (m_ii - m_i * m_i + eps)
    return a, m_p - a * m_i


def transparency_coefficients(mean_a: Value, mean_b: Value, inv_luma_scale: Value) -> tuple[Value, Value]:
    """``(ta, tb)`` with transparency ``1 - alpha = ta Y' + tb``, Y' in code values, from the
    window means of the guided filter's coefficients (the guide is Y' over ``luma_scale``)."""
    return -mean_a * inv_luma_scale, ONE - mean_b


def transparency(ta: Value, tb: Value, y: Value) -> Value:
    """Transparency ``clip(ta Y' + tb, 0, 1)`` at luma ``y`` (code values)."""
    return clip01(ta * y + tb)


def spill_amount(d: Value, t: Value, plate_d: Value) -> Value:
    """The spill: the colour difference of the unmixed colour, ``relu(d(C) - t d(plate))``
    (``d`` is linear, so this is ``d`` of ``C - t plate``)."""
    return np.maximum(d - t * plate_d, ZERO)


def premultiplied_chroma(c: Value, t: Value, plate_c: Value, amount: Value, spill_c: Value) -> Value:
    """One chroma plane of the unmixed, despilled foreground ``C - t plate - amount spill``:
    the premultiplied foreground of ``C = aF + (1 - a)S`` (Porter & Duff 1984; Smith & Blinn,
    "Blue Screen Matting", SIGGRAPH 1996), less the spill along the luma-free despill
    direction ``spill_c`` (times the despill strength), so brightness is kept."""
    return c - (t * plate_c + amount * spill_c)


def over_chroma(p: Value, t: Value, bg: Value) -> Value:
    """Centred composite chroma: the premultiplied chroma limited to what a premultiplied colour
    can be (``|P| <= (1 - t) 128``, so nothing of the source leaks where the matte is 0), plus
    ``t`` times the background's centred chroma."""
    reach = (ONE - t) * CENTRE
    return np.minimum(np.maximum(p, -reach), reach) + t * bg


def over_luma(y: Value, t: Value, plate_above: Value, bg: Value, black: Value) -> Value:
    """Composite luma in code values: ``black + max(P, 0) + t (bg - black)`` with the premultiplied
    foreground ``P = Y - black - t (plate - black)``, written ``max(Y - t plate_above, black) + t (bg - black)``
    (``plate_above``: the plate's luma minus black)."""
    return np.maximum(y - t * plate_above, black) + t * (bg - black)


def straight_luma(y: Value, t: Value, plate_above: Value, black: Value) -> Value:
    """Straight (unpremultiplied) foreground luma in code values, ``P / alpha + black``."""
    return (y - black - t * plate_above) / np.maximum(ONE - t, EPS_ALPHA) + black


def straight_chroma(p: Value, t: Value) -> Value:
    """Straight (unpremultiplied) centred foreground chroma, ``P / alpha``."""
    return p / np.maximum(ONE - t, EPS_ALPHA)


def to_code(x: Value, zero: Value, inv_scale: Value) -> Value:
    """An 8-bit code value as ONNX QuantizeLinear makes it: ``saturate(rint(x inv_scale) + zero)``,
    rounding half to even (the graph realises this as one QuantizeLinear node)."""
    return np.minimum(np.maximum(np.rint(x * inv_scale) + zero, ZERO), CODE_MAX)


def wrap_amount(t: Value, t_blur: Value, strength: Value) -> Value:
    """How much of the plate's blurred light an edge takes: ``strength alpha blur(1 - alpha)`` with
    ``alpha = 1 - t`` and ``t_blur`` the transparency's box blur, so the amount is 0 inside the
    foreground (no plate nearby) and on the plate (no foreground), and largest along the edge
    (Nuke's LightWrap: the blurred background, masked by the foreground's alpha and the inverse of
    its blurred alpha, at ``Intensity``)."""
    return strength * (ONE - t) * t_blur


def light_wrapped(value: Value, amount: Value, plate_blur: Value) -> Value:
    """A composite sample (luma code value, or centred chroma) mixed toward the plate's blurred light
    ``plate_blur`` by ``amount`` (:func:`wrap_amount`): a mix, where Nuke's LightWrap adds by default
    (its *Highlight Merge* is ``plus``, Foundry's Nuke reference guide, "LightWrap"), so the result
    stays a valid colour between the two and a bright plate cannot push an edge past white."""
    return value + amount * (plate_blur - value)


MATTE_ZERO = np.float32(255.0)
MATTE_INV_SCALE = np.float32(-255.0)
"""The matte's code value ``255 (1 - t)`` is ``to_code(t, MATTE_ZERO, MATTE_INV_SCALE)``."""

FORMULAS = (
    "clip01", "colour_difference", "closeness", "light_trust", "light_ratio", "light_blend", "inverse_light",
    "raw_alpha", "solid_weight", "bare_weight", "luma_line", "held", "garbage_cut", "temporal_step",
    "guided_coefficients", "transparency_coefficients", "transparency",
    "spill_amount", "premultiplied_chroma", "over_chroma", "over_luma", "straight_luma", "straight_chroma", "to_code",
    "wrap_amount", "light_wrapped",
)
"""Every formula of this module, in the order they are compiled for numba."""
