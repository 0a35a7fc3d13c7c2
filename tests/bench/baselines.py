"""Baselines a user would reach for instead of Mattefarm, each streaming frames from a source video.

- FFmpeg ``chromakey`` (+ ``despill``) + ``overlay`` run through PyAV's bundled libavfilter
  (:func:`ffmpeg_chromakey_frames`), with oracle tuning of similarity/blend against ground-truth
  alpha (:func:`tune_chromakey`), and the same chain encoded with libx264 as the speed baseline
  (:func:`ffmpeg_chain_encode`), equivalent to::

      ffmpeg -i SRC -loop 1 -framerate FPS -i PLATE -filter_complex \\
        "[0:v]chromakey=...:yuv=1,despill=...[k];[1:v]scale=W:H[p];[p][k]overlay=shortest=1,format=yuv420p" \\
        -c:v libx264 -crf 18 -preset veryfast OUT.mp4

- The common OpenCV HSV recipe (:func:`opencv_hsv_frames`, :func:`tune_hsv_tolerance`).

Colour handling (pitfalls in ../shared/FIELD-NOTES.md, "FFmpeg CLI (for baselines only)"):
``chromakey`` turns an RGB ``color`` into U/V with BT.601 full-range coefficients, so the key is
given as YUV (``yuv=1``, ``color=0xYYUUVV``) computed with BT.709 limited-range coefficients
(:func:`rgb_to_yuv709_limited`), matching our H.264 yuv420p BT.709 limited clips. The pixel format
before the key is pinned to ``yuva420p`` (what the CLI negotiates for yuv420p input: the key's 3x3
U/V neighbourhood is then read at 4:2:0). Every YUV<->RGB conversion inside the graphs names its
matrix and range (BT.709, tv for YUV, pc for RGB); frames leave as RGB via swscale with ITU709.
``despill`` keeps the raw mixed colour at semi-transparent pixels (it only subtracts spill from
the green, or blue, channel), so it can make an edge worse; that is the baseline's behaviour.

Frames are pushed and pulled one at a time; nothing holds a clip, except the tuners, which keep
their sampled frames (every ``sample_every``-th) for the grid search.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import cv2
import numpy as np
from av.container import OutputContainer
from av.filter import Graph
from av.filter.context import FilterContext
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from tests.bench.metrics import mad

RGB = tuple[int, int, int]
TruthFn = Callable[[], Iterable[np.ndarray]]

# Coarse grid then a fine grid around the best coarse pair (see tune_chromakey).
COARSE_SIMILARITY = tuple(round(0.02 + 0.04 * i, 3) for i in range(10))  # 0.02 .. 0.38
COARSE_BLEND = (0.0, 0.1, 0.2, 0.3)
FINE_SIMILARITY_OFFSETS = (-0.02, -0.01, 0.0, 0.01, 0.02)
FINE_BLEND_OFFSETS = (-0.05, -0.025, 0.0, 0.025, 0.05)
SIMILARITY_RANGE = (0.00001, 0.40)  # chromakey's minimum similarity is 1e-5
BLEND_RANGE = (0.0, 0.30)

AVCOL_BT709 = 1  # AVCOL_PRI_BT709 / AVCOL_TRC_BT709 / AVCOL_SPC_BT709
AVCOL_RANGE_MPEG = 1  # limited ("tv") range


# ---------------------------------------------------------------- colour and frame helpers


def rgb_to_yuv709_limited(rgb: RGB) -> RGB:
    """8-bit (Y, Cb, Cr) of an 8-bit (R, G, B) colour, BT.709 limited range (Y 16-235, C 16-240).

    Non-linear R'G'B' in, Kr = 0.2126, Kb = 0.0722: Y' = Kr R + (1 - Kr - Kb) G + Kb B,
    Cb = (B - Y') / 1.8556, Cr = (R - Y') / 1.5748; Y = 16 + 219 Y', C = 128 + 224 C.
    """
    r, g, b = (c / 255.0 for c in rgb)
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    cb, cr = (b - y) / 1.8556, (r - y) / 1.5748
    yuv = (16 + 219 * y, 128 + 224 * cb, 128 + 224 * cr)
    return tuple(int(np.clip(round(v), 0, 255)) for v in yuv)  # type: ignore[return-value]


def _despill_args(key_rgb: RGB) -> str:
    """``despill`` options for the key's dominant channel (blue if B > G, else green).

    FFmpeg defaults (mix 0.5, expand 0, brightness 0, alpha off) with the spill subtracted from
    the screen channel: green screen ``green=-1:blue=0`` (the default), blue screen
    ``green=0:blue=-1`` (the default green=-1 would strip green from a blue spill).
    """
    blue = key_rgb[2] > key_rgb[1]
    scales = "green=0:blue=-1" if blue else "green=-1:blue=0"
    return f"type={'blue' if blue else 'green'}:mix=0.5:expand=0:red=0:{scales}:brightness=0:alpha=0"


def _chromakey_args(key_rgb: RGB, similarity: float, blend: float) -> str:
    y, u, v = rgb_to_yuv709_limited(key_rgb)
    return f"color=0x{y:02X}{u:02X}{v:02X}:similarity={similarity:.6f}:blend={blend:.6f}:yuv=1"


def _to_rgb(frame: VideoFrame) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a limited-range BT.709 YUV frame."""
    return frame.reformat(format="rgb24", src_colorspace="ITU709", dst_colorspace="ITU709").to_ndarray()


def _alpha_plane(frame: VideoFrame) -> np.ndarray:
    """(H, W) float32 [0, 1] from the 8-bit alpha plane (plane 3) of a yuva420p frame."""
    plane = frame.planes[3]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width].astype(np.float32) / 255.0


def _selected(index: int, frames: slice | None) -> bool:
    if frames is None:
        return True
    start, stop, step = frames.start or 0, frames.stop, frames.step or 1
    return index >= start and (stop is None or index < stop) and (index - start) % step == 0


def _past_end(index: int, frames: slice | None) -> bool:
    return frames is not None and frames.stop is not None and index >= frames.stop


def _decode(source: Path, frames: slice | None = None) -> Iterator[tuple[int, VideoFrame]]:
    """(index, frame) of the first video stream in display order; threads on; stops past the slice."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            if _past_end(index, frames):
                return
            if _selected(index, frames):
                if frame.pts is None:
                    frame.pts = index
                yield index, frame


@dataclass(frozen=True)
class _VideoInfo:
    """First video stream: size, decoder pixel format, time base, average frame rate."""

    width: int
    height: int
    pix_fmt: str
    time_base: Fraction
    rate: Fraction | None


def _video_info(source: Path) -> _VideoInfo:
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        return _VideoInfo(cc.width, cc.height, cc.format.name, stream.time_base, stream.average_rate)


def _rgb_frame(rgb: np.ndarray) -> VideoFrame:
    """An rgb24 VideoFrame of an (H, W, 3) uint8 RGB array."""
    return VideoFrame.from_ndarray(np.ascontiguousarray(rgb, dtype=np.uint8), format="rgb24")


def _load_plate(plate_path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image's first frame (decoded by PyAV, its own colour tags)."""
    with av.open(str(plate_path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


# ---------------------------------------------------------------- libavfilter graphs


@dataclass
class _KeyGraph:
    """A configured chromakey graph: where to push, where to pull."""

    graph: Graph
    video_in: FilterContext
    plate_in: FilterContext | None
    alpha_out: FilterContext | None
    composite_out: FilterContext | None


def _chain(graph: Graph, head: FilterContext, *filters: tuple[str, str]) -> FilterContext:
    """Add filters after `head`, linked in order; returns the last one."""
    for name, args in filters:
        node = graph.add(name, args)
        head.link_to(node)
        head = node
    return head


def _keyed_to_overlay(key_rgb: RGB, despill: bool) -> list[tuple[str, str]]:
    """yuva420p (BT.709 tv) keyed layer -> [despill in RGBA ->] yuva420p for overlay."""
    if not despill:
        return []
    return [
        ("scale", "in_color_matrix=bt709:in_range=tv:out_range=pc"),
        ("format", "rgba"),
        ("despill", _despill_args(key_rgb)),
        ("scale", "in_range=pc:out_color_matrix=bt709:out_range=tv"),
        ("format", "yuva420p"),
    ]


def _buffer(graph: Graph, size: tuple[int, int], pix_fmt: str, time_base: Fraction, yuv709: bool) -> FilterContext:
    """A buffer source; YUV tagged BT.709 limited, RGB tagged gbr full range."""
    colour = {"colorspace": "bt709", "range": "tv"} if yuv709 else {"colorspace": "gbr", "range": "pc"}
    return graph.add(
        "buffer", video_size=f"{size[0]}x{size[1]}", pix_fmt=str(int(av.VideoFormat(pix_fmt))),
        time_base=str(time_base), pixel_aspect="1/1", **colour,
    )


def _add_overlay(
    graph: Graph, layer: FilterContext, info: _VideoInfo, plate_size: tuple[int, int]
) -> tuple[FilterContext, FilterContext]:
    """Plate buffer (rgb24, any size) -> scale=W:H to BT.709 tv yuv420p -> overlay(main) with
    `layer` on top (overlay's default format yuv420, shortest=1) -> format=yuv420p -> buffersink.
    Returns (plate buffer, sink)."""
    plate_in = _buffer(graph, plate_size, "rgb24", info.time_base, yuv709=False)
    scale = f"{info.width}:{info.height}:out_color_matrix=bt709:out_range=tv"
    plate_yuv = _chain(graph, plate_in, ("scale", scale), ("format", "yuv420p"))
    overlay = graph.add("overlay", "shortest=1:format=yuv420")
    plate_yuv.link_to(overlay, 0, 0)
    layer.link_to(overlay, 0, 1)
    return plate_in, _chain(graph, overlay, ("format", "yuv420p"), ("buffersink", ""))


def _key_graph(
    info: _VideoInfo,
    key: tuple[RGB, float, float],
    despill: bool,
    plate_size: tuple[int, int] | None,
    alpha_tap: bool,
) -> _KeyGraph:
    """buffer -> format=yuva420p -> chromakey [-> split: alpha sink] [-> despill -> overlay on plate].

    key: (key_rgb, similarity, blend). plate_size: (width, height) of the rgb24 plate frames that
    will be pushed, or None for no plate (then despill is moot). alpha_tap: add a sink right
    after chromakey (yuva420p) to read the alpha plane from.
    """
    graph = Graph()
    video_in = _buffer(graph, (info.width, info.height), info.pix_fmt, info.time_base, yuv709=True)
    keyed = _chain(graph, video_in, ("format", "yuva420p"), ("chromakey", _chromakey_args(*key)))
    alpha_out = composite_out = plate_in = None
    if alpha_tap and plate_size is not None:
        split = graph.add("split", "2")
        keyed.link_to(split)
        alpha_out, keyed = graph.add("buffersink"), graph.add("null")
        split.link_to(alpha_out, 0, 0)
        split.link_to(keyed, 1, 0)
    elif alpha_tap:
        alpha_out = _chain(graph, keyed, ("buffersink", ""))
    if plate_size is not None:
        layer = _chain(graph, keyed, *_keyed_to_overlay(key[0], despill))
        plate_in, composite_out = _add_overlay(graph, layer, info, plate_size)
    graph.configure()
    return _KeyGraph(graph, video_in, plate_in, alpha_out, composite_out)


def _drain(sink: FilterContext | None) -> list[VideoFrame]:
    """Every frame the sink has ready (none if the sink is None)."""
    out: list[VideoFrame] = []
    while sink is not None:
        try:
            out.append(sink.pull())
        except (av.error.BlockingIOError, av.error.EOFError):
            break
    return out


def _push(graph: _KeyGraph, frame: VideoFrame | None, plate: VideoFrame | None) -> None:
    """Push a source frame (None = end of stream) and, stamped with its pts, the plate."""
    if graph.plate_in is not None and plate is not None:
        if frame is not None:
            plate.pts, plate.time_base = frame.pts, frame.time_base
        graph.plate_in.push(plate if frame is not None else None)
    graph.video_in.push(frame)


def _keyed_frames(
    graph: _KeyGraph, frames: Iterable[VideoFrame], plate: VideoFrame | None
) -> Iterator[tuple[VideoFrame | None, VideoFrame | None]]:
    """(alpha-tap frame or None, composite frame or None) per pushed frame, in order."""
    alphas: deque[VideoFrame] = deque()
    composites: deque[VideoFrame] = deque()
    want_alpha, want_comp = graph.alpha_out is not None, graph.composite_out is not None
    assert want_alpha or want_comp, "graph has no sink"
    for frame in _with_end(frames):
        _push(graph, frame, plate)
        alphas.extend(_drain(graph.alpha_out))
        composites.extend(_drain(graph.composite_out))
        while (alphas or not want_alpha) and (composites or not want_comp):
            yield (alphas.popleft() if want_alpha else None), (composites.popleft() if want_comp else None)


def _with_end(frames: Iterable[VideoFrame]) -> Iterator[VideoFrame | None]:
    """The frames, then None (end of stream)."""
    yield from frames
    yield None


def ffmpeg_chromakey_frames(
    source: Path,
    key_rgb: RGB,
    similarity: float,
    blend: float,
    plate_rgb: np.ndarray | None,
    despill: bool,
    frames: slice | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """FFmpeg ``chromakey`` (+ ``despill``) + ``overlay`` on each frame of `source`.

    source: video whose first stream is YUV BT.709 limited (our H.264 yuv420p clips).
    key_rgb: 8-bit screen colour (given to chromakey as BT.709 YUV, ``yuv=1``).
    similarity, blend: chromakey's options (0-1 distance in U/V; 0 blend = hard key).
    plate_rgb: (H, W, 3) uint8 RGB still composited under the key, or None for alpha only.
    despill: add ``despill`` (options in :func:`_despill_args`); affects the composite only.
    frames: which frames (display order) to key; the rest are decoded and skipped.
    Yields (alpha (H, W) float32 in [0, 1] straight from chromakey's alpha plane, composite
    (H, W, 3) uint8 RGB via BT.709, or None without a plate), one per selected frame, in order.
    """
    info = _video_info(source)
    plate = None if plate_rgb is None else _rgb_frame(plate_rgb)
    size = None if plate is None else (plate.width, plate.height)
    graph = _key_graph(info, (key_rgb, similarity, blend), despill, size, alpha_tap=True)
    decoded = (frame for _, frame in _decode(source, frames))
    for alpha, comp in _keyed_frames(graph, decoded, plate):
        assert alpha is not None
        yield _alpha_plane(alpha), (None if comp is None else _to_rgb(comp))


# ---------------------------------------------------------------- oracle tuning


def _samples(source: Path, truth_alpha_frames_fn: TruthFn, sample_every: int) -> list[tuple[VideoFrame, np.ndarray]]:
    """(decoded frame, ground-truth alpha) for frames 0, sample_every, 2 sample_every, ..."""
    pairs = zip(_decode(source), truth_alpha_frames_fn(), strict=True)  # ValueError if counts differ
    return [(frame, np.asarray(alpha, np.float32)) for (i, frame), alpha in pairs if i % sample_every == 0]


def _chromakey_mad(
    info: _VideoInfo, samples: list[tuple[VideoFrame, np.ndarray]], key: tuple[RGB, float, float]
) -> float:
    """Mean MAD (x 1e3, as metrics.mad) of chromakey's alpha over the samples."""
    graph = _key_graph(info, key, despill=False, plate_size=None, alpha_tap=True)
    keyed = _keyed_frames(graph, [frame for frame, _ in samples], None)
    scores = [mad(_alpha_plane(alpha), truth) for (alpha, _), (_, truth) in zip(keyed, samples, strict=True)]
    return float(np.mean(scores))


def _fine_grid(similarity: float, blend: float) -> list[tuple[float, float]]:
    sims = {round(float(np.clip(similarity + d, *SIMILARITY_RANGE)), 5) for d in FINE_SIMILARITY_OFFSETS}
    blends = {round(float(np.clip(blend + d, *BLEND_RANGE)), 5) for d in FINE_BLEND_OFFSETS}
    return [(s, b) for s in sorted(sims) for b in sorted(blends)]


def tune_chromakey(
    source: Path, truth_alpha_frames_fn: TruthFn, key_rgb: RGB, sample_every: int = 10
) -> tuple[float, float, float]:
    """Oracle-tuned chromakey: the (similarity, blend) with the lowest alpha MAD vs ground truth.

    truth_alpha_frames_fn: returns an iterator of (H, W) float32 [0, 1] true alphas, one per
    source frame in display order. Only frames 0, sample_every, ... are scored (they are held in
    memory for the search). Grids: coarse similarity 0.02-0.38 step 0.04 x blend 0, 0.1, 0.2,
    0.3 (40 pairs), then fine similarity best +-0.02 step 0.01 x blend best +-0.05 step 0.025,
    clipped to [1e-5, 0.40] x [0, 0.30] (at most 25 pairs). Returns (similarity, blend,
    best MAD x 1e3).
    """
    info = _video_info(source)
    samples = _samples(source, truth_alpha_frames_fn, sample_every)
    scored: dict[tuple[float, float], float] = {}

    def search(grid: Iterable[tuple[float, float]]) -> tuple[float, float]:
        for pair in grid:
            if pair not in scored:
                scored[pair] = _chromakey_mad(info, samples, (key_rgb, *pair))
        return min(scored, key=scored.__getitem__)

    best = search((s, b) for s in COARSE_SIMILARITY for b in COARSE_BLEND)
    best = search(_fine_grid(*best))
    return best[0], best[1], scored[best]


# ---------------------------------------------------------------- OpenCV HSV baseline


@dataclass(frozen=True)
class HsvParams:
    """The OpenCV HSV recipe's knobs (OpenCV 8-bit HSV: hue 0-179 = 0-358 degrees, S and V 0-255).

    hue_tolerance: +- hue around the screen's hue (10 = +-20 degrees). sat_min, val_min: darker or
    greyer pixels are never screen. kernel: ellipse size for morphology open then close of the
    screen mask. blur: Gaussian kernel size (odd) for the mask's edge, sigma from the size.
    """

    hue_tolerance: int = 10
    sat_min: int = 70
    val_min: int = 40
    kernel: int = 5
    blur: int = 7


def _hue(key_rgb: RGB) -> int:
    return int(cv2.cvtColor(np.uint8([[key_rgb]]), cv2.COLOR_RGB2HSV)[0, 0, 0])


def hsv_alpha(rgb: np.ndarray, key_rgb: RGB, params: HsvParams = HsvParams()) -> np.ndarray:
    """(H, W) float32 alpha in [0, 1] of an (H, W, 3) uint8 RGB frame by the OpenCV HSV recipe.

    inRange around the key hue (wrapping at 180), open + close with an elliptic kernel,
    Gaussian blur of the mask, alpha = 1 - mask.
    """
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hue, tol = _hue(key_rgb), params.hue_tolerance
    mask = np.zeros(rgb.shape[:2], np.uint8)
    for lo, hi in ((hue - tol, hue + tol), (hue - tol + 180, hue + tol + 180), (hue - tol - 180, hue + tol - 180)):
        lo, hi = max(lo, 0), min(hi, 179)
        if lo <= hi:
            mask |= cv2.inRange(hsv, (lo, params.sat_min, params.val_min), (hi, 255, 255))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (params.kernel, params.kernel))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    mask = cv2.GaussianBlur(mask, (params.blur, params.blur), 0)
    return 1.0 - mask.astype(np.float32) / 255.0


def composite_over(rgb: np.ndarray, alpha: np.ndarray, plate_rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: alpha * frame + (1 - alpha) * plate, no despill (the OpenCV recipe)."""
    a = alpha[..., None]
    return np.clip(a * rgb + (1.0 - a) * plate_rgb + 0.5, 0, 255).astype(np.uint8)


def opencv_hsv_frames(
    source: Path,
    key_rgb: RGB,
    plate_rgb: np.ndarray | None,
    hue_tolerance: int = 10,
    sat_min: int = 70,
    val_min: int = 40,
    kernel: int = 5,
    blur: int = 7,
    frames: slice | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """The common OpenCV HSV keyer on each frame of `source` (parameters: :class:`HsvParams`).

    Frames are decoded to RGB with BT.709. Yields (alpha (H, W) float32 [0, 1], composite
    (H, W, 3) uint8 RGB over `plate_rgb`, or None without a plate).
    """
    params = HsvParams(hue_tolerance, sat_min, val_min, kernel, blur)
    for _, frame in _decode(source, frames):
        rgb = _to_rgb(frame)
        alpha = hsv_alpha(rgb, key_rgb, params)
        yield alpha, (None if plate_rgb is None else composite_over(rgb, alpha, plate_rgb))


def tune_hsv_tolerance(
    source: Path,
    truth_alpha_frames_fn: TruthFn,
    key_rgb: RGB,
    sample_every: int = 10,
    tolerances: Iterable[int] = range(4, 41, 2),
) -> tuple[int, float]:
    """Oracle hue tolerance for the HSV recipe (other knobs at defaults): (tolerance, best MAD x 1e3).

    Scores frames 0, sample_every, ... (held as RGB for the search) against the true alphas.
    """
    samples = [(_to_rgb(frame), truth) for frame, truth in _samples(source, truth_alpha_frames_fn, sample_every)]
    scores = {
        tol: float(np.mean([mad(hsv_alpha(rgb, key_rgb, HsvParams(hue_tolerance=tol)), t) for rgb, t in samples]))
        for tol in tolerances
    }
    best = min(scores, key=scores.__getitem__)
    return best, scores[best]


# ---------------------------------------------------------------- speed baseline


def _x264_stream(out: OutputContainer, info: _VideoInfo, crf: int, preset: str) -> VideoStream:
    stream = out.add_stream("libx264", rate=info.rate)
    stream.width, stream.height, stream.pix_fmt = info.width, info.height, "yuv420p"
    stream.options = {"crf": str(crf), "preset": preset}
    cc = stream.codec_context
    cc.time_base = info.time_base
    cc.color_primaries = cc.color_trc = cc.colorspace = AVCOL_BT709
    cc.color_range = AVCOL_RANGE_MPEG
    return stream


def ffmpeg_chain_encode(
    source: Path,
    plate_path: Path,
    output: Path,
    key_rgb: RGB,
    similarity: float,
    blend: float,
    crf: int = 18,
    preset: str = "veryfast",
) -> tuple[int, float]:
    """The FFmpeg CLI chain as one libavfilter graph in PyAV, encoded to MP4 with libx264.

    Graph: buffer(source) -> format=yuva420p -> chromakey(yuv=1) -> despill (RGBA) ->
    overlay(format=yuv420, shortest=1) on buffer(plate rgb24) -> scale=W:H; -> format=yuv420p ->
    buffersink. The plate image is decoded once and pushed with each source frame's pts (the
    CLI's ``-loop 1 -framerate FPS``). libx264 with crf/preset, tagged BT.709 limited; no audio.
    Frame types are left to the encoder, as the CLI does (filtered frames would
    otherwise carry the source's I/P/B types into libx264, which honours them).
    Returns (frames encoded, wall seconds from opening the source to closing the output).
    """
    started = time.perf_counter()
    info = _video_info(source)
    plate = _rgb_frame(_load_plate(plate_path))
    graph = _key_graph(info, (key_rgb, similarity, blend), True, (plate.width, plate.height), alpha_tap=False)
    frames = 0
    with av.open(str(output), "w") as out:
        stream = _x264_stream(out, info, crf, preset)
        decoded = (frame for _, frame in _decode(source))
        for _, keyed in _keyed_frames(graph, decoded, plate):
            assert keyed is not None
            keyed.pict_type = av.video.frame.PictureType.NONE  # the encoder picks frame types, as in the CLI
            out.mux(stream.encode(keyed))
            frames += 1
        out.mux(stream.encode(None))
    return frames, time.perf_counter() - started
