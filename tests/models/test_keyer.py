"""The ONNX keyer against a plain numpy version of the same keyer, on real frames."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from models.keyer import Background, Keyer, ScreenInputs, prepare_screen
from models.keyer_params import LIGHT_EPS, LIGHT_TRUST, KeyerParams
from models.screen import estimate_screen
from models.yuv import YuvMatrix, planes_to_rgb, rgb_to_planes
from tests.conftest import media
from workers.decode import decode_video
from workers.frames import frame_planes, working_format

MATRIX = YuvMatrix.from_sws(5)  # the SD clips are BT.601


def box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window of an (H, W) array, counting only pixels inside it."""
    kernel = np.ones(2 * r + 1)
    total = cv2.sepFilter2D(x, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_CONSTANT)
    count = cv2.sepFilter2D(np.ones_like(x), cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_CONSTANT)
    return total / count


def block_mean(x: np.ndarray, b: int) -> np.ndarray:
    """Mean over b x b blocks of an (H, W) array; blocks cut by the edge average what they hold."""
    h, w = x.shape
    padded = np.full((-(-h // b) * b, -(-w // b) * b), np.nan)
    padded[:h, :w] = x
    return np.nanmean(padded.reshape(padded.shape[0] // b, b, padded.shape[1] // b, b), axis=(1, 3))


def reference_inverse_light(diff, guide, c, screen: ScreenInputs, params: KeyerParams):
    """The illumination estimate in float64 (normalised convolution of trusted light ratios),
    its reciprocal interpolated to chroma resolution."""
    d, y, cb, cr = (block_mean(x, 2) for x in (diff, guide, c[0], c[1]))
    inv_dp, inv_yp, w_b, w_r = screen.screen_maps[0].astype(np.float64)
    k = d * inv_dp
    luma_gap = (y - MATRIX.luma_offset / MATRIX.luma_scale) * inv_yp - k
    hue_gap = cb * w_b + cr * w_r
    trust = (np.maximum(1 - np.abs(luma_gap) / params.light_luma_tolerance, 0)
             * np.maximum(1 - np.abs(hue_gap) / params.light_hue_tolerance, 0) * np.clip((k - 0.2) * 5, 0, 1))
    blocks = [block_mean(x, params.light_block // 2) for x in (trust * k, trust)]

    def window(radius: int):  # light and mean trust over (2 radius + 1)^2 blocks, zero outside
        size = 2 * radius + 1
        num, den = (cv2.boxFilter(x, -1, (size, size), borderType=cv2.BORDER_CONSTANT) for x in blocks)
        return (num + LIGHT_EPS) / (den + LIGHT_EPS), den

    light, trusted = window(params.light_radius)
    if params.light_reach > 0:
        far, _ = window(params.light_reach)
        light = far + np.minimum(trusted / LIGHT_TRUST, 1.0) * (light - far)
    light = np.clip(light, 0.25, 1.5)
    return cv2.resize(1.0 / light, diff.shape[::-1], interpolation=cv2.INTER_LINEAR)


def reference_matte(luma, chroma, screen: ScreenInputs, params: KeyerParams, state, subsampled: bool):
    """Steps 1-4 of the keyer in float64: returns (transparency low, transparency at full res, state)."""
    alpha_prev, luma_prev, valid = state
    c = chroma.astype(np.float64) - 128.0
    diff = screen.chroma_form[0] * c[0] + screen.chroma_form[1] * c[1]
    offset = (1.0 - params.clip_black) / (params.clip_white - params.clip_black)
    y = luma.astype(np.float64)
    if subsampled:  # the chroma sample's footprint: (1, 3, 3, 1) / 8 down, edge rows repeated; (1, 1) / 2 across
        pairs = (y[:, 0::2] + y[:, 1::2]) / 2
        rows = np.vstack([pairs[:1], pairs, pairs[-1:]])
        y_low = (rows[0:-3:2] + 3 * rows[1:-2:2] + 3 * rows[2:-1:2] + rows[3::2]) / 8
    else:
        y_low = y
    guide = y_low / MATRIX.luma_scale
    inv_light = reference_inverse_light(diff, guide, c, screen, params)
    raw = np.clip(offset - diff * screen.key_scale[0, 0] * inv_light, 0.0, 1.0)
    if params.off_axis > 0:  # chroma across the plate's can only be foreground's
        w = screen.plate_across[0].astype(np.float64)
        bound = np.abs(c[0] * w[0] + c[1] * w[1]) * inv_light * params.off_axis
        raw = np.maximum(raw, np.clip((bound - params.off_axis_black) / (params.clip_white - params.clip_black), 0.0, 1.0))
    if params.luma_excess > 0:  # luma above the colour difference's share of the plate's is foreground's
        excess = guide - MATRIX.luma_offset / MATRIX.luma_scale - diff * screen.plate_luma_ratio[0, 0]
        bound = (excess * params.luma_excess - params.luma_excess_black) / (params.clip_white - params.clip_black)
        raw = np.maximum(raw, np.clip(bound, 0.0, 1.0))
    k = np.maximum(np.minimum(params.temporal_min + np.abs(guide - luma_prev) / params.motion_threshold, 1.0), 1.0 - valid)
    alpha_t = alpha_prev + k * (raw - alpha_prev)
    r, eps = params.guide_radius, params.guide_eps
    m_i, m_p = box_mean(guide, r), box_mean(alpha_t, r)
    a = (box_mean(guide * alpha_t, r) - m_i * m_p) / (box_mean(guide * guide, r) - m_i * m_i + eps)
    mean_a, mean_b = box_mean(a, r), box_mean(m_p - a * m_i, r)
    transp_low = np.clip(1.0 - mean_b - mean_a * guide, 0.0, 1.0)
    a_full, b_full = -mean_a / MATRIX.luma_scale, 1.0 - mean_b
    if subsampled:  # bilinear upsampling of the coefficients to the luma grid (half-pixel centres, edges clamped)
        a_full, b_full = (cv2.resize(x, y.shape[::-1], interpolation=cv2.INTER_LINEAR) for x in (a_full, b_full))
    transp = np.clip(a_full * y + b_full, 0.0, 1.0)
    return transp_low, transp, (alpha_t, guide, 1.0)


def reference_key(luma, chroma, background, screen, params, state, subsampled):
    """One frame through the whole keyer in float64: (image luma, image chroma, alpha u8, state)."""
    transp_low, transp, state = reference_matte(luma, chroma, screen, params, state, subsampled)
    premult = chroma.astype(np.float64) - 128.0 - transp_low * screen.plate_chroma[0]
    spill = np.maximum(screen.chroma_form[0] * premult[0] + screen.chroma_form[1] * premult[1], 0.0) * params.despill
    fg = premult - spill * screen.spill_chroma.reshape(2, 1, 1)
    y = luma.astype(np.float64)
    plate_y = screen.plate_luma[0, 0]
    if background is not None:
        off = MATRIX.luma_offset
        premult_y = np.maximum(y - off - transp * (plate_y - off), 0.0)  # a premultiplied colour is not negative
        image_y = np.rint(np.clip(off + premult_y + transp * (background[0].astype(np.float64) - off), 0, 255))
        reach = (1.0 - transp_low) * 128.0
        mixed = np.clip(fg, -reach, reach) + transp_low * (background[1].astype(np.float64) - 128.0) + 128.0
        image_c = np.rint(np.clip(mixed, 0, 255))
    else:
        alpha = np.maximum(1.0 - transp, 1.0 / 1024.0)
        off = MATRIX.luma_offset
        image_y = np.rint(np.clip((y - off - transp * (plate_y - off)) / alpha + off, 0, 255))
        if subsampled:
            size = (luma.shape[1], fg.shape[1])
            fg = np.repeat(np.stack([cv2.resize(p, size, interpolation=cv2.INTER_LINEAR) for p in fg]), 2, axis=1)
        image_c = np.rint(np.clip(fg / alpha + 128.0, 0, 255))
    return image_y, image_c, np.rint(255.0 * (1.0 - transp)), state


def _planes(path: str, count: int, crop: tuple[int, int] | None = None):
    width, height = crop or (0, 0)
    frames = []
    fmt = "yuv444p" if crop else "yuv420p"
    for y, c in (frame_planes(f, fmt) for f in itertools.islice(decode_video(path, fmt), count)):
        frames.append((y[:height, :width], c[:, :height, :width]) if crop else (y, c))
    return np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames])


@pytest.mark.parametrize(
    ("clip", "crop"),
    [("greenscreen/cremad_1001_DFA_HAP_XX.flv", None), ("faces/grid_lbax4n.mpg", None), ("faces/grid_lbax4n.mpg", (359, 287))],
)
@pytest.mark.parametrize("output", ["composite", "composite-graph", "layer"])
@pytest.mark.parametrize("temporal_min", [0.4, 1.0], ids=["temporal", "no-temporal"])
def test_onnx_keyer_matches_numpy_reference_within_one_level(clip: str, crop, output: str, temporal_min: float) -> None:
    """``composite`` is keyed by the fused CPU loops (models.fused_matte, models.fused_composite);
    ``composite-graph`` by the onnxruntime graph, as on CUDA."""
    fused = output == "composite"
    output = output.removesuffix("-graph")
    luma, chroma = _planes(media(clip), 12, crop)
    height, width = luma.shape[1:]
    subsampled = working_format(width, height) == "yuv420p" and crop is None
    analysis = estimate_screen([planes_to_rgb(luma[i], chroma[i], MATRIX) for i in (0, 4, 8)])
    params = KeyerParams(temporal_min=temporal_min)
    keyer = Keyer(analysis, params, width, height, MATRIX, output=output, subsampled=subsampled, providers="cpu",
                  fused=fused)
    assert keyer.fused == fused
    params = keyer.params  # as fitted to the frame: a 3 x 3-block light window only on the 4:4:4 crop
    screen = prepare_screen(analysis, params, width, height, MATRIX, subsampled)
    rng = np.random.default_rng(7)
    bg = (rng.integers(0, 256, luma.shape[1:], dtype=np.uint8), rng.integers(0, 256, chroma.shape[1:], dtype=np.uint8))
    state, ref_state = keyer.initial_state(), (0.0, 0.0, 0.0)
    for start in (0, 6):  # two batches: the temporal state crosses the batch boundary
        batch = slice(start, start + 6)
        background = Background(bg[0][None], bg[1][None]) if output == "composite" else None
        result = keyer.key_frames(luma[batch], chroma[batch], background, state)
        state = result.state
        for j, i in enumerate(range(start, start + 6)):
            ref_bg = bg if output == "composite" else None
            image_y, image_c, alpha, ref_state = reference_key(luma[i], chroma[i], ref_bg, screen, params, ref_state, subsampled)
            assert np.abs(result.alpha[j].astype(int) - alpha).max() <= 1
            # A straight (layer) colour is divided by alpha: compare it where alpha is not ~0.
            seen = alpha >= 16 if output == "layer" else np.ones_like(alpha, bool)
            seen_c = seen[:: seen.shape[0] // image_c.shape[1], :: seen.shape[1] // image_c.shape[2]]
            assert np.abs(result.luma[j].astype(int) - image_y)[seen].max() <= 1
            assert np.abs(result.chroma[j].astype(int) - image_c)[:, seen_c].max() <= 1


def test_screen_analysis_keys_the_cyan_grid_backdrop() -> None:
    luma, chroma = _planes(media("faces/grid_bbaf2n.mpg"), 30)
    rgb = [planes_to_rgb(luma[i], chroma[i], MATRIX) for i in range(0, 30, 5)]
    analysis = estimate_screen(rgb, "blue")
    r, g, b = analysis.screen_rgb
    assert b > r + 0.3 and g > r + 0.3, "the GRID backdrop is cyan-blue"
    assert b - max(r, g) < 0.15, "a fixed-channel blue key would see almost nothing"
    height, width = luma.shape[1:]
    keyer = Keyer(analysis, KeyerParams(), width, height, MATRIX, output="layer", providers="cpu")
    alpha = keyer.key_frames(luma[:1], chroma[:1], None, keyer.initial_state()).alpha[0]
    corners = np.concatenate([alpha[5:40, 5:40].ravel(), alpha[5:40, -40:-5].ravel()])
    centre = alpha[height // 2 : height // 2 + 20, width // 2 - 10 : width // 2 + 10]
    assert corners.mean() < 10, "the backdrop keys out"
    assert centre.min() > 245, "the face stays opaque"


def test_chroma_form_equals_the_rgb_colour_difference() -> None:
    rng = np.random.default_rng(3)
    rgb = rng.random((50, 3))
    weights = np.array([-0.5, 1.0, -0.5])
    for matrix in (YuvMatrix.from_sws(1), YuvMatrix.from_sws(5, full_range=True)):
        codes = matrix.rgb_to_codes(rgb)
        assert np.allclose(codes[:, 1:] @ matrix.chroma_form(weights), rgb @ weights)


def test_preroll_brings_any_state_within_the_seam_tolerance() -> None:
    params = KeyerParams(temporal_min=0.4)
    assert params.preroll_frames == 14
    assert (1 - params.temporal_min) ** params.preroll_frames <= params.seam_tolerance
    assert (1 - params.temporal_min) ** (params.preroll_frames - 1) > params.seam_tolerance
    assert KeyerParams(temporal_min=1.0).preroll_frames == 0


def _shadowed_screen(width: int, height: int, darkening: float) -> tuple[np.ndarray, np.ndarray, ScreenAnalysis]:
    """A lit green screen (a horizontal light gradient) with a soft shadow on its left half,
    and no foreground at all: ``(luma (1, H, W), chroma (1, 2, H/2, W/2), analysis)``."""
    from models.screen import ScreenAnalysis

    xx = np.linspace(0.0, 1.0, width, dtype=np.float32)
    gradient = (0.85 + 0.15 * xx)[None, :, None] * np.ones((height, 1, 1), np.float32)
    plate = gradient * np.float32([0.15, 0.62, 0.25])
    shadow = np.zeros((height, width), np.float32)
    shadow[height // 4 : 3 * height // 4, width // 8 : width // 2] = darkening
    shadow = cv2.GaussianBlur(shadow, (0, 0), height / 20)
    frame = plate * (1 - shadow)[..., None]
    luma, chroma = rgb_to_planes(np.round(frame * 255).astype(np.uint8), MATRIX, True)
    small = cv2.resize(plate, (width // 4, height // 4), interpolation=cv2.INTER_AREA)
    return luma[None], chroma[None], ScreenAnalysis(np.float32([0.15, 0.62, 0.25]), small, 1.0)


def test_a_shadow_on_the_screen_keys_out() -> None:
    """A colour-difference key scales with the screen's light; the illumination estimate
    divides that out, so the actor's shadow (here halving the light) stays transparent."""
    width, height = 320, 240
    luma, chroma, analysis = _shadowed_screen(width, height, 0.5)
    keyer = Keyer(analysis, KeyerParams(), width, height, MATRIX, output="layer", subsampled=True, providers="cpu")
    alpha = keyer.key_frames(luma, chroma, None, keyer.initial_state()).alpha[0]
    core = alpha[height // 2 - 10 : height // 2 + 10, width // 4 - 10 : width // 4 + 10]
    assert core.max() <= 8, f"the shadow's core keys as alpha {core.max()} / 255"
    assert alpha.max() <= 16, "no part of the shadow reads as foreground"


def test_a_composite_without_the_matte_gives_the_same_image() -> None:
    luma, chroma = _planes(media("greenscreen/cremad_1001_DFA_HAP_XX.flv"), 4)
    height, width = luma.shape[1:]
    analysis = estimate_screen([planes_to_rgb(luma[i], chroma[i], MATRIX) for i in range(4)])
    background = Background(np.full((1, height, width), 120, np.uint8), np.full((1, 2, height // 2, width // 2), 90, np.uint8))
    results = []
    for matte in (True, False):
        keyer = Keyer(analysis, KeyerParams(), width, height, MATRIX, matte=matte, providers="cpu")
        results.append(keyer.key_frames(luma, chroma, background, keyer.initial_state()))
    assert results[1].alpha is None and results[0].alpha is not None
    assert np.array_equal(results[0].luma, results[1].luma) and np.array_equal(results[0].chroma, results[1].chroma)


def test_fused_and_graph_keyers_agree_with_a_holdout_matte() -> None:
    """The controls the reference test leaves at their defaults: a holdout matte (a face swap's
    composite), a light window, another guide radius, the floors off (the graph keeps an unused
    input), a per-frame background; three batches."""
    luma, chroma = _planes(media("greenscreen/cremad_1001_DFA_HAP_XX.flv"), 9)
    height, width = luma.shape[1:]
    analysis = estimate_screen([planes_to_rgb(luma[i], chroma[i], MATRIX) for i in range(0, 9, 4)])
    params = KeyerParams(temporal_min=0.3, light_radius=2, light_block=2, guide_radius=2, off_axis=0.0, luma_excess=0.0)
    rng = np.random.default_rng(3)
    hold = np.zeros((9, height // 2, width // 2), np.float32)
    hold[:, 20:60, 30:90] = rng.uniform(0.0, 1.0, (9, 40, 60)).astype(np.float32)
    background = Background(rng.integers(0, 256, (3, height, width), dtype=np.uint8),
                            rng.integers(0, 256, (3, 2, height // 2, width // 2), dtype=np.uint8))
    keyers = [Keyer(analysis, params, width, height, MATRIX, providers="cpu", hold=True, fused=f) for f in (True, False)]
    states = [k.initial_state() for k in keyers]
    for start in (0, 3, 6):
        batch = slice(start, start + 3)
        fused, graph = (k.key_frames(luma[batch], chroma[batch], background, s, hold[batch]) for k, s in zip(keyers, states))
        states = [fused.state, graph.state]
        assert np.abs(fused.alpha.astype(int) - graph.alpha).max() <= 1
        assert np.abs(fused.luma.astype(int) - graph.luma).max() <= 1
        assert np.abs(fused.chroma.astype(int) - graph.chroma).max() <= 1
        assert np.abs(fused.state.alpha - graph.state.alpha).max() < 1e-4


def test_the_light_window_is_narrowed_to_a_tenth_of_the_frame() -> None:
    params = KeyerParams(light_radius=1, light_block=8)
    assert params.for_frame(540).light_radius == 1 and params.for_frame(240).light_radius == 1
    assert params.for_frame(180).light_radius == 0 and params.for_frame(120).light_radius == 0
    assert KeyerParams(light_radius=2, light_block=2).for_frame(180).light_radius == 2
    keyer = Keyer(*_shadowed_screen(320, 240, 0.5)[2:], KeyerParams(light_radius=1), 320, 240, MATRIX, providers="cpu")
    assert keyer.params.light_radius == 0


def test_keyer_overrides_are_checked_and_whole_number_controls_stay_whole() -> None:
    params = KeyerParams.from_overrides({"guide_radius": 2.0, "clip_black": 0.08, "temporal_min": 0.4})
    assert params.guide_radius == 2 and isinstance(params.guide_radius, int)
    assert params.clip_black == 0.08 and params.preroll_frames == 14
    for bad, message in (({"clip_blak": 0.1}, "unknown keyer control clip_blak"), ({"guide_radius": 1.5}, "whole number"),
                         ({"clip_black": "high"}, "not a number"), ({"despill": True}, "not a number"),
                         ({"clip_black": 0.9}, "clip_black must be below"), ({"light_block": 1}, "light_block"),
                         ({"motion_threshold": 0.0}, "motion_threshold must be positive"),
                         ({"despill": 1.5}, "despill must be in"), ({"luma_excess_black": 1.0}, "luma_excess_black")):
        with pytest.raises(ValueError, match=message):
            KeyerParams.from_overrides(bad)
