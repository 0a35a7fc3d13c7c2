"""The ONNX keyer against a plain numpy version of the same keyer, on real frames."""

from __future__ import annotations

import av
import numpy as np
import pytest

from models.keyer import Keyer, prepare_screen
from models.keyer_params import KeyerParams
from models.screen import estimate_screen
from tests.conftest import media


def reference_key(frames, backgrounds, screen, params, alpha_prev, luma_prev, valid):
    """The keyer in float64 numpy: colour difference, temporal filter, unmix, despill, composite."""
    rgb = frames.astype(np.float64) / 255.0
    diff = rgb @ screen.weights.astype(np.float64)
    offset = (1.0 - params.clip_black) / (params.clip_white - params.clip_black)
    raw = np.clip(offset - diff * screen.key_scale[..., 0], 0.0, 1.0)
    luma = rgb @ np.array([0.2126, 0.7152, 0.0722])
    alphas = []
    for i in range(len(frames)):
        k = np.minimum(params.temporal_min + np.abs(luma[i] - luma_prev) / params.motion_threshold, 1.0)
        k = np.maximum(k, 1.0 - valid)
        alpha_prev = alpha_prev + k * (raw[i] - alpha_prev)
        luma_prev, valid = luma[i], 1.0
        alphas.append(alpha_prev)
    alpha = np.stack(alphas)[..., None]
    premult = rgb - (1.0 - alpha) * screen.plate
    spill = np.maximum(premult @ screen.weights.astype(np.float64), 0.0)[..., None] * params.despill
    fg = np.clip(premult - spill * screen.spill_vector, 0.0, 1.0)
    if backgrounds is None:
        image = np.clip(fg / np.maximum(alpha, 1.0 / 1024.0), 0.0, 1.0)
    else:
        image = fg + (1.0 - alpha) * backgrounds.astype(np.float64) / 255.0
    to_u8 = lambda x: np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)  # noqa: E731
    return to_u8(image), to_u8(alpha[..., 0]), alpha_prev, luma_prev


def _frames(path: str, count: int) -> np.ndarray:
    with av.open(path) as container:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(count), container.decode(video=0))]
    return np.stack(frames)


@pytest.mark.parametrize("clip", ["greenscreen/cremad_1001_DFA_HAP_XX.flv", "faces/grid_lbax4n.mpg"])
@pytest.mark.parametrize("output", ["composite", "layer"])
def test_onnx_keyer_matches_numpy_reference_within_one_level(clip: str, output: str) -> None:
    frames = _frames(media(clip), 12)
    n, height, width = frames.shape[:3]
    analysis = estimate_screen(list(frames[::3]))
    params = KeyerParams()
    keyer = Keyer(analysis, params, width, height, output=output, providers="cpu")
    screen = prepare_screen(analysis, params, width, height)
    rng = np.random.default_rng(7)
    backgrounds = rng.integers(0, 256, frames.shape, dtype=np.uint8) if output == "composite" else None
    state = keyer.initial_state()
    ref_alpha, ref_luma, valid = np.zeros((height, width)), np.zeros((height, width)), 0.0
    for start in (0, 6):  # two batches: the temporal state crosses the batch boundary
        batch = slice(start, start + 6)
        bg = backgrounds[batch] if backgrounds is not None else None
        result = keyer.key_frames(frames[batch], bg, state)
        image, alpha, ref_alpha, ref_luma = reference_key(frames[batch], bg, screen, params, ref_alpha, ref_luma, valid)
        valid, state = 1.0, result.state
        assert np.abs(result.alpha.astype(int) - alpha).max() <= 1
        assert np.abs(result.images.astype(int) - image).max() <= 1


def test_screen_analysis_keys_the_cyan_grid_backdrop() -> None:
    frames = _frames(media("faces/grid_bbaf2n.mpg"), 30)
    analysis = estimate_screen(list(frames[::5]), "blue")
    r, g, b = analysis.screen_rgb
    assert b > r + 0.3 and g > r + 0.3, "the GRID backdrop is cyan-blue"
    assert b - max(r, g) < 0.15, "a fixed-channel blue key would see almost nothing"
    keyer = Keyer(analysis, KeyerParams(), frames.shape[2], frames.shape[1], output="layer", providers="cpu")
    alpha = keyer.key_frames(frames[:1], None, keyer.initial_state()).alpha[0]
    corners = np.concatenate([alpha[5:40, 5:40].ravel(), alpha[5:40, -40:-5].ravel()])
    centre = alpha[alpha.shape[0] // 2 : alpha.shape[0] // 2 + 20, alpha.shape[1] // 2 - 10 : alpha.shape[1] // 2 + 10]
    assert corners.mean() < 10, "the backdrop keys out"
    assert centre.min() > 245, "the face stays opaque"


def test_preroll_brings_any_state_within_the_seam_tolerance() -> None:
    params = KeyerParams()
    assert (1 - params.temporal_min) ** params.preroll_frames <= params.seam_tolerance
    assert (1 - params.temporal_min) ** (params.preroll_frames - 1) > params.seam_tolerance
    assert KeyerParams(temporal_min=1.0).preroll_frames == 0
