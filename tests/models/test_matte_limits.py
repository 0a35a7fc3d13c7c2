"""Garbage and core mattes in the keyer (models.keyer_formulas.garbage_cut and held, after the temporal
filter): the fused loops, the ONNX graph and the numpy reference agree, and a roto shape moving over still
luma is applied without lag, on a real green-screen clip (CREMA-D)."""

from __future__ import annotations

import numpy as np

from models.border import fill_border
from models.keyer import Background, Keyer, prepare_screen
from models.keyer_params import KeyerParams
from models.keyer_reference import reference_key
from models.screen import estimate_screen
from models.yuv import YuvMatrix, planes_to_rgb
from tests.conftest import media
from tests.frames import decoded_planes

MATRIX = YuvMatrix.from_sws(5)
CLIP = "greenscreen/cremad_1001_DFA_HAP_XX.flv"


def _mattes(n: int, hc: int, wc: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """A garbage box around the actor's middle that moves right by ``step`` chroma pixels a frame, with a soft
    edge, and a core box on the face."""
    garbage = np.zeros((n, hc, wc), np.float32)
    core = np.zeros((n, hc, wc), np.float32)
    for i in range(n):
        garbage[i, 10:hc - 10, 40 + step * i: 170 + step * i] = 1.0
        garbage[i, 10:hc - 10, 38 + step * i: 40 + step * i] = 0.5
        core[i, 60:100, 100:140] = 1.0
    return garbage, core


def test_fused_graph_and_reference_agree_with_garbage_and_core_mattes() -> None:
    luma, chroma = decoded_planes(media(CLIP), 8)
    n, height, width = luma.shape
    hc, wc = height // 2, width // 2
    analysis = estimate_screen([planes_to_rgb(luma[i], chroma[i], MATRIX) for i in (0, 4)])
    params = KeyerParams(temporal_min=0.4)
    garbage, core = _mattes(n, hc, wc, 3)
    background = Background(np.full((1, height, width), 70, np.uint8), np.full((1, 2, hc, wc), 140, np.uint8))
    keyers = [Keyer(analysis, params, width, height, MATRIX, providers="cpu", fused=f, garbage=True, core=True)
              for f in (True, False)]
    screen = prepare_screen(analysis, keyers[0].params, width, height, MATRIX, True)
    states = [k.initial_state() for k in keyers]
    ref_luma, ref_chroma = fill_border(luma, chroma, analysis.border, True)  # as the keyer fills them
    ref_state: tuple = (0.0, 0.0, 0.0)
    for start in (0, 4):  # two batches: the state crosses the batch boundary
        batch = slice(start, start + 4)
        results = [k.key_frames(luma[batch], chroma[batch], background, s, garbage=garbage[batch], core=core[batch])
                   for k, s in zip(keyers, states)]
        states = [r.state for r in results]
        for j in range(4):
            i = start + j
            ref = reference_key(ref_luma[i], ref_chroma[i], (background.luma[0], background.chroma[0]), screen, keyers[0].params,
                                ref_state, True, MATRIX, garbage=garbage[i], core=core[i])
            ref_state = ref.state
            for result in results:
                assert np.abs(result.alpha[j].astype(int) - ref.alpha).max() <= 1
                assert np.abs(result.luma[j].astype(int) - ref.luma).max() <= 1
        assert np.abs(states[0].alpha - states[1].alpha).max() < 1e-4
    alpha = results[0].alpha[-1]
    i = n - 1
    outside = np.ones((height, width), bool)
    outside[10:height - 10, 2 * (30 + 3 * i): 2 * (180 + 3 * i)] = False  # more than the filter's reach from the box
    assert alpha[outside].max() == 0, "outside the garbage matte nothing is left"
    assert alpha[2 * 65: 2 * 95, 2 * 105: 2 * 135].min() == 255, "inside the core matte the key is solid"
    # Without the mattes the same frame keys the actor's hair and shoulders outside the box, and the face is the actor's.
    plain = Keyer(analysis, params, width, height, MATRIX, providers="cpu")
    free = plain.key_frames(luma[4:], chroma[4:], background, plain.initial_state()).alpha[-1]
    assert free[outside].max() == 255


def test_a_roto_shape_moving_over_still_luma_does_not_lag_behind_the_temporal_filter() -> None:
    """One real frame held still for 8 frames under a garbage box that moves 6 chroma pixels a frame, with the
    temporal filter at its slowest (temporal_min 0.1): each frame's matte is what that frame keys alone with
    its own box. A garbage matte applied before the filter would take about 20 frames to follow."""
    luma, chroma = decoded_planes(media(CLIP), 1)
    n = 8
    luma, chroma = np.repeat(luma, n, axis=0), np.repeat(chroma, n, axis=0)
    height, width = luma.shape[1:]
    analysis = estimate_screen([planes_to_rgb(luma[0], chroma[0], MATRIX)])
    garbage, core = _mattes(n, height // 2, width // 2, 6)
    background = Background(np.full((1, height, width), 70, np.uint8), np.full((1, 2, height // 2, width // 2), 140, np.uint8))
    for fused in (True, False):
        keyer = Keyer(analysis, KeyerParams(temporal_min=0.1), width, height, MATRIX, providers="cpu", fused=fused,
                      garbage=True, core=True)
        run = keyer.key_frames(luma, chroma, background, keyer.initial_state(), garbage=garbage, core=core).alpha
        for i in (3, 7):
            alone = keyer.key_frames(luma[i:i + 1], chroma[i:i + 1], background, keyer.initial_state(),
                                     garbage=garbage[i:i + 1], core=core[i:i + 1]).alpha[0]
            assert np.abs(run[i].astype(int) - alone).max() <= 1
        assert (run[7] > 128).any() and not np.array_equal(run[7], run[0])  # the cut moved with the shape
