"""Portrait matte on ground truth: the quality bench's actor over a real moving background, no screen.

The actor is the synthetic bench's (:class:`tests.bench.synth_scene.Scene`: a person-like
sprite textured with a real photo of a person, hair strands, a semi-transparent scarf, swaying
and dashing with motion blur); its exact alpha and clean straight foreground are composited,
``alpha F + (1 - alpha) B``, over frames of a real video (``backgrounds/tears_of_steel_2s.webm``,
a moving shot, played forwards then backwards to cover the clip, scaled to cover the frame),
rounded to 8 bits. No spill, no screen: the frame is what a camera on location would see.

Three mattes of the same frames, scored with the RVM metrics (:mod:`tests.bench.metrics`):

- ``raw``: the segmentation alone, upsampled bilinearly to the frame (:func:`models.portrait.unstretch`);
- ``guided``: :class:`models.portrait.PortraitMatter` with the temporal fusion off (``flow_weight`` 0);
- ``guided + flow``: the full portrait matte (default parameters).

Run ``python -m tests.bench.portrait [--frames N] [--width W --height H] [--models DIR]``
(the Selfie Segmentation models are fetched with npm and converted into ``DIR`` when missing).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

from models.plate import fit_plate
from models.portrait import PortraitMatter, PortraitParams, unstretch
from models.registry import REGISTRY
from models.segmentation import SelfieSegmenter, segmentation_model
from models.yuv import YuvMatrix, rgb_to_planes
from tests.bench.metrics import MattingScores
from tests.bench.synth_scene import LOOKS, Scene
from tests.conftest import media
from workers.model_files import fetch_onnx

BACKGROUND = "backgrounds/tears_of_steel_2s.webm"
# (name, photo of a person, seed, motion): GRID speakers framed to the collar, and a portrait.
CLIPS = (("grid_lbbc2a", "faces/grid_lbbc2a.mpg#10", 201, 1.0), ("grid_sbia1a", "faces/grid_sbia1a.mpg#10", 202, 2.0),
         ("obama_portrait", "faces/wh_obama_official_portrait.jpg", 203, 1.0))
METRICS = ("MAD", "MSE", "Grad", "dtSSD")


def background_frames(width: int, height: int, count: int) -> list[np.ndarray]:
    """``count`` RGB frames of the background video, forwards then backwards, covering ``width`` x ``height``."""
    with av.open(media(BACKGROUND)) as container:
        frames = [fit_plate(f.to_ndarray(format="rgb24"), width, height) for f in container.decode(video=0)]
    loop = frames + frames[-2:0:-1]
    return [loop[i % len(loop)] for i in range(count)]


def ground_truth(photo: str, seed: int, motion: float, width: int, height: int,
                 count: int) -> tuple[np.ndarray, np.ndarray]:
    """``(N, H, W, 3)`` uint8 frames and ``(N, H, W)`` float32 true alphas of one clip."""
    scene = Scene(width, height, LOOKS["green"], photo, motion, seed)
    frames, alphas = [], []
    for i, bg in enumerate(background_frames(width, height, count)):
        truth = scene.render(i)
        a = truth.alpha.astype(np.float32)[..., None] / 255
        frames.append(np.clip(a * truth.foreground + (1 - a) * bg + 0.5, 0, 255).astype(np.uint8))
        alphas.append(a[..., 0])
    return np.stack(frames), np.stack(alphas)


def raw_alphas(segmenter: SelfieSegmenter, frames: np.ndarray) -> np.ndarray:
    """The segmentation of each frame, upsampled bilinearly to the frame: ``(N, H, W)`` float32."""
    height, width = frames.shape[1:3]
    return np.stack([unstretch(p, width, height) for p in segmenter.person_probability(frames)])


def score(alphas: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    scores = MattingScores(every=8)
    for pred, true in zip(alphas, truth, strict=True):
        scores.add(pred, true)
    return scores.averages()


def run(frames_per_clip: int, width: int, height: int, models: Path) -> dict[str, dict[str, dict[str, float]]]:
    """Scores per clip and method; prints the table."""
    name = segmentation_model(width, height)
    fetch_onnx(name, models)
    segmenter = SelfieSegmenter(models / REGISTRY[name].onnx, "cpu")
    matrix = YuvMatrix()
    methods = {"guided": replace(PortraitParams(), flow_weight=0.0), "guided + flow": PortraitParams()}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for clip, photo, seed, motion in CLIPS:
        frames, truth = ground_truth(photo, seed, motion, width, height, frames_per_clip)
        results[clip] = {"raw": score(raw_alphas(segmenter, frames), truth)}
        planes = [rgb_to_planes(f, matrix, subsampled=True) for f in frames]
        luma, chroma = np.stack([p[0] for p in planes]), np.stack([p[1] for p in planes])
        for method, params in methods.items():
            matter = PortraitMatter(segmenter, width, height, matrix, params)
            start = time.perf_counter()
            alpha, _ = matter.matte_planes(luma, chroma, matter.initial_state())
            seconds = (time.perf_counter() - start) / len(frames)
            results[clip][method] = score(alpha.astype(np.float32) / 255, truth) | {"ms/frame": seconds * 1e3}
    print(f"{frames_per_clip} frames per clip, {width}x{height}, model {name}; MAD, MSE x1e3, Grad /1e3, dtSSD x1e2")
    header = f"{'clip':16} {'method':14} " + " ".join(f"{m:>8}" for m in (*METRICS, "ms/frame"))
    print(header)
    for clip, by_method in results.items():
        for method, values in by_method.items():
            cells = " ".join(f"{values.get(m, float('nan')):8.2f}" for m in (*METRICS, "ms/frame"))
            print(f"{clip:16} {method:14} {cells}")
    for method in ("raw", "guided", "guided + flow"):
        mean = {m: float(np.mean([results[c][method][m] for c in results])) for m in METRICS}
        print(f"{'mean':16} {method:14} " + " ".join(f"{mean[m]:8.2f}" for m in METRICS))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--models", type=Path, default=Path.home() / ".cache" / "mattefarm" / "models")
    args = parser.parse_args()
    run(args.frames, args.width, args.height, args.models)


if __name__ == "__main__":
    main()
