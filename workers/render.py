"""Render one chunk: decode (pre-roll included), key in batches, encode.

This is the body of a Ray actor's task, kept free of Ray so it can be run and
tested in-process.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from models.choices import LAYER_CODECS
from models.errors import MediaError
from models.keyer import Background, Keyer, KeyResult, TemporalState, chroma_size
from models.keyer_params import KeyerOutput
from models.providers import provider_name
from models.yuv import YuvMatrix, rgb_to_planes
from workers.decode import decode_video
from workers.encode import ChunkEncoder, StreamKind
from workers.frames import copy_planes, frame_planes
from workers.image_sequence import sequence_frames
from workers.matte_source import ChunkMattes, chunk_mattes
from workers.overlap import Inline, ReadAhead, WriteBehind
from workers.plates import PlateReader
from workers.sequence_writer import SequenceWriter
from workers.specs import ChunkSpec, RenderResult
from workers.storage import Storage

if TYPE_CHECKING:
    from models.face_analysis import FaceAnalyser
    from models.face_replace import Swapper
    from models.matte_keyer import MatteKeyer, MatteKeyResult
    from models.segmentation import SelfieSegmenter
    from workers.faces import FaceWork

# The face code (its models, onnx helpers, the model downloader) is imported by the
# chunks that replace faces: a keying job does not load it.

ProgressFn = Callable[[int], None]
"""Called with the number of delivered frames finished so far in the chunk."""


def build_keyer(spec: ChunkSpec, threads: int = 0) -> Keyer | MatteKeyer[Any]:
    """The keyer a chunk needs (same analysis and parameters for every chunk of a job): the screen
    keyer, or for a shot without a screen (``spec.matte`` not ``screen``) its matter with the
    keyer's outputs (:func:`workers.matte_models.build_matte_keyer`).

    Raises:
        MediaError: the spec carries no screen analysis (the job keys nothing).
        ModelError: the keyer's session cannot be created, or the matter's model is missing or wrong.
    """
    if spec.matte != "screen":
        from workers.matte_models import build_matte_keyer  # the matters' models load only for such a job

        return build_matte_keyer(spec, keyer_matrix(spec), threads)
    if spec.screen is None:
        raise MediaError(f"chunk {spec.index} of job {spec.job_id} has no screen analysis to key with",
                         "the job was planned without a key; render it again")
    output: KeyerOutput = "layer" if spec.encode.codec in LAYER_CODECS else "composite"
    return Keyer(
        spec.screen,
        spec.keyer,
        spec.encode.width,
        spec.encode.height,
        keyer_matrix(spec),
        output=output,
        providers=spec.providers,
        threads=threads,
        hold=spec.faces is not None,
        matte=output == "layer" or spec.matte_key is not None or spec.faces is not None,
        subsampled=spec.encode.working_format == "yuv420p",
        garbage=spec.cuts_garbage,
        core=spec.core is not None,
    )


def keyer_key(spec: ChunkSpec, threads: int) -> str:
    """What a chunk's keyer is built from (screen analysis, keyer controls, encoding, provider,
    threads, holdout and matte), as canonical JSON: chunks with equal keys share one keyer,
    whichever job they belong to."""
    return json.dumps({"screen": spec.screen.to_dict() if spec.screen else None, "keyer": spec.keyer.to_dict(),
                       "encode": asdict(spec.encode), "providers": spec.providers, "threads": threads,
                       "hold": spec.faces is not None, "matte": spec.matte_key is not None,
                       "garbage": spec.cuts_garbage, "core": spec.core is not None,
                       "matter": [spec.matte, spec.matte_model]}, sort_keys=True, default=str)


def keyer_matrix(spec: ChunkSpec) -> YuvMatrix:
    """The Y'CbCr matrix and range of the chunk's source."""
    return YuvMatrix.from_sws(spec.encode.sws_colorspace, spec.encode.full_range)


Planes = tuple[int, np.ndarray, np.ndarray]
"""``(frame index, Y (H, W) uint8, CbCr (2, Hc, Wc) uint8)``."""

Indexed = tuple[int, av.VideoFrame]
"""``(frame index, decoded frame in the working format)``."""
FrameWriter = ChunkEncoder | SequenceWriter
"""Where a chunk's stream is written: a chunk file, or frame files (image sequence output)."""


def _needed_frames(spec: ChunkSpec, path: str, fmt: str) -> Iterator[Indexed]:
    """Decoded frames of the chunk file in the working format ``fmt``, pre-roll first, in order.

    Frames of the chunk file outside ``[preroll_start, frame_end)`` (the rest of
    the GOPs it had to carry) are dropped. A missing or out-of-order frame is an error.
    """
    index_of = {pts: spec.preroll_start + i for i, pts in enumerate(spec.file_pts)}
    expected = spec.preroll_start
    for frame in decode_video(path, fmt):
        index = None if frame.pts is None else index_of.get(frame.pts)
        if index is None:
            continue
        if index != expected:
            raise MediaError(
                f"chunk {spec.index}: decoded frame {index} where frame {expected} was expected",
                "the split chunk is damaged; retry the job",
            )
        expected += 1
        yield index, frame
    if expected != spec.frame_end:
        raise MediaError(
            f"chunk {spec.index}: decoded {expected - spec.preroll_start} of "
            f"{spec.frame_end - spec.preroll_start} frames",
            "the source may be damaged; re-export it",
        )


def _chunk_frames(stack: ExitStack, storage: Storage, spec: ChunkSpec, first: int) -> Iterator[Indexed]:
    """The chunk's frames from ``first`` (its pre-roll start, or its first delivered frame) to its end,
    in the working format: read from the image sequence's files, or decoded from the split chunk
    file (fetched for as long as ``stack`` is open)."""
    fmt = spec.encode.working_format
    if spec.sequence is not None:
        return sequence_frames(spec.sequence, first, spec.frame_end, fmt)
    source = stack.enter_context(storage.local_copy(spec.input_key))
    return _needed_frames(spec, source, fmt)


def _output(stack: ExitStack, storage: Storage, spec: ChunkSpec, key: str, kind: StreamKind) -> ChunkEncoder | SequenceWriter:
    """Where one stream of the chunk is written, open for as long as ``stack`` is: a chunk file
    (a movie output), or a folder of frame files (an image sequence output)."""
    if spec.encode.sequence:
        numbers = {pts: spec.encode.first_number + spec.frame_start + i for i, pts in enumerate(spec.output_pts)}
        return stack.enter_context(SequenceWriter(storage, key, spec.encode, kind, numbers))
    path = stack.enter_context(storage.writer(key))
    return stack.enter_context(ChunkEncoder(path, spec.encode, kind))


@dataclass(frozen=True)
class Batch:
    """Consecutive decoded frames of a chunk, stacked for the keyer.

    Attributes:
        indices: shot frame index of each frame (pre-roll frames first).
        luma: ``(N, H, W)`` uint8 Y'. chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr.
    """

    indices: list[int]
    luma: np.ndarray
    chroma: np.ndarray


def _as_planes(frames: Iterator[Indexed], fmt: str, first: int) -> Iterator[Planes]:
    """The planes of frames ``first`` on (the analysis has no use for pre-roll), one copy each."""
    for index, frame in frames:
        if index >= first:
            yield (index, *frame_planes(frame, fmt))


def _batches(frames: Iterator[Indexed], size: int) -> Iterator[Batch]:
    """Group frames into batches of ``size`` (the last may be shorter)."""
    group: list[Indexed] = []
    for item in frames:
        group.append(item)
        if len(group) == size:
            yield _stack(group)
            group = []
    if group:
        yield _stack(group)


def _stack(group: list[Indexed]) -> Batch:
    """Copy the group's planes straight into the batch arrays (one copy per plane)."""
    first = group[0][1]
    chroma_plane = first.planes[1]
    luma = np.empty((len(group), first.height, first.width), np.uint8)
    chroma = np.empty((len(group), 2, chroma_plane.height, chroma_plane.width), np.uint8)
    for j, (_, frame) in enumerate(group):
        copy_planes(frame, luma[j], chroma[j])
    return Batch([index for index, _ in group], luma, chroma)


class _ChunkWriter:
    """Encodes the delivered frames (not the pre-roll) of keyed batches; counts them."""

    def __init__(self, spec: ChunkSpec, image_out: FrameWriter, matte_out: FrameWriter | None, layer: bool) -> None:
        self.spec, self.image_out, self.matte_out, self.layer = spec, image_out, matte_out, layer
        self.frames = 0

    def __call__(self, item: tuple[Batch, KeyResult | MatteKeyResult[Any]]) -> None:
        batch, result = item
        alpha = result.alpha
        if alpha is None and (self.layer or self.matte_out is not None):
            raise MediaError(f"chunk {self.spec.index}: the keyer made no matte to write", "report this as a bug")
        for j, index in enumerate(batch.indices):
            if index < self.spec.frame_start:
                continue
            pts = self.spec.output_pts[index - self.spec.frame_start]
            matte = None if alpha is None else alpha[j]
            self.image_out.write(pts, result.luma[j], result.chroma[j], matte if self.layer else None)
            if self.matte_out is not None and matte is not None:
                self.matte_out.write(pts, matte)
            self.frames += 1


class ChunkRenderer:
    """Runs chunk specs with one keyer (and swapper), rebuilt only when what it is built from
    changes (:func:`keyer_key`; the swapper: when the job changes).

    The keyer may be built ahead (:meth:`keyer_for` from another thread, while the job is
    still being split); a render that needs it meanwhile waits for that build.

    Args:
        threads: onnxruntime CPU threads per session (0: its default).
        overlap: decode ahead and encode behind the keyer in threads; False runs
            every stage in the calling thread (profiling sees each stage's own time).
    """

    def __init__(self, threads: int = 0, overlap: bool = True) -> None:
        self.threads, self.overlap = threads, overlap
        self._keyer: tuple[str, Keyer | MatteKeyer[Any]] | None = None
        self._keyer_lock = threading.Lock()
        self.keyers_built = 0
        self._analyser: FaceAnalyser | None = None
        self._swapper: tuple[str, Swapper] | None = None
        self._segmenter: tuple[tuple[int, int, str], SelfieSegmenter] | None = None

    def keyer_for(self, spec: ChunkSpec) -> Keyer | MatteKeyer[Any] | None:
        """The keyer for the spec (built once for all chunks with the same :func:`keyer_key`);
        None for a swap-only job. Thread-safe: a second caller waits for a build in progress.

        Raises:
            ModelError: the keyer's session cannot be created. InputError: the screen colour is unusable.
        """
        if spec.faces is not None and not spec.faces.key:
            return None
        key = keyer_key(spec, self.threads)
        with self._keyer_lock:
            if self._keyer is None or self._keyer[0] != key:
                self._keyer = None  # the old one is released before the new one is built
                self._keyer = (key, build_keyer(spec, self.threads))
                self.keyers_built += 1
            return self._keyer[1]

    def segmenter_for(self, spec: ChunkSpec) -> SelfieSegmenter | None:
        """The person segmenter of ``--garbage auto`` (None without it), loaded once for all chunks of
        one frame size and provider choice.

        Raises:
            ModelError: the segmentation model is missing and cannot be fetched.
        """
        if not spec.garbage_auto:
            return None
        key = (spec.encode.width, spec.encode.height, str(spec.providers))
        if self._segmenter is None or self._segmenter[0] != key:
            from workers.matte_source import load_segmenter

            self._segmenter = (key, load_segmenter(key[:2], spec.providers))
        return self._segmenter[1]

    def analyser_for(self, spec: ChunkSpec) -> FaceAnalyser:
        """YuNet + FaceMesh, loaded once per actor."""
        from workers.faces import load_analyser

        if self._analyser is None:
            self._analyser = load_analyser(spec.providers)
        return self._analyser

    def faces_for(self, spec: ChunkSpec, storage: Storage) -> FaceWork | None:
        """The chunk's face work: the job's swapper (built once per job) and the chunk's solved targets."""
        if spec.faces is None:
            return None
        from models.face_solve import SolvedFaces
        from workers.faces import FaceWork, load_arrays, make_swapper, read_source_image, source_face

        if spec.faces.solved_key is None:
            raise MediaError(f"chunk {spec.index} has no solved faces", "the analysis pass did not run; retry the job")
        if self._swapper is None or self._swapper[0] != spec.job_id:
            with storage.local_copy(spec.faces.source_key) as path:
                source = source_face(read_source_image(path), self.analyser_for(spec), spec.faces.source_face)
            self._swapper = (spec.job_id, make_swapper(spec.faces.swapper, source, spec.providers))
        solved = SolvedFaces.from_arrays(load_arrays(storage, spec.faces.solved_key))
        return FaceWork(self._swapper[1], solved, keyer_matrix(spec))

    def analyse(self, spec: ChunkSpec, progress: ProgressFn | None = None) -> RenderResult:
        """The analysis pass over one chunk: faces of frames ``[frame_start, frame_end)``, stored
        at ``spec.faces.analysis_key``.

        Raises:
            MediaError: the chunk does not decode to the frames its spec lists.
            ModelError: a face model is missing or corrupted.
        """
        from workers.faces import analyse_frames, save_arrays

        started = time.monotonic()
        if spec.faces is None:
            raise MediaError(f"chunk {spec.index} of job {spec.job_id} replaces no faces: nothing to analyse",
                             "analyse only jobs that replace faces")
        analyser = self.analyser_for(spec)
        storage = Storage(spec.storage_root)
        with ExitStack() as stack:
            fmt = spec.encode.working_format
            frames = _as_planes(_chunk_frames(stack, storage, spec, spec.frame_start), fmt, spec.frame_start)
            table = analyse_frames(frames, spec.frame_start, analyser, keyer_matrix(spec), progress, spec.rotation)
        save_arrays(storage, spec.faces.analysis_key, table.to_arrays())
        return RenderResult(job_id=spec.job_id, index=spec.index, frames=spec.frame_count,
                            preroll_frames=0, seconds=time.monotonic() - started,
                            provider=provider_name(analyser.detector.session), worker=f"{socket.gethostname()}:{os.getpid()}")

    def render(self, spec: ChunkSpec, progress: ProgressFn | None = None) -> RenderResult:
        """Render a chunk and store its output file(s) atomically.

        Raises:
            MediaError: the chunk does not decode to the frames its spec lists.
            InputError: the plate cannot be read.
        """
        started = time.monotonic()
        keyer = self.keyer_for(spec)
        storage = Storage(spec.storage_root)
        faces = self.faces_for(spec, storage)
        with ExitStack() as stack:
            plate = None
            if spec.plate is not None and keyer is not None and keyer.output == "composite":
                plate_path = stack.enter_context(storage.local_copy(spec.plate.key))
                reader = PlateReader(plate_path, spec.plate.kind, spec.encode.width, spec.encode.height, spec.rotation)
                stack.callback(reader.close)
                plate = PlatePlanes(reader, keyer)
            image_out = _output(stack, storage, spec, spec.output_key, "image")
            matte_out = _output(stack, storage, spec, spec.matte_key, "matte") if spec.matte_key else None
            writer = _ChunkWriter(spec, image_out, matte_out, keyer is not None and keyer.output == "layer")
            mattes = None
            if keyer is not None:
                size = chroma_size(keyer.width, keyer.height, keyer.subsampled)
                mattes = chunk_mattes(stack, storage, spec, size, keyer.matrix, self.segmenter_for(spec))
            frames = _chunk_frames(stack, storage, spec, spec.preroll_start)
            batches: Iterable[Batch] = _batches(frames, spec.batch_frames)
            encoding: WriteBehind | Inline = Inline(writer)
            if self.overlap:  # decode ahead and encode behind the keyer, in threads
                batches = stack.enter_context(ReadAhead(batches, name="decode"))
                encoding = stack.enter_context(WriteBehind(writer, name="encode"))
            state, reported = keyer.initial_state() if keyer else None, 0
            for batch in batches:
                result = self._process(spec, keyer, batch, state, plate, faces, mattes)
                state = result.state
                encoding.put((batch, result))
                if progress and writer.frames > reported:
                    reported = writer.frames
                    progress(reported)
            encoding.close()
        if progress and writer.frames > reported:
            progress(writer.frames)
        return RenderResult(
            job_id=spec.job_id,
            index=spec.index,
            frames=writer.frames,
            preroll_frames=spec.frame_start - spec.preroll_start,
            seconds=time.monotonic() - started,
            provider=keyer.provider if keyer else "CPU",
            worker=f"{socket.gethostname()}:{os.getpid()}",
        )

    @staticmethod
    def _process(spec: ChunkSpec, keyer: Keyer | MatteKeyer[Any] | None, batch: Batch, state: TemporalState | Any,
                 plate: PlatePlanes | None, faces: FaceWork | None,
                 mattes: ChunkMattes | None = None) -> KeyResult | MatteKeyResult[Any]:
        """Key one batch over its plate frames (holding the target faces, under the garbage and core
        mattes of the batch's frames, pre-roll included), then swap the faces in.

        The order is :mod:`models.face_replace`'s.
        """
        times = [spec.times_s[i - spec.preroll_start] for i in batch.indices]
        result: KeyResult | MatteKeyResult[Any]
        if keyer is None:  # swap only: the decoded planes are the foreground
            result = KeyResult(batch.luma.copy(), batch.chroma.copy(), np.full_like(batch.luma, 255), state)  # swap only: no keyer, no temporal state (None)
        else:
            hold = None
            if faces is not None:
                size = chroma_size(keyer.width, keyer.height, keyer.subsampled)
                hold = faces.hold(batch.indices, size, 0.5 if keyer.subsampled else 1.0)
            background = plate.planes_at(times) if plate is not None else None
            garbage, core = mattes.planes(batch.indices, batch.luma, batch.chroma) if mattes is not None else (None, None)
            result = keyer.key_frames(batch.luma, batch.chroma, background, state, hold, garbage=garbage, core=core)
        if faces is not None:
            alpha = result.alpha if keyer is not None else None
            backgrounds = [plate.reader.frame_at(t) if plate is not None else None for t in times]
            faces.apply(batch.indices, result.luma, result.chroma, alpha, backgrounds)
        return result


class PlatePlanes:
    """A plate reader's frames converted to the keyer's planes, converted once per plate frame.

    Args:
        reader: the fitted plate frames (RGB). keyer: gives the matrix and chroma layout.
    """

    def __init__(self, reader: PlateReader, keyer: Keyer | MatteKeyer[Any]) -> None:
        self.reader, self.matrix, self.subsampled = reader, keyer.matrix, keyer.subsampled
        self._last: tuple[np.ndarray, tuple[np.ndarray, np.ndarray]] | None = None

    def _planes(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._last is None or self._last[0] is not rgb:
            self._last = (rgb, rgb_to_planes(rgb, self.matrix, self.subsampled))
        return self._last[1]

    def planes_at(self, times_s: list[float]) -> Background:
        """The plate for each shot time (seconds): one plane set if all are the same frame."""
        planes = [self._planes(self.reader.frame_at(t)) for t in times_s]
        if all(p is planes[0] for p in planes):
            return Background(planes[0][0][None], planes[0][1][None])
        return Background(np.stack([p[0] for p in planes]), np.stack([p[1] for p in planes]))
