"""One formula, every form: a formula changed in models.keyer_formulas changes the fused CPU loops,
the ONNX graph and the numpy reference alike (in a fresh process with a fresh numba cache, as a
developer's edit would)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = r'''
import sys
import numpy as np
import models.keyer_formulas as kf
from models.keyer_formulas import clip01

if sys.argv[2] == "changed":  # the matte's refinement shifted by a quarter: written once, here
    def transparency(ta, tb, y):
        return clip01(ta * y + tb + np.float32(0.25))
    kf.transparency = transparency

import itertools
from models.border import fill_border
from models.keyer import Background, Keyer, prepare_screen
from models.keyer_params import KeyerParams
from models.keyer_reference import reference_key
from models.screen import estimate_screen
from models.yuv import YuvMatrix, planes_to_rgb
from tests.conftest import media
from workers.decode import decode_video
from workers.frames import frame_planes

matrix = YuvMatrix.from_sws(5)
frames = [frame_planes(f, "yuv420p") for f in itertools.islice(decode_video(media("faces/grid_lbax4n.mpg"), "yuv420p"), 2)]
luma, chroma = np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames])
height, width = luma.shape[1:]
analysis = estimate_screen([planes_to_rgb(luma[i], chroma[i], matrix) for i in range(2)])
luma, chroma = fill_border(luma, chroma, analysis.border, True)  # as the keyer fills them (it refills alike)
background = Background(np.full((1, height, width), 60, np.uint8), np.full((1, 2, height // 2, width // 2), 128, np.uint8))
out = {}
for form, fused in (("fused", True), ("graph", False)):
    keyer = Keyer(analysis, KeyerParams(), width, height, matrix, providers="cpu", fused=fused)
    result = keyer.key_frames(luma, chroma, background, keyer.initial_state())
    out[form + "_alpha"], out[form + "_luma"] = result.alpha, result.luma
screen = prepare_screen(analysis, keyer.params, width, height, matrix, True)
ref = [reference_key(luma[i], chroma[i], (background.luma[0], background.chroma[0]), screen, keyer.params,
                     (0.0, 0.0, 0.0), True, matrix) for i in range(2)]
out["reference_alpha"] = np.stack([r.alpha for r in ref])
out["reference_luma"] = np.stack([r.luma for r in ref])
np.savez(sys.argv[1], **out)
'''


def _key_all_forms(tmp_path: Path, variant: str) -> dict[str, np.ndarray]:
    out = tmp_path / f"{variant}.npz"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / f"numba-{variant}")}
    subprocess.run([sys.executable, "-c", SCRIPT, str(out), variant], check=True, env=env, timeout=600,
                   cwd=Path(__file__).resolve().parents[2])
    with np.load(out) as data:
        return {k: data[k].astype(int) for k in data.files}


def test_a_formula_changed_once_changes_every_form(tmp_path: Path) -> None:
    before, after = _key_all_forms(tmp_path, "original"), _key_all_forms(tmp_path, "changed")
    for name, results in (("original", before), ("changed", after)):
        for kind in ("alpha", "luma"):
            for form in ("fused", "graph"):
                gap = np.abs(results[f"{form}_{kind}"] - results[f"reference_{kind}"]).max()
                assert gap <= 1, f"{name}: the {form} {kind} is {gap} levels from the reference"
    for form in ("fused", "graph", "reference"):
        opaque = before[f"{form}_alpha"] >= 128
        shift = (before[f"{form}_alpha"] - after[f"{form}_alpha"])[opaque].mean()
        assert 62 < shift < 66, f"the {form} matte moved {shift:.1f} levels where opaque, not a quarter of 255"
