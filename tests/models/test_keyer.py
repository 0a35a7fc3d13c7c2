"""The keyer's two fast forms (the fused CPU loops and the ONNX graph) against the numpy reference
(:mod:`models.keyer_reference`), on real frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.border import fill_border
from models.keyer import Background, Keyer, prepare_screen
from models.keyer_params import KeyerParams
from models.keyer_reference import reference_key
from models.screen import ScreenAnalysis, estimate_screen
from models.yuv import YuvMatrix, planes_to_rgb, rgb_to_planes
from tests.conftest import media
from tests.frames import decoded_planes
from workers.frames import working_format

MATRIX = YuvMatrix.from_sws(5)  # the SD clips are BT.601


@pytest.mark.parametrize(
    ("clip", "crop"),
    [("greenscreen/cremad_1001_DFA_HAP_XX.flv", None), ("faces/grid_lbax4n.mpg", None), ("faces/grid_lbax4n.mpg", (359, 287))],
)
@pytest.mark.parametrize("output", ["composite", "composite-graph", "layer", "layer-graph"])
@pytest.mark.parametrize("temporal_min", [0.4, 1.0], ids=["temporal", "no-temporal"])
def test_onnx_keyer_matches_numpy_reference_within_one_level(clip: str, crop, output: str, temporal_min: float) -> None:
    """``composite`` and ``layer`` are keyed by the fused CPU loops (models.fused_matte,
    models.fused_composite); ``-graph`` by the onnxruntime graph, as on CUDA."""
    fused = not output.endswith("-graph")
    output = output.removesuffix("-graph")
    luma, chroma = decoded_planes(media(clip), 12, crop)
    height, width = luma.shape[1:]
    subsampled = working_format(width, height) == "yuv420p" and crop is None
    analysis = estimate_screen([planes_to_rgb(luma[i], chroma[i], MATRIX) for i in (0, 4, 8)])
    params = KeyerParams(temporal_min=temporal_min)
    keyer = Keyer(analysis, params, width, height, MATRIX, output=output, subsampled=subsampled, providers="cpu",
                  fused=fused)
    assert keyer.fused == fused
    params = keyer.params  # as fitted to the frame: a 3 x 3-block light window only on the 4:4:4 crop
    ref_luma, ref_chroma = fill_border(luma, chroma, analysis.border, subsampled)  # as the keyer fills them
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
            ref = reference_key(ref_luma[i], ref_chroma[i], ref_bg, screen, params, ref_state, subsampled, MATRIX)
            image_y, image_c, alpha, ref_state = ref.luma, ref.chroma, ref.alpha, ref.state
            assert np.abs(result.alpha[j].astype(int) - alpha).max() <= 1
            # A straight (layer) colour is divided by alpha: compare it where alpha is not ~0.
            seen = alpha >= 16 if output == "layer" else np.ones_like(alpha, bool)
            seen_c = seen[:: seen.shape[0] // image_c.shape[1], :: seen.shape[1] // image_c.shape[2]]
            assert np.abs(result.luma[j].astype(int) - image_y)[seen].max() <= 1
            assert np.abs(result.chroma[j].astype(int) - image_c)[:, seen_c].max() <= 1


def test_screen_analysis_keys_the_cyan_grid_backdrop() -> None:
    luma, chroma = decoded_planes(media("faces/grid_bbaf2n.mpg"), 30)
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
    luma, chroma = decoded_planes(media("greenscreen/cremad_1001_DFA_HAP_XX.flv"), 4)
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
    luma, chroma = decoded_planes(media("greenscreen/cremad_1001_DFA_HAP_XX.flv"), 9)
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
