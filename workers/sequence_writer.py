"""Write rendered frames as image files: the image sequence outputs (EXR, DPX, PNG, TIFF) of a chunk.

A chunk writes its frames into a storage folder of its own, one file per frame, each
landing atomically (:meth:`workers.storage.Storage.writer`); the assembly copies them to
the output's names once every chunk is done. Pixels go from the keyer's Y'CbCr planes to
RGB (:func:`models.yuv.planes_to_rgb_float`, the source's matrix and range), then with OpenColorIO from the working
display-referred Rec.709 to the output's colour space (:mod:`models.colour_management`):

- ``exr``: the keyed layer, RGBA half float (OpenEXR), straight colour unless premultiplied;
  the matte pass is one ``Y`` channel;
- ``png``, ``tiff``: the keyed layer, RGBA 16-bit; the matte pass 16-bit grey;
- ``dpx``: the composite, RGB 10-bit (SMPTE 268M); the matte pass 16-bit grey.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from models.choices import OutputCodec
from models.colour_management import WORKING, convert
from models.errors import MediaError
from models.yuv import YuvMatrix, planes_to_rgb_float
from workers.encode import EncodeSettings, StreamKind
from workers.storage import Storage

SUFFIX: dict[OutputCodec, str] = {"exr": ".exr", "dpx": ".dpx", "png": ".png", "tiff": ".tif"}
"""The suffix each image format's files are written with."""
# (pixel format written, encoder options) per codec and stream kind
_FORMATS: dict[tuple[str, StreamKind], tuple[str, dict[str, str]]] = {
    ("exr", "image"): ("gbrapf32le", {"format": "half", "compression": "zip1"}),
    ("exr", "matte"): ("grayf32le", {"format": "half", "compression": "zip1"}),
    ("png", "image"): ("rgba64be", {}),
    ("png", "matte"): ("gray16be", {}),
    ("tiff", "image"): ("rgba64le", {"compression_algo": "deflate"}),
    ("tiff", "matte"): ("gray16le", {"compression_algo": "deflate"}),
    ("dpx", "image"): ("gbrp10le", {}),
    ("dpx", "matte"): ("gray16le", {}),
}


def frame_key(folder: str, number: int, codec: OutputCodec) -> str:
    """The storage key of frame file ``number`` in a chunk's folder (a key ending in ``/``)."""
    return f"{folder}{number:08d}{SUFFIX[codec]}"


def planes_to_rgba(luma: np.ndarray, chroma: np.ndarray, alpha: np.ndarray | None, settings: EncodeSettings) -> np.ndarray:
    """Y'CbCr planes as RGB(A) float in the working colour space, with the source's matrix and range.

    Args:
        luma: ``(H, W)`` uint8. chroma: ``(2, Hc, Wc)`` uint8 Cb, Cr (4:2:0 or 4:4:4).
        alpha: ``(H, W)`` uint8 straight alpha, or None.

    Returns:
        ``(H, W, 4)`` float32 RGBA in [0, 1] (``(H, W, 3)`` RGB without ``alpha``).
    """
    rgb = planes_to_rgb_float(luma, chroma, YuvMatrix.from_sws(settings.sws_colorspace, settings.full_range))
    if alpha is None:
        return rgb
    return np.concatenate([rgb, alpha[..., None].astype(np.float32) / np.float32(255.0)], axis=-1)


def _pixels(settings: EncodeSettings, kind: StreamKind, luma: np.ndarray, chroma: np.ndarray | None,
            alpha: np.ndarray | None) -> np.ndarray:
    """What one file holds, as float in [0, 1] (any value for EXR colour): ``(H, W, 4|3)`` or ``(H, W)``."""
    if kind == "matte":
        return luma.astype(np.float32) / np.float32(255.0)
    if chroma is None:
        raise MediaError("an image frame comes with its chroma planes", "report this as a bug")
    pixels = planes_to_rgba(luma, chroma, alpha, settings)
    pixels[..., :3] = convert(pixels[..., :3], WORKING, settings.colourspace)
    if settings.premultiplied and alpha is not None:
        pixels[..., :3] *= pixels[..., 3:]
    return pixels


def _frame(pixels: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    """An ``av.VideoFrame`` in ``pix_fmt`` from float pixels in [0, 1] (EXR: as they are)."""
    if pix_fmt in ("gbrapf32le", "grayf32le"):
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels, np.float32), format=pix_fmt)
    codes = np.clip(pixels * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    if pix_fmt == "gbrp10le":  # swscale packs 16-bit RGB into DPX's 10-bit planes
        return av.VideoFrame.from_ndarray(codes, format="rgb48le").reformat(format="gbrp10le")
    return av.VideoFrame.from_ndarray(codes if pix_fmt.startswith("gray") else np.ascontiguousarray(codes), format=pix_fmt)


def write_image(path: str, pixels: np.ndarray, codec: OutputCodec, kind: StreamKind) -> None:
    """Write one image file with FFmpeg's encoder for ``codec``.

    Args:
        path: the file. pixels: :func:`_pixels`'s array. codec: ``exr``, ``dpx``, ``png`` or ``tiff``.

    Raises:
        MediaError: the encoder refused the picture.
    """
    pix_fmt, options = _FORMATS[(codec, kind)]
    frame = _frame(pixels, pix_fmt)
    try:
        with av.open(path, "w", format="image2") as out:
            stream = out.add_stream(codec, rate=Fraction(25))
            if not isinstance(stream, av.VideoStream):
                raise MediaError(f"FFmpeg's {codec} encoder is not a video encoder", "report this as a bug")
            stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, pix_fmt
            stream.options = dict(options)
            for packet in stream.encode(frame):
                out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    except av.FFmpegError as exc:
        raise MediaError(f"writing the {codec} frame {path} failed ({exc})", "check the output folder") from exc


class SequenceWriter:
    """Writes a chunk's frames as image files in a storage folder: :class:`workers.encode.ChunkEncoder`'s
    ``write`` for an image sequence output.

    Args:
        storage, folder: where the files go (``folder`` a key ending in ``/``).
        settings: the output's encoding (codec, colour space, premultiplied, first number).
        kind: ``image`` (layer or composite) or ``matte``.
        numbers: output PTS -> file number of each frame the chunk delivers.
    """

    def __init__(self, storage: Storage, folder: str, settings: EncodeSettings, kind: StreamKind,
                 numbers: dict[int, int]) -> None:
        if settings.codec not in SUFFIX:
            raise MediaError(f"{settings.codec} is not an image sequence format", "report this as a bug")
        self.storage, self.folder, self.settings, self.kind, self.numbers = storage, folder, settings, kind, numbers

    def write(self, pts: int, luma: np.ndarray, chroma: np.ndarray | None = None, alpha: np.ndarray | None = None) -> None:
        """Write the frame whose output PTS is ``pts``.

        Args:
            luma: ``(H, W)`` uint8 Y' (the matte, for a matte pass). chroma: ``(2, Hc, Wc)`` uint8.
            alpha: ``(H, W)`` uint8 straight alpha of a layer.
        """
        pixels = _pixels(self.settings, self.kind, luma, chroma, alpha)
        key = frame_key(self.folder, self.numbers[pts], self.settings.codec)
        with self.storage.writer(key) as path:
            write_image(path, pixels, self.settings.codec, self.kind)

    def close(self) -> None:
        """Nothing is held open between frames."""

    def __enter__(self) -> SequenceWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close()
