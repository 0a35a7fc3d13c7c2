"""One frame of a job keyed as its render keys it: the keyer tuning preview and the first look.

A frame is decoded from the job's source with its plate, and keyed by the render's own keyer
(:class:`models.keyer.Keyer`, its fused CPU loops) with the job's stored screen analysis and
encoding (:class:`jobs.job_plan.JobPlan`), so what a preview shows is what the render delivers.
:func:`first_look` keys a few frames spread over the shot: the ``preview_first`` option renders
it before the chunks (Royal Render's preview mode), so an artist sees the shot keyed early.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import av
import cv2
import numpy as np

from jobs.job_plan import JobPlan
from jobs.plan import frame_times
from jobs.tables import Job
from models.errors import ConflictError, InputError, MediaError
from models.keyer import Background, Keyer
from models.keyer_params import KeyerOutput, KeyerParams
from models.screen import ScreenAnalysis
from models.yuv import YuvMatrix, planes_to_rgb, rgb_to_planes
from workers.decode import frames_by_index
from workers.frames import frame_planes
from workers.plates import PlateReader, plate_kind
from workers.probe import MediaProbe

PANEL_WIDTH = 640
"""Width in pixels of each of the three panels of a preview image."""

FIRST_LOOK_FRAMES = 4
"""Frames in a first look, spread over the shot from its first to its last."""


@dataclass(frozen=True)
class ShotFrame:
    """One decoded frame of a job and what keying it needs.

    Attributes:
        luma: ``(H, W)`` uint8 Y'. chroma: ``(2, Hc, Wc)`` uint8 Cb, Cr. background: the plate
        in plane layout (None: the job delivers a keyed layer). matrix: the source's Y'CbCr matrix.
        garbage, core: the frame's garbage and core mattes, ``(Hc, Wc)`` float32 (None: the job has none).
    """

    luma: np.ndarray
    chroma: np.ndarray
    background: Background | None
    matrix: YuvMatrix
    analysis: ScreenAnalysis
    garbage: np.ndarray | None = None
    core: np.ndarray | None = None


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
        matte = (job.options or {}).get("matte", "screen")
        why = "faces only" if matte == "screen" else f"--matte {matte}: a shot without a screen"
        raise ConflictError(f"job {job.id} keys no screen ({why}): there is no keyer to tune")
    probe = plan.probe
    if not 0 <= index < probe.frame_count:
        raise InputError(f"frame {index} is outside the shot: pick a frame from 0 to {probe.frame_count - 1}")
    encode = plan.encode
    matrix = YuvMatrix.from_sws(encode.sws_colorspace, encode.full_range)
    luma, chroma = _decode_planes(job.input_uri, probe, index, encode.working_format)
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
    garbage, core = _frame_mattes(job, plan, index, luma, chroma, matrix)
    return ShotFrame(luma, chroma, background, matrix, plan.screen, garbage, core)


def _frame_mattes(job: Job, plan: JobPlan, index: int, luma: np.ndarray, chroma: np.ndarray,
                  matrix: YuvMatrix) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The garbage and core mattes of frame ``index`` as the render makes them
    (:class:`workers.matte_source.ChunkMattes`), read from the files the job's options name."""
    options = job.options or {}
    wanted = {"garbage": (plan.garbage, options.get("garbage_matte")), "core": (plan.core, options.get("core_matte"))}
    auto = options.get("garbage") == "auto"
    if not auto and plan.garbage is None and plan.core is None:
        return None, None
    from workers.matte_source import ChunkMattes, MatteReader, auto_garbage

    size = (chroma.shape[2], chroma.shape[1])
    source = (luma.shape[1], luma.shape[0])
    readers = {name: MatteReader(path, spec.kind, size, source, plan.probe.sequence) if spec is not None and path else None
               for name, (spec, path) in wanted.items()}
    assert plan.screen is not None  # shot_frame refuses a job without one
    automatic = auto_garbage(plan.screen, plan.keyer, source, matrix) if auto else None
    mattes = ChunkMattes(readers["garbage"], readers["core"], automatic, size)
    try:
        garbage, core = mattes.planes([index], luma[None], chroma[None])
    finally:
        mattes.close()
    return (garbage[0] if garbage is not None else None), (core[0] if core is not None else None)


def _decode_planes(path: str, probe: MediaProbe, index: int, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``index`` (presentation order) of ``path`` as planes in the working format ``fmt``
    (:func:`workers.decode.frames_by_index`: by seeking, else in one pass from the start).

    Raises:
        MediaError: the file cannot be read or the frame is not found.
    """
    try:
        found = frames_by_index(replace(probe, path=path), [index], lambda frame: frame_planes(frame, fmt))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"reading frame {index} of {probe.path} failed ({exc})", "check that the source file is intact") from exc
    if not found:
        raise MediaError(f"frame {index} of {probe.path} was not found when decoding", "check that the source file is intact")
    planes: tuple[np.ndarray, np.ndarray] = found[0]
    return planes


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
                  matte=True, subsampled=frame.chroma.shape[1:] != frame.luma.shape,
                  garbage=frame.garbage is not None, core=frame.core is not None)
    result = keyer.key_frames(frame.luma[None], frame.chroma[None], frame.background, keyer.initial_state(),
                              garbage=None if frame.garbage is None else frame.garbage[None],
                              core=None if frame.core is None else frame.core[None])
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


def first_look(job: Job, frames: int = FIRST_LOOK_FRAMES, width: int = 360) -> np.ndarray:
    """``frames`` frames spread over the shot, each keyed with the job's controls: a row of
    source | matte | result per frame.

    Returns:
        ``(frames * h, 3 * width, 3)`` uint8 RGB.

    Raises:
        ConflictError: the job has no screen analysis (not ingested, or faces only).
        MediaError: a frame cannot be decoded.
    """
    plan = JobPlan.of(job)
    total = plan.probe.frame_count
    picks = sorted({round(i * (total - 1) / max(1, frames - 1)) for i in range(frames)})
    return np.concatenate([preview_image(shot_frame(job, i), plan.keyer, width) for i in picks], axis=0)
