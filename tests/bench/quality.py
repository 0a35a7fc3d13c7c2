"""Matte quality on ground-truth clips: Mattefarm vs oracle-tuned FFmpeg chromakey vs OpenCV HSV.

Each method keys the clip's ``source.mp4`` (H.264 4:2:0) and composites it over
the same still plate; its alpha is scored against the true alpha and its
composite against ``alpha * F + (1 - alpha) * plate`` made from the true alpha
and clean foreground (:mod:`tests.bench.metrics`); its signed alpha error is kept per bin of true
alpha (:class:`tests.bench.metrics.AlphaBias`, every frame), and Mattefarm's also per layer the
true alpha comes from (:func:`layer_bias`: veil, strands, edges).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tests.bench.baselines import ffmpeg_chromakey_frames, opencv_hsv_frames, tune_chromakey, tune_hsv_tolerance
from tests.bench.jobrun import rgb_frames, run_keying_job
from tests.bench.metrics import AlphaBias, MattingScores
from tests.bench.synth import SynthClip, SynthSpec, read_truth
from tests.bench.synth_scene import LOOKS, Scene
from workers.plates import PlateReader
from workers.pool import RenderPool

Scores = dict[str, float]
LAYERS = ("veil", "strands", "edges")
Frames = Iterator[tuple[np.ndarray, np.ndarray | None]]


@dataclass(frozen=True)
class ClipScores:
    """Scores of every method on one clip (``method -> metric -> value``), the tuned settings and
    each method's alpha bias per bin of true alpha."""

    name: str
    methods: dict[str, Scores]
    settings: dict[str, str]
    bias: dict[str, AlphaBias]


def true_composites(clip: SynthClip, plate: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(true alpha (H, W) float32, true composite (H, W, 3) uint8 RGB)`` per frame."""
    plate_f = plate.astype(np.float32) / 255.0
    for alpha, foreground in read_truth(clip):
        a = alpha[..., None]
        composite = a * foreground + (1.0 - a) * plate_f
        yield alpha, np.clip(composite * 255.0 + 0.5, 0, 255).astype(np.uint8)


def score(methods: dict[str, Frames], clip: SynthClip, plate: np.ndarray,
          every: int) -> tuple[dict[str, Scores], dict[str, AlphaBias]]:
    """Score each method's ``(alpha, composite)`` stream against the truth, in one pass over the
    truth: (metric averages, alpha bias per bin) per method."""
    scores = {name: MattingScores(every=every) for name in methods}
    biases = {name: AlphaBias() for name in methods}
    for (true_alpha, true_comp), *frames in zip(true_composites(clip, plate), *methods.values(), strict=True):
        for name, (alpha, composite) in zip(methods, frames):
            scores[name].add(alpha, true_alpha, composite, true_comp)
            biases[name].add(alpha, true_alpha)
    return {name: s.averages() for name, s in scores.items()}, biases


def mattefarm_frames(clip: SynthClip, plate_path: str, workdir: Path, pool: RenderPool) -> Frames:
    """Key the clip with a whole Mattefarm job (lossless FFV1 output and matte), then stream them."""
    output, matte = workdir / "mattefarm.mkv", workdir / "mattefarm_matte.mkv"
    run_keying_job(clip.source, output, workdir / "job", pool, background=plate_path, codec="ffv1", matte_out=str(matte))
    return zip(rgb_frames(matte, gray=True), rgb_frames(output), strict=True)


def _merge(alpha_frames: Frames, composite_frames: Frames) -> Frames:
    """Alpha from one run (no despill) and composite from another (with despill)."""
    for (alpha, _), (_, composite) in zip(alpha_frames, composite_frames, strict=True):
        yield alpha, composite


def evaluate_clip(clip: SynthClip, plate_path: str, workdir: Path, pool: RenderPool, every: int = 5) -> ClipScores:
    """All methods on one clip.

    FFmpeg's alpha is scored from ``chromakey`` alone, its composite with
    ``despill`` added (the chain a user runs); both with the oracle-tuned
    similarity and blend. The HSV recipe's hue tolerance is oracle-tuned too.
    """
    height, width = clip.meta["height"], clip.meta["width"]
    reader = PlateReader(plate_path, "image", width, height)
    plate = reader.frame_at(0.0)
    key = tuple(int(round(float(c) * 255)) for c in clip.screen_rgb)
    truth = lambda: (alpha for alpha, _ in read_truth(clip))  # noqa: E731
    similarity, blend, _ = tune_chromakey(clip.source, truth, key)
    tolerance, _ = tune_hsv_tolerance(clip.source, truth, key)
    methods, biases = score({
        "mattefarm": mattefarm_frames(clip, plate_path, workdir, pool),
        "ffmpeg chromakey(+despill)": _merge(ffmpeg_chromakey_frames(clip.source, key, similarity, blend, plate, False),
                                             ffmpeg_chromakey_frames(clip.source, key, similarity, blend, plate, True)),
        "opencv hsv": opencv_hsv_frames(clip.source, key, plate, hue_tolerance=tolerance),
    }, clip, plate, every)
    settings = {"chromakey": f"similarity {similarity:.3f}, blend {blend:.3f}", "hsv": f"hue tolerance {tolerance}"}
    return ClipScores(clip.meta["spec"]["name"], methods, settings, biases)


def layer_bias(spec: SynthSpec, matte: Path, every: int = 5) -> dict[str, AlphaBias]:
    """A matte's alpha bias per bin, split by the layer each pixel's true alpha comes from.

    The clip's scene is rendered again as is, without its veil and without its strands (both
    still drawn, so every random draw is the same; ``Knobs.hide_veil``/``hide_hair``). On frames
    0, every, 2 every, ...: veil = pixels whose 8-bit true alpha moves by more than 1 level
    without the veil; strands = the other pixels that move without the strands; edges = the rest
    (body and hair-mass edges, motion blur). matte: the keyer's alpha for the clip (8-bit gray
    video, display order), e.g. ``mattefarm_matte.mkv`` of :func:`mattefarm_frames`.
    """
    def scene(**hide: bool) -> Scene:
        return Scene(spec.width, spec.height, LOOKS[spec.screen], spec.photo, spec.motion, spec.seed,
                     knobs=replace(spec.knobs, **hide))

    full, no_veil, no_hair = scene(), scene(hide_veil=True), scene(hide_hair=True)
    out = {layer: AlphaBias() for layer in LAYERS}
    for i, pred in enumerate(rgb_frames(matte, gray=True)):
        if i % every:
            continue
        true = full.render(i).alpha.astype(np.int16)
        veil = np.abs(true - no_veil.render(i).alpha) > 1
        strands = ~veil & (np.abs(true - no_hair.render(i).alpha) > 1)
        alpha = true.astype(np.float32) / 255
        for layer, mask in zip(LAYERS, (veil, strands, ~veil & ~strands), strict=True):
            out[layer].add(pred[mask], alpha[mask])
    return out
