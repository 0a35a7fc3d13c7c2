"""Seeded synthetic green/blue-screen clips with known ground-truth alpha and clean foreground, for
benchmarking a keyer against FFmpeg chromakey.

A person-like actor (head, hair mass and fine strands, neck, shoulders) textured with a real photo
from ``shared/media/faces`` sways and dashes over an unevenly lit screen (vignette, gradient, cloth
folds, its own soft shadow), wears a semi-transparent scarf, and is motion blurred; its edges and
the scarf carry spill from the screen; the frame gets exposure flicker and sensor noise. Drawing
lives in ``tests.bench.synth_scene``; this module encodes and caches clips:

- ``source.mp4``: H.264 (libx264, yuv420p, BT.709, limited range, crf 16 unless the spec says
  otherwise, preset veryfast, mbtree off)
  + AAC 48 kHz stereo (a quiet tone with noise), what the keyer gets;
- ``alpha.mkv``: FFV1 gray, the exact 8-bit alpha the frame was composited with;
- ``foreground.mkv``: FFV1 bgr0 (lossless RGB), the clean (unspilled) straight foreground, 0 where
  alpha is 0;
- ``meta.json``: spec, screen colour, size, frame count, fps, version (the cache key).

Two suites (issue 17): ``TUNING_SUITE`` (alias ``BENCH_SUITE``), the clips a keyer may be tuned
on, and ``HELD_OUT_SUITE``, clips with seeds, photos, screens and scene knobs (``Knobs``: even
lighting, sparse low-alpha strands, dense hair, veil spill, shutter, noise, compression) that no
tuning clip uses. A change to the keyer stays only if the held-out figures agree with the tuning ones.

Run ``python -m tests.bench.synth OUTDIR [--suite tuning|held-out|both] [--name NAME]`` to make the
clips with contact sheets.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tests.bench.synth_scene import EVEN_LIGHT, LOOKS, SPARSE_STRANDS, Knobs, Scene

VERSION = "synth-1"  # part of the cache key: bump it whenever the drawing or encoding changes
BT709 = 1  # swscale SWS_CS_ITU709 and the AVCOL_PRI/TRC/SPC_BT709 tags
LIMITED = 1  # AVCOL_RANGE_MPEG
AUDIO_RATE = 48000


@dataclass(frozen=True)
class SynthSpec:
    """What clip to make. screen: a preset in ``synth_scene.LOOKS`` (green | blue | yellowgreen |
    bluegreen | hard | brightgreen); width/height: even pixels; frames at `fps` frames/s; photo:
    relative to shared/media (a still, or ``video#frame``); keyint: x264 GOP length in frames;
    motion: speed multiplier of the actor's path; crf: x264's constant rate factor (compression);
    knobs: the scene's departures from the look (``synth_scene.Knobs``). Every random choice comes
    from `seed`. crf and knobs at their defaults are left out of meta.json, so clips made before
    they existed keep their cache key (and their bytes)."""

    name: str
    screen: str = "green"
    width: int = 1280
    height: int = 720
    frames: int = 100
    fps: int = 25
    seed: int = 0
    photo: str = "faces/wh_obama_official_portrait.jpg"
    keyint: int = 250
    motion: float = 1.0
    crf: int = 16
    knobs: Knobs = field(default_factory=Knobs)


@dataclass(frozen=True)
class SynthClip:
    """A generated clip: the three files, meta.json's content, and the nominal screen colour
    (3,) float32 RGB in [0, 1]."""

    source: Path
    alpha: Path
    foreground: Path
    meta: dict
    screen_rgb: np.ndarray


TUNING_SUITE: list[SynthSpec] = [
    SynthSpec("green_720p", "green", seed=11, photo="faces/wh_obama_official_portrait.jpg"),
    SynthSpec("blue_720p", "blue", seed=12, photo="faces/wh_biden_blue_room.jpg"),
    SynthSpec("yellowgreen_720p", "yellowgreen", seed=13, photo="faces/skimage_astronaut_eileen_collins.png"),
    SynthSpec("bluegreen_720p", "bluegreen", seed=14, photo="faces/wh_obama_joint_session.jpg"),
    SynthSpec("hard_720p", "hard", seed=15, photo="faces/wh_obama_blue_room.jpg", motion=2.5),
    SynthSpec("green_1080p", "green", 1920, 1080, frames=50, seed=16, photo="faces/skimage_astronaut_eileen_collins.png"),
]
BENCH_SUITE = TUNING_SUITE  # the name before issue 17

# Held out: seeds 101-105, people from GRID video frames and a mirrored still (no tuning clip
# uses them), a screen colour and scene knobs no tuning clip has. Never tune on these.
HELD_OUT_SUITE: list[SynthSpec] = [
    # the case: an evenly lit green screen, fine sparse low-alpha strands, a veil with little spill
    SynthSpec("even_green_strands_720p", "green", seed=101, photo="faces/grid_lbbc2a.mpg#10",
              knobs=Knobs(**EVEN_LIGHT, **SPARSE_STRANDS, veil_spill=0.2)),
    # heavy spill on the veil (and more on the edges) over blue, dense hair, mirrored texture
    SynthSpec("blue_heavy_spill_720p", "blue", seed=102, photo="faces/grid_sbia1a.mpg#10",
              knobs=Knobs(spill=1.4, veil_spill=1.6, hair=1400, mirror=True)),  # veil 78 % toward the screen
    # fast motion blur: a fully open shutter and a path three times as fast
    SynthSpec("fast_blur_720p", "brightgreen", seed=103, photo="faces/grid_bbaf2n.mpg#10", motion=3.2,
              knobs=Knobs(shutter=1.0, folds=0.5, vignette=0.6, flyaway=0.2)),
    # noisy sensor and heavy compression on a strongly uneven screen, two-person still mirrored
    SynthSpec("noisy_crf30_720p", "green", seed=104, photo="faces/wh_two_people.jpg", crf=30,
              knobs=Knobs(noise=7.0 / 255, folds=1.6, gradient=1.5, shadow=1.3, flicker=1.5, mirror=True)),
    # slow motion with a short shutter, dense hair, little veil spill, bluish green screen
    SynthSpec("slow_dense_hair_720p", "bluegreen", seed=105, photo="faces/grid_pwij3p.mpg#10", motion=0.35,
              knobs=Knobs(shutter=0.25, hair=1600, hair_opacity=0.8, veil_spill=0.4, noise=1.0 / 255)),
]
SUITES = {"tuning": TUNING_SUITE, "held-out": HELD_OUT_SUITE}


def _spec_dict(spec: SynthSpec) -> dict:
    """The spec as meta.json records it: crf and knobs only where they differ from their defaults."""
    fields = asdict(spec)
    if spec.crf == 16:
        del fields["crf"]
    defaults = asdict(Knobs())
    fields["knobs"] = {k: v for k, v in fields["knobs"].items() if v != defaults[k]}
    if not fields["knobs"]:
        del fields["knobs"]
    return fields


def _meta(spec: SynthSpec) -> dict:
    rgb = [float(c) for c in LOOKS[spec.screen].rgb]
    return json.loads(json.dumps({
        "version": VERSION, "spec": _spec_dict(spec), "width": spec.width, "height": spec.height,
        "frames": spec.frames, "fps": spec.fps, "look": asdict(LOOKS[spec.screen]),
        "screen_rgb": rgb, "screen_hex": "#" + "".join(f"{round(c * 255):02x}" for c in rgb),
        "files": {"source": "source.mp4", "alpha": "alpha.mkv", "foreground": "foreground.mkv"},
        "audio": {"codec": "aac", "rate": AUDIO_RATE, "layout": "stereo"},
    }))  # as read back from meta.json (lists, not tuples)


def _clip(folder: Path, meta: dict) -> SynthClip:
    files = meta["files"]
    return SynthClip(folder / files["source"], folder / files["alpha"], folder / files["foreground"],
                     meta, np.float32(meta["screen_rgb"]))


def _h264(out: av.container.OutputContainer, width: int, height: int, fps: int, keyint: int,
          crf: int = 16, preset: str = "veryfast") -> av.VideoStream:
    """A libx264 yuv420p stream tagged BT.709 limited range; time base 1/fps."""
    stream = out.add_stream("libx264", rate=Fraction(fps))
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    # mbtree off: with it, x264's SIMD makes small frames (e.g. 320x180) differ run to run
    stream.options = {"crf": str(crf), "preset": preset, "x264-params": f"keyint={keyint}:mbtree=0"}
    ctx = stream.codec_context
    ctx.time_base = Fraction(1, fps)
    ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range = BT709, BT709, BT709, LIMITED
    return stream


def _ffv1(out: av.container.OutputContainer, width: int, height: int, fps: int, pix_fmt: str) -> av.VideoStream:
    """A lossless FFV1 (level 3, intra only) stream of `pix_fmt`."""
    stream = out.add_stream("ffv1", rate=Fraction(fps))
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.options = {"level": "3", "g": "1"}
    stream.codec_context.time_base = Fraction(1, fps)
    return stream


def _yuv(rgb: np.ndarray) -> av.VideoFrame:
    """(H, W, 3) uint8 RGB -> yuv420p frame, BT.709 matrix, limited range, tagged."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p", src_colorspace=BT709, dst_colorspace=BT709, dst_color_range=LIMITED)
    frame.color_primaries, frame.color_trc = BT709, BT709
    return frame


def _put(out: av.container.OutputContainer, stream: av.VideoStream, frame: av.VideoFrame | None, pts: int = 0) -> None:
    """Encode one frame with pts (in 1/fps) and mux; None flushes the encoder."""
    if frame is not None:
        frame.pts, frame.time_base = pts, stream.codec_context.time_base
    for packet in stream.encode(frame):
        out.mux(packet)


class _Audio:
    """A quiet AAC track (220 Hz tone at -34 dBFS with faint noise, 48 kHz stereo), written in
    1024-sample frames up to a given time so that it interleaves with the video."""

    def __init__(self, out: av.container.OutputContainer, seed: int) -> None:
        self.out, self.pts = out, 0
        self.stream = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        self.rng = np.random.default_rng([seed, 48000])

    def until(self, seconds: float) -> None:
        total = round(seconds * AUDIO_RATE)
        while self.pts < total:
            n = min(1024, total - self.pts)
            t = np.arange(self.pts, self.pts + n, dtype=np.float64) / AUDIO_RATE
            tone = 0.02 * np.sin(2 * np.pi * 220 * t)
            samples = (tone + 0.003 * self.rng.standard_normal((2, n))).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = AUDIO_RATE, self.pts
            for packet in self.stream.encode(frame):
                self.out.mux(packet)
            self.pts += n

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.out.mux(packet)


def _open(path: Path) -> av.container.OutputContainer:
    """Output container with bitexact muxing (no random UIDs), so the same spec gives the same bytes."""
    return av.open(str(path), "w", container_options={"fflags": "+bitexact"})


def make_synth_clip(spec: SynthSpec, directory: Path) -> SynthClip:
    """Write the clip into directory/spec.name/ (streamed frame by frame) and return it; reuse the
    files when meta.json there matches this spec and VERSION (meta.json is written last)."""
    assert spec.width % 2 == 0 and spec.height % 2 == 0, "width and height must be even (yuv420p)"
    folder, meta = Path(directory) / spec.name, _meta(spec)
    clip = _clip(folder, meta)
    marker = folder / "meta.json"
    if marker.is_file() and json.loads(marker.read_text()) == meta and all(
            p.is_file() for p in (clip.source, clip.alpha, clip.foreground)):
        return clip
    folder.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    scene = Scene(spec.width, spec.height, LOOKS[spec.screen], spec.photo, spec.motion, spec.seed, knobs=spec.knobs)
    w, h = spec.width, spec.height
    with _open(clip.source) as src, _open(clip.alpha) as al, _open(clip.foreground) as fg:
        video, audio = _h264(src, w, h, spec.fps, spec.keyint, crf=spec.crf), _Audio(src, spec.seed)
        alpha, fore = _ffv1(al, w, h, spec.fps, "gray"), _ffv1(fg, w, h, spec.fps, "bgr0")
        for i in range(spec.frames):
            truth = scene.render(i)
            _put(src, video, _yuv(truth.observed), i)
            audio.until((i + 1) / spec.fps)
            _put(al, alpha, av.VideoFrame.from_ndarray(truth.alpha, format="gray"), i)
            _put(fg, fore, av.VideoFrame.from_ndarray(truth.foreground, format="rgb24"), i)
        for out, stream in ((src, video), (al, alpha), (fg, fore)):
            _put(out, stream, None)
        audio.close()
    marker.write_text(json.dumps(meta, indent=2))
    return clip


def read_truth(clip: SynthClip) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per frame, streamed: (alpha (H, W) float32 in [0, 1], clean straight foreground (H, W, 3)
    float32 RGB in [0, 1]), exactly as composited (8-bit values / 255)."""
    with av.open(str(clip.alpha)) as al, av.open(str(clip.foreground)) as fg:
        for a, f in zip(al.decode(video=0), fg.decode(video=0), strict=True):
            alpha = a.to_ndarray(format="gray").astype(np.float32) / 255
            yield alpha, f.to_ndarray(format="rgb24").astype(np.float32) / 255


def _probe(path: Path) -> tuple[int, int, int]:
    """(video frames, width, height) of a file: the container's frame count, else its video
    packets counted without decoding."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = stream.frames or sum(1 for p in container.demux(stream) if p.size)
        return frames, stream.width, stream.height


def make_long_source(path: Path, width: int = 1920, height: int = 1080, seconds: float = 600.0, fps: int = 25,
                     keyint: int = 600, cycle_frames: int = 50, seed: int = 0) -> Path:
    """A long H.264 (ultrafast, crf 20, yuv420p, BT.709, GOP `keyint`) + AAC source for scaling
    and memory benchmarks: `cycle_frames` synthetic green-screen frames (a seamless loop of the
    actor's path) rendered once, held in memory as yuv420p, and encoded in a loop for
    round(seconds * fps) frames. Reused when `path` exists with that frame count and size;
    written to a temporary name beside it, then renamed."""
    path, total = Path(path), round(seconds * fps)
    if path.is_file() and _probe(path) == (total, width, height):
        return path
    scene = Scene(width, height, LOOKS["green"], "faces/wh_obama_official_portrait.jpg", 1.0, seed, period=cycle_frames)
    cycle = [_yuv(scene.render(i).observed) for i in range(cycle_frames)]
    part = path.with_name(path.stem + ".part" + path.suffix)
    with _open(part) as out:
        video, audio = _h264(out, width, height, fps, keyint, crf=20, preset="ultrafast"), _Audio(out, seed)
        for i in range(total):
            _put(out, video, cycle[i % cycle_frames], i)
            audio.until((i + 1) / fps)
        _put(out, video, None)
        audio.close()
    part.replace(path)
    return path


def _panels(observed: np.ndarray, alpha: np.ndarray, fg: np.ndarray, width: int) -> np.ndarray:
    """observed | alpha | clean foreground over a checkerboard by the true alpha, scaled to `width` each."""
    h, w = alpha.shape
    yy, xx = np.mgrid[:h, :w]
    checker = np.where(((yy // 16 + xx // 16) % 2)[..., None] == 0, 0.35, 0.6).astype(np.float32)
    over = fg * alpha[..., None] + checker * (1 - alpha[..., None])
    tiles = [observed.astype(np.float32) / 255, np.repeat(alpha[..., None], 3, 2), over]
    size = (width, round(h * width / w))
    return np.hstack([cv2.resize(t, size, interpolation=cv2.INTER_AREA) for t in tiles])


def write_contact_sheet(clip: SynthClip, path: Path, panel_width: int = 640) -> Path:
    """PNG of frames 0 and N/2, each row: observed | ground-truth alpha | clean foreground."""
    picks, decoded = {0, clip.meta["frames"] // 2}, {}
    with av.open(str(clip.source)) as src:
        for i, frame in enumerate(src.decode(video=0)):
            if i in picks:
                decoded[i] = frame.reformat(format="rgb24", src_colorspace=BT709, dst_colorspace=BT709).to_ndarray()
    rows = [_panels(decoded[i], a, f, panel_width) for i, (a, f) in enumerate(read_truth(clip)) if i in picks]
    sheet = np.clip(np.vstack(rows) * 255 + 0.5, 0, 255).astype(np.uint8)
    for k, label in enumerate(("observed (source.mp4)", "alpha.mkv", "foreground.mkv over checker")):
        cv2.putText(sheet, label, (k * panel_width + 8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return path


def main(argv: list[str] | None = None) -> None:
    """Make the suites (or one clip) under OUTDIR with a contact sheet per clip."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.synth", description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--suite", choices=["tuning", "held-out", "both"], default="both")
    parser.add_argument("--name", choices=[s.name for s in TUNING_SUITE + HELD_OUT_SUITE], help="only this clip")
    args = parser.parse_args(argv)
    specs = TUNING_SUITE + HELD_OUT_SUITE if args.suite == "both" or args.name else SUITES[args.suite]
    for spec in specs:
        if args.name and spec.name != args.name:
            continue
        started = time.perf_counter()
        clip = make_synth_clip(spec, args.outdir)
        seconds = time.perf_counter() - started
        sheet = write_contact_sheet(clip, clip.source.parent / "contact_sheet.png")
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB" for p in (clip.source, clip.alpha, clip.foreground))
        print(f"{spec.name}: {spec.frames} frames in {seconds:.1f} s ({seconds / spec.frames * 1000:.0f} ms/frame "
              f"incl. encoding, 0 if cached); {sizes}; {sheet}")


if __name__ == "__main__":
    main()
