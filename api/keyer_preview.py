"""Keyer tuning in the browser: one frame of a job keyed with a person's controls, source | matte | result.

The frame is keyed by the render's own keyer (:class:`models.keyer.Keyer`, its fused CPU
loops) on the frame's decoded planes, with the job's stored screen analysis and encoding
from its plan, so what the preview shows is what a render with those values delivers.
A decoded frame and its plate stay in a small cache, so moving a control only keys again.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import av
import cv2
import numpy as np

from api.job_facts import keyer_values
from api.keyer_args import keyer_controls
from jobs.job_plan import JobPlan
from jobs.plan import frame_times
from jobs.tables import Job
from models.errors import ConflictError, InputError, MediaError
from models.keyer import Background, Keyer
from models.keyer_params import KeyerOutput, KeyerParams
from models.screen import ScreenAnalysis
from models.yuv import YuvMatrix, planes_to_rgb, rgb_to_planes
from workers.frames import frame_planes, working_format
from workers.plates import PlateReader, plate_kind
from workers.probe import MediaProbe

PANEL_WIDTH = 640
"""Width in pixels of each of the three panels of a preview image."""


@dataclass(frozen=True)
class Control:
    """One keyer control as the tuning panel shows it: a slider from ``low`` to ``high`` by ``step``.

    ``low``/``high`` come from the range its description states (``[0, 1]``, ``(0, 1]``...),
    else 0 to four times its default; the keyer itself checks the value (an out-of-range one
    is a 422 naming the control).
    """

    name: str
    default: float
    low: float
    high: float
    step: float
    whole: bool
    help: str


_RANGE = re.compile(r"[\[(]\s*([-\d.]+|[a-z_]+)\s*,\s*([-\d.]+)\s*[\])]")


def tuning_controls() -> list[Control]:
    """Every control of :class:`models.keyer_params.KeyerParams`, in its order, with the default and
    description :func:`api.keyer_args.keyer_controls` reads from its documentation."""
    controls = []
    for name, default, text in keyer_controls():
        assert isinstance(default, (int, float))
        whole = isinstance(default, int)
        match = _RANGE.search(text)
        if match:
            low = float(match.group(1)) if re.fullmatch(r"[-\d.]+", match.group(1)) else 0.0
            high = float(match.group(2))
        else:
            low, high = 0.0, max(4.0 * float(default), 1.0 if whole else float(default))
        step = 1.0 if whole else (high - low) / 200
        controls.append(Control(name, float(default), low, high, step, whole, text))
    return controls


def parse_controls(query: dict[str, str]) -> dict[str, float]:
    """Keyer controls given as text (a query string's ``name=value`` pairs) as numbers.

    Raises:
        InputError: an unknown control, or a value that is not a finite number (the message names it).
    """
    known = {c.name for c in tuning_controls()}
    values: dict[str, float] = {}
    for name, text in query.items():
        if name not in known:
            raise InputError(f"unknown keyer control {name}: use one of {', '.join(sorted(known))}")
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"keyer control {name}: {text!r} is not a number") from None
        if not np.isfinite(value):
            raise InputError(f"keyer control {name}: {text!r} is not a finite number")
        values[name] = value
    return values


def tuned_params(job: Job, overrides: dict[str, float]) -> KeyerParams:
    """The job's keyer controls with ``overrides`` applied, checked.

    Raises:
        InputError: a control out of its range (the message names it).
    """
    return KeyerParams.from_overrides({**keyer_values(job), **overrides})


@dataclass(frozen=True)
class ShotFrame:
    """One decoded frame of a job and what keying it needs.

    Attributes:
        luma: ``(H, W)`` uint8 Y'. chroma: ``(2, Hc, Wc)`` uint8 Cb, Cr. background: the plate
        in plane layout (None: the job delivers a keyed layer). matrix: the source's Y'CbCr matrix.
    """

    luma: np.ndarray
    chroma: np.ndarray
    background: Background | None
    matrix: YuvMatrix
    analysis: ScreenAnalysis


Value = TypeVar("Value")


class PreviewCache:
    """The last few decoded frames (with their plates), by ``(job id, run, frame)``; thread-safe.

    Args:
        size: how many frames are kept (about 3 MB each at 1080p).
    """

    def __init__(self, size: int = 12) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int, int], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int], make: Callable[[], Value]) -> Value:
        """The cached value of ``key``, else ``make()`` (kept, the oldest entry dropped past ``size``)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


def shot_frame(job: Job, index: int) -> ShotFrame:
    """Decode frame ``index`` of the job's source and its plate, from the job's plan.

    Raises:
        ConflictError: the job has no screen analysis yet (still ingesting) or keys no screen.
        InputError: ``index`` is outside the shot.
        MediaError: the frame cannot be decoded.
    """
    if not (job.plan or {}).get("probe"):
        raise ConflictError(f"job {job.id} is not ingested yet: its frames can be tuned once its screen is analysed")
    plan = JobPlan.of(job)
    if plan.screen is None:
        raise ConflictError(f"job {job.id} keys no screen (faces only): there is no keyer to tune")
    probe = plan.probe
    if not 0 <= index < probe.frame_count:
        raise InputError(f"frame {index} is outside the shot: pick a frame from 0 to {probe.frame_count - 1}")
    encode = plan.encode
    matrix = YuvMatrix.from_sws(encode.sws_colorspace, encode.full_range)
    luma, chroma = _decode_planes(job.input_uri, probe, index, working_format(encode.width, encode.height))
    background = None
    plate = (job.options or {}).get("background")
    if plan.plate is not None and plate:
        reader = PlateReader(plate, plate_kind(plate), encode.width, encode.height, probe.video.rotation)
        try:
            rgb = reader.frame_at(frame_times(probe, index, index + 1)[0])
        finally:
            reader.close()
        plate_luma, plate_chroma = rgb_to_planes(rgb, matrix, chroma.shape[1:] != luma.shape)
        background = Background(plate_luma[None], plate_chroma[None])
    return ShotFrame(luma, chroma, background, matrix, plan.screen)


def _decode_planes(path: str, probe: MediaProbe, index: int, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``index`` (presentation order) of ``path`` as planes in the working format ``fmt``,
    by seeking to the keyframe before it, else by decoding from the start.

    Raises:
        MediaError: the file cannot be read or the frame is not found.
    """
    target = probe.frame_pts[index]
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for seek in (True, False):
                if seek:
                    container.seek(target, stream=stream, backward=True, any_frame=False)
                else:
                    container.seek(0, stream=stream, backward=True)
                for frame in container.decode(stream):
                    if frame.pts is not None and frame.pts >= target:
                        if frame.pts == target:
                            return frame_planes(frame, fmt)
                        break  # the seek landed past the frame: decode from the start
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"reading frame {index} of {probe.path} failed ({exc})", "check that the source file is intact") from exc
    raise MediaError(f"frame {index} of {probe.path} was not found when decoding", "check that the source file is intact")


def preview_image(frame: ShotFrame, params: KeyerParams, width: int = PANEL_WIDTH) -> np.ndarray:
    """Key ``frame`` with ``params``: source | matte | result side by side.

    The result is the composite over the job's plate, or (a job that delivers a keyed layer)
    the layer over a grey checkerboard.

    Returns:
        ``(h, 3 * width, 3)`` uint8 RGB, each panel ``width`` pixels wide, ``h`` by the frame's aspect.

    Raises:
        InputError: the screen colour cannot be keyed.
    """
    height_px, width_px = frame.luma.shape
    output: KeyerOutput = "composite" if frame.background is not None else "layer"
    keyer = Keyer(frame.analysis, params, width_px, height_px, frame.matrix, output=output, providers="cpu", fused=True,
                  matte=True)
    result = keyer.key_frames(frame.luma[None], frame.chroma[None], frame.background, keyer.initial_state())
    assert result.alpha is not None  # a keyer built with matte=True
    source = planes_to_rgb(frame.luma, frame.chroma, frame.matrix)
    image = planes_to_rgb(result.luma[0], result.chroma[0], frame.matrix)
    alpha = result.alpha[0]
    if output == "layer":
        weight = alpha.astype(np.float32)[..., None] / 255.0
        image = (image * weight + _checkerboard(height_px, width_px) * (1.0 - weight) + 0.5).astype(np.uint8)
    size = (width, max(1, round(height_px * width / width_px)))
    panels = [cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in (source, np.repeat(alpha[..., None], 3, 2), image)]
    return np.concatenate(panels, axis=1)


def _checkerboard(height: int, width: int, cell: int = 16) -> np.ndarray:
    """``(height, width, 3)`` float32 grey checkerboard (what transparency is shown over)."""
    rows, cols = np.indices((height, width)) // cell
    return np.where(((rows + cols) % 2 == 0)[..., None], 160.0, 110.0).astype(np.float32) * np.ones(3, np.float32)
