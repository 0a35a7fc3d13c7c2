"""Garbage and core matte files: a still, a video, an image sequence or roto shapes (JSON), read per frame of a chunk.

**Frame numbering** (the one rule; README's CLI section repeats it). A source frame's
*number* is :func:`source_frame_number`: its index in the shot (0, 1, 2 ...) for a movie,
its file number (``shot.1001.exr``: 1001) for an image sequence. Roto keyframes
(:mod:`models.roto`) are given in these numbers. A matte video or matte image sequence
is matched by position: its ``k``-th frame (a sequence: its ``k``-th file, ``first + k``)
is the matte of the shot's ``k``-th frame, so it must hold at least as many frames as the
shot (a matte sequence numbered like its source sequence matches number for number). A
still is the matte of every frame. Chunks ask for their frames by index in the shot, the
pre-roll's included, so every chunk sees the matte one pass would.

**Values.** White is inside: 1 inside the matte, 0 outside. A matte is data, not colour:
an image's grey level (luma, 0-1; an 8-bit file's 255 is 1) is taken as it is, with no
colour management; a video's luma is taken at its own range (TV range: 16 -> 0, 235 -> 1).
Each frame is resized to the keyer's chroma planes (``cv2.INTER_AREA`` down, bilinear up);
a matte whose aspect ratio differs from the source's by more than 1 % is refused.

A video is read forward as the chunk advances (seeking to the keyframe before a chunk's
first frame), a sequence file by file: a matte is never held whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import av
import cv2
import numpy as np

from models.colour import REC709_LUMA
from models.errors import InputError
from models.roto import RotoShapes, read_roto
from models.yuv import YuvMatrix
from workers.image_sequence import read_rgb, sequence_numbers, sequence_pattern
from workers.plates import IMAGE_SUFFIXES
from workers.probe import SequenceInfo, probe_video
from workers.specs import ChunkSpec, MatteKind, MatteSpec
from workers.storage import Storage

if TYPE_CHECKING:
    from models.auto_garbage import AutoGarbage
    from models.choices import ProviderChoice
    from models.keyer_params import KeyerParams
    from models.screen import ScreenAnalysis  # segmentation and onnxruntime load only for --garbage auto
    from models.segmentation import SelfieSegmenter
MATTE_HINT = ("pass a still, a video or an image sequence (white = inside) of the shot's aspect ratio, "
              "or roto shapes as .json")
ASPECT_TOLERANCE = 0.01


def source_frame_number(index: int, sequence: SequenceInfo | None) -> int:
    """The number of frame ``index`` (0-based, presentation order) of a shot: ``index`` for a movie,
    the file number ``first + index`` for an image sequence. Roto keyframes use these numbers."""
    return index if sequence is None else sequence.first + index


def matte_kind(path: str) -> MatteKind:
    """What a matte file is, by its name: a sequence name (``matte.%04d.png``, ``matte.####.png``),
    ``.json`` (roto shapes), a still's suffix (:data:`workers.plates.IMAGE_SUFFIXES`), else a video."""
    if sequence_pattern(path) is not None:
        return "sequence"
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return "roto"
    return "image" if suffix in IMAGE_SUFFIXES else "video"


def read_grey(path: str) -> np.ndarray:
    """A still's grey level, ``(h, w)`` float32 in [0, 1] (an alpha channel is dropped).

    Raises:
        InputError: the file is missing or not an image.
    """
    image = cv2.imread(path, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_GRAYSCALE)
    if image is None:
        if not os.path.isfile(path):
            raise InputError(f"the matte {Path(path).name} does not exist", MATTE_HINT)
        rgb = read_rgb(path)  # what OpenCV cannot read (DPX), FFmpeg may
        return np.clip(rgb @ REC709_LUMA, 0.0, 1.0)
    if image.dtype == np.uint8:
        return image.astype(np.float32) * np.float32(1 / 255)
    if image.dtype == np.uint16:
        return image.astype(np.float32) * np.float32(1 / 65535)
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def check_aspect(name: str, width: int, height: int, aspect: float) -> None:
    """Refuse a matte of ``width`` x ``height`` pixels for a shot of aspect ratio ``aspect`` (width
    over height) when the two differ by more than :data:`ASPECT_TOLERANCE`.

    Raises:
        InputError: naming the matte (``name``: e.g. ``the garbage matte g.png``), its size and the shot's ratio.
    """
    if abs((width / height) / aspect - 1.0) > ASPECT_TOLERANCE:
        raise InputError(f"{name} is {width}x{height}, not the shot's aspect ratio ({aspect:.3f})", MATTE_HINT)


def _fit(grey: np.ndarray, size: tuple[int, int], name: str, aspect: float) -> np.ndarray:
    """``grey`` resized to ``size`` = ``(w, h)``, float32 in [0, 1].

    Raises:
        InputError: its aspect ratio differs from ``aspect`` (:func:`check_aspect`).
    """
    h, w = grey.shape
    check_aspect(f"the matte {name}", w, h, aspect)
    if (w, h) == size:
        return np.ascontiguousarray(grey, dtype=np.float32)
    shrink = w > size[0] or h > size[1]
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _video_grey(frame: av.VideoFrame) -> np.ndarray:
    """A decoded matte frame's luma on 0-1: swscale's ``gray`` is full range, so a TV-range
    frame's 16..235 becomes 0..1 (measured: 235 -> 255, 16 -> 0)."""
    return frame.to_ndarray(format="gray").astype(np.float32) * np.float32(1 / 255)


def check_matte(path: str, what: str, frame_count: int, width: int, height: int) -> MatteKind:
    """Check, before a job renders, that a matte file reads, fits the shot's aspect ratio and
    covers its frames; returns its kind. Messages name the file, never its folder.

    Args:
        what: ``"garbage"`` or ``"core"``, for messages. frame_count: the shot's frames.
        width, height: the source's frame size.

    Raises:
        InputError: missing, unreadable, the wrong aspect ratio, or fewer frames than the shot.
    """
    kind = matte_kind(path)
    name = Path(path).name
    if kind != "sequence" and not os.path.isfile(path):
        raise InputError(f"the {what} matte {name} does not exist", MATTE_HINT)
    if kind == "roto":
        read_roto(path)
        return kind
    if kind == "image":
        _fit(read_grey(path), (8, 8), name, width / height)
        return kind
    if kind == "sequence":
        pattern = sequence_pattern(path)
        assert pattern is not None  # a sequence kind is a sequence name
        numbers = sequence_numbers(pattern)
        count = len(numbers)
        _fit(read_grey(pattern % numbers[0]), (8, 8), name, width / height)
    else:
        try:
            probe = probe_video(path)
        except Exception as exc:  # noqa: BLE001 - any failure to read the video is the user's file
            raise InputError(f"the {what} matte {name} is not a readable image, video or .json", MATTE_HINT) from exc
        count = probe.frame_count
        check_aspect(f"the {what} matte {name}", probe.video.width, probe.video.height, width / height)
    if count < frame_count:
        raise InputError(f"the {what} matte {name} has {count} frames and the shot {frame_count}",
                         "give the matte a frame for every frame of the shot (its k-th frame is the shot's k-th)")
    return kind


class MatteReader:
    """A matte file's frames for the chunks of a shot, at the keyer's chroma size.

    Args:
        path: the matte file (a sequence: its ``printf`` or ``####`` name). kind: :func:`matte_kind`'s.
        size: ``(Wc, Hc)`` of the keyer's chroma planes.
        source_size: ``(W, H)`` of the source frame (roto points are in it unless the file says otherwise).
        sequence: the source when it is an image sequence (for :func:`source_frame_number`).
    """

    def __init__(self, path: str, kind: MatteKind, size: tuple[int, int], source_size: tuple[int, int],
                 sequence: SequenceInfo | None = None) -> None:
        self.path, self.kind, self.size, self.source_size, self.sequence = path, kind, size, source_size, sequence
        self.name = Path(path).name
        self.aspect = source_size[0] / source_size[1]
        self._still: np.ndarray | None = None
        self._roto: RotoShapes | None = None
        self._shaped: tuple[tuple[bytes, ...], np.ndarray] | None = None  # the last roto raster and its points
        self._container: av.container.InputContainer | None = None
        self._first = 0
        if kind == "image":
            self._still = _fit(read_grey(path), size, self.name, self.aspect)
        elif kind == "roto":
            self._roto = read_roto(path)
        elif kind == "sequence":
            pattern = sequence_pattern(path)
            assert pattern is not None
            self._pattern = pattern
            self._first = sequence_numbers(pattern)[0]
        else:
            self._open_video()

    def _open_video(self) -> None:
        probe = probe_video(self.path)
        self._index_of = {pts: i for i, pts in enumerate(probe.frame_pts)}
        self._pts = probe.frame_pts
        self._keyframes = probe.keyframes
        self._container = av.open(self.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._decoded: tuple[int, np.ndarray] | None = None
        self._frames: Iterator[av.VideoFrame] = iter(())

    def _video_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` of the matte video (decoding forward, seeking back or far ahead)."""
        assert self._container is not None
        if index >= len(self._pts):
            raise InputError(f"the matte {self.name} has no frame {index}", "give the matte a frame for every frame of the shot")
        if self._decoded is not None and self._decoded[0] == index:
            return self._decoded[1]
        behind = self._decoded is None or index < self._decoded[0]
        key = max((k for k in self._keyframes if k <= index), default=0)
        if behind or (self._decoded is not None and key > self._decoded[0]):
            self._container.seek(self._pts[key], stream=self._stream, backward=True)
            self._frames = self._container.decode(self._stream)
        for frame in self._frames:
            at = self._index_of.get(frame.pts) if frame.pts is not None else None
            if at is None or at < index:
                continue
            self._decoded = (at, _fit(_video_grey(frame), self.size, self.name, self.aspect))
            if at == index:
                return self._decoded[1]
            break
        raise InputError(f"the matte {self.name}: frame {index} did not decode", "re-export the matte video")

    def frame(self, index: int) -> np.ndarray:
        """The matte of the shot's frame ``index`` (0-based): ``(Hc, Wc)`` float32 in [0, 1]."""
        if self._still is not None:
            return self._still
        if self._roto is not None:  # rasterised again only when the shapes move (a held shape: once)
            number = source_frame_number(index, self.sequence)
            points = tuple(shape.points_at(number).tobytes() for shape in self._roto.shapes)
            if self._shaped is None or self._shaped[0] != points:
                self._shaped = (points, self._roto.matte(number, self.size[0], self.size[1], self.source_size))
            return self._shaped[1]
        if self.kind == "sequence":
            return _fit(read_grey(self._pattern % (self._first + index)), self.size, self.name, self.aspect)
        return self._video_frame(index)

    def planes(self, indices: Sequence[int]) -> np.ndarray:
        """``(N, Hc, Wc)`` float32: the mattes of the shot's frames ``indices``."""
        return np.stack([self.frame(i) for i in indices])

    def close(self) -> None:
        """Release the matte video."""
        if self._container is not None:
            self._container.close()
            self._container = None


class ChunkMattes:
    """The garbage and core mattes of a chunk's batches: its matte files and the automatic garbage matte.

    Args:
        garbage, core: readers of the matte files, or None.
        auto: the automatic garbage matte (``--garbage auto``), or None; with ``garbage`` too,
            the two are combined by their minimum (each cuts).
        size: ``(Wc, Hc)`` of the keyer's chroma planes.
    """

    def __init__(self, garbage: MatteReader | None, core: MatteReader | None, auto: AutoGarbage | None,
                 size: tuple[int, int]) -> None:
        self.garbage, self.core, self.auto, self.size = garbage, core, auto, size

    def planes(self, indices: Sequence[int], luma: np.ndarray,
               chroma: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(garbage, core)`` of a batch, each ``(N, Hc, Wc)`` float32 in [0, 1] or None.

        Args:
            indices: the shot's frame index of each frame (pre-roll included).
            luma: ``(N, H, W)`` uint8 Y'. chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr (for the automatic matte).
        """
        garbage = self.garbage.planes(indices) if self.garbage is not None else None
        if self.auto is not None:
            auto = self.auto.matte(luma, chroma, self.size)
            garbage = auto if garbage is None else np.minimum(garbage, auto)
        return garbage, self.core.planes(indices) if self.core is not None else None

    def close(self) -> None:
        """Release the matte videos."""
        for reader in (self.garbage, self.core):
            if reader is not None:
                reader.close()


def chunk_mattes(stack: ExitStack, storage: Storage, spec: ChunkSpec, size: tuple[int, int],
                 matrix: YuvMatrix, segmenter: SelfieSegmenter | None = None) -> ChunkMattes | None:
    """The mattes a chunk's spec asks for, open for as long as ``stack`` is (the files fetched from
    storage; a sequence read in place); None when it asks for none.

    Args:
        size: ``(Wc, Hc)`` of the keyer's chroma planes. matrix: the source's Y'CbCr matrix.
        segmenter: the person segmenter for ``--garbage auto`` (a renderer keeps one across
            chunks: :meth:`workers.render.ChunkRenderer.segmenter_for`); None loads one.

    Raises:
        InputError: a matte file that no longer reads. ModelError: the segmentation model is missing.
    """
    if spec.garbage is None and spec.core is None and not spec.garbage_auto:
        return None
    source_size = (spec.encode.width, spec.encode.height)

    def reader(matte: MatteSpec | None) -> MatteReader | None:
        if matte is None:
            return None
        path = matte.key if matte.kind == "sequence" else stack.enter_context(storage.local_copy(matte.key))
        return MatteReader(path, matte.kind, size, source_size, spec.sequence)

    auto = None
    if spec.garbage_auto:
        if spec.screen is None:
            raise InputError("--garbage auto needs the screen analysis of a keyed shot", "drop --garbage auto or --no-key")
        auto = auto_garbage(spec.screen, spec.keyer, source_size, matrix, spec.providers, segmenter)
    mattes = ChunkMattes(reader(spec.garbage), reader(spec.core), auto, size)
    stack.callback(mattes.close)
    return mattes


def load_segmenter(source_size: tuple[int, int], providers: ProviderChoice = "cpu") -> SelfieSegmenter:
    """The Selfie Segmentation model for frames of ``source_size`` = ``(W, H)`` (the landscape model
    for wide frames: :func:`models.segmentation.segmentation_model`), fetched and converted if need be.

    Raises:
        ModelError: the model is missing and cannot be fetched.
    """
    from models.segmentation import SelfieSegmenter, segmentation_model
    from workers.model_files import fetch_onnx

    return SelfieSegmenter(fetch_onnx(segmentation_model(*source_size)), providers)


def auto_garbage(screen: ScreenAnalysis, keyer: KeyerParams, source_size: tuple[int, int], matrix: YuvMatrix,
                 providers: ProviderChoice = "cpu", segmenter: SelfieSegmenter | None = None) -> AutoGarbage:
    """The automatic garbage matte of a shot (``--garbage auto``): :class:`models.auto_garbage.AutoGarbage`
    with ``segmenter``, or the Selfie Segmentation model for frames of ``source_size`` = ``(W, H)``
    (:func:`load_segmenter`).

    Raises:
        ModelError: the segmentation model is missing and cannot be fetched.
    """
    from models.auto_garbage import AutoGarbage

    segmenter = segmenter or load_segmenter(source_size, providers)
    return AutoGarbage(segmenter, screen, *source_size, matrix, keyer.screen_balance)
