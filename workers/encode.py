"""Encode rendered frames with PyAV: the output codecs and their settings.

Rendered chunks are written with the codec of the final output, so assembly
concatenates them by stream copy. Frames carry their source PTS, so timing
(variable frame rate included) is the source's.

Colour tags go to two places, because encoders read them from different ones:
the codec context (libx264's VUI, FFV1's header, and the stream's codec
parameters, from which the MOV muxer writes its 'colr' atom) and every frame.
The ProRes encoder (prores_ks) writes the primaries, transfer and matrix bytes
of each frame header from the frame, not the context, and FFmpeg's ProRes
decoder sets the stream's tags from the frame header, over the 'colr' atom's:
untagged frames made a ProRes file read back as unspecified.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Literal

import av
import numpy as np

from models.choices import OUTPUT_CODECS, SEQUENCE_CODECS, OutputCodec
from models.errors import InputError
from workers.frames import planes_frame, working_format

StreamKind = Literal["image", "matte"]
Encoder = Literal["libx264", "prores_ks", "ffv1"]  # FFmpeg video encoders the output codecs use

# Rendered chunks are stored in a container that keeps the time base exactly
# (MOV) where the codec allows, else Matroska (FFV1; its output is MKV anyway).
CHUNK_FORMAT: dict[str, str] = {"h264": "mov", "prores4444": "mov", "ffv1": "matroska"}
# AVColorRange (libavutil/pixfmt.h): 1 TV (limited), 2 full. A ProRes frame header has no range
# field (Apple ProRes, SMPTE RDD 36) and FFmpeg's ProRes decoder always reports TV range, so
# full-range sources are converted to TV range for ProRes rather than mislabelled.
TV_RANGE, FULL_RANGE = 1, 2


@dataclass(frozen=True)
class EncodeSettings:
    """How output frames are encoded.

    Attributes:
        codec: output codec. crf, preset: libx264 quality and speed (h264 only).
        width, height: frame size in pixels. time_base: ``"num/den"`` of output PTS.
        frame_rate: ``"num/den"`` average frame rate. color_*: FFmpeg enum tags
        copied from the source. sws_colorspace: RGB <-> YUV matrix (swscale constant).
        full_range: the source's code values are full range (``yuvj*`` formats).
        colourspace: OpenColorIO colour space of an image sequence output
            (:mod:`models.colour_management`; empty for a movie).
        premultiplied: an image sequence layer is written premultiplied (else straight).
        first_number: the file number of frame 0 of an image sequence output.
        full_chroma: the keyer works at 4:4:4 (an RGB image sequence keyed to one: nothing is
            subsampled on the way), else at the size's :func:`workers.frames.working_format`.
    """

    codec: OutputCodec
    width: int
    height: int
    time_base: str
    frame_rate: str
    crf: int = 18
    preset: str = "veryfast"
    color_primaries: int = 2
    color_trc: int = 2
    colorspace: int = 2
    color_range: int = 0
    sws_colorspace: int = 1
    full_range: bool = False
    colourspace: str = ""
    premultiplied: bool = False
    first_number: int = 0
    full_chroma: bool = False

    @property
    def coded_range(self) -> int:
        """The range the encoded pictures have (AVColorRange): the source's, except TV for ProRes,
        which cannot signal full range (:data:`TV_RANGE`)."""
        return TV_RANGE if self.codec == "prores4444" else self.color_range

    @property
    def sequence(self) -> bool:
        """Whether the output is an image sequence (one file per frame)."""
        return self.codec in SEQUENCE_CODECS

    @property
    def working_format(self) -> str:
        """The planes the keyer reads and writes: ``yuv420p``, or ``yuv444p`` for odd sizes or :attr:`full_chroma`."""
        return "yuv444p" if self.full_chroma else working_format(self.width, self.height)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _stream_format(settings: EncodeSettings, kind: StreamKind) -> tuple[Encoder, str, str, dict[str, str]]:
    """``(encoder, pix_fmt, input ndarray format, options)`` for a stream."""
    planes = settings.working_format
    if settings.codec == "h264":
        options = {"crf": str(settings.crf), "preset": settings.preset}
        return "libx264", planes, planes if kind == "image" else "gray", options
    if settings.codec == "prores4444":
        if kind == "image":
            return "prores_ks", "yuva444p10le", "yuva444p", {"profile": "4", "vendor": "apl0"}
        return "prores_ks", "yuv422p10le", "gray", {"profile": "3", "vendor": "apl0"}
    if settings.codec == "ffv1":
        return "ffv1", planes if kind == "image" else "gray", planes if kind == "image" else "gray", {}
    raise InputError(f"unknown codec {settings.codec!r}", f"use one of {', '.join(OUTPUT_CODECS)}")


def configure_stream(stream: av.VideoStream, settings: EncodeSettings, kind: StreamKind) -> str:
    """Set size, pixel format, time base, rate, colour tags and options; return the input format."""
    _, pix_fmt, in_format, options = _stream_format(settings, kind)
    cc = stream.codec_context
    stream.width, stream.height, stream.pix_fmt = settings.width, settings.height, pix_fmt
    stream.time_base = Fraction(settings.time_base)
    cc.time_base = Fraction(settings.time_base)
    cc.framerate = Fraction(settings.frame_rate)
    stream.options = dict(options)  # PyAV types the options dict[str, object]
    cc.color_primaries, cc.color_trc = settings.color_primaries, settings.color_trc  # every stream, matte too
    cc.colorspace, cc.color_range = settings.colorspace, settings.coded_range
    cc.flags |= av.codec.context.Flags.global_header
    return in_format


def tag_frame(frame: av.VideoFrame, settings: EncodeSettings) -> None:
    """Tag a frame to encode with the output's colour tags: primaries, transfer and matrix as
    FFmpeg enum values, which are the ISO/IEC 23091-2 (H.273) code points; range as FFmpeg's
    AVColorRange (1 TV/limited, 2 full; libavutil/pixfmt.h).

    The tags only label the frame (its pixels are left as they are); set them after any
    ``reformat``, so the conversion does not take them as its input's. prores_ks copies them into
    each ProRes frame header (Apple ProRes, SMPTE RDD 36: ``color_primaries``,
    ``transfer_characteristic``, ``matrix_coefficients``); the other encoders take the codec
    context's (:func:`configure_stream`), which holds the same values.
    """
    frame.color_primaries, frame.color_trc = settings.color_primaries, settings.color_trc
    frame.colorspace, frame.color_range = settings.colorspace, settings.coded_range


class ChunkEncoder:
    """Encode one stream (the image or the matte) of one chunk to a file.

    Args:
        path: local file to write. settings: encoding settings. kind: ``image`` or ``matte``.

    Use as a context manager; ``write`` each frame in presentation order.
    """

    def __init__(self, path: str, settings: EncodeSettings, kind: StreamKind) -> None:
        self.settings, self.kind = settings, kind
        encoder = _stream_format(settings, kind)[0]
        self.container = av.open(path, "w", format=CHUNK_FORMAT[settings.codec])
        self.stream = self.container.add_stream(encoder, rate=Fraction(settings.frame_rate))
        self.in_format = configure_stream(self.stream, settings, kind)
        self.time_base = Fraction(settings.time_base)

    def write(self, pts: int, luma: np.ndarray, chroma: np.ndarray | None = None, alpha: np.ndarray | None = None) -> None:
        """Encode one frame.

        Args:
            pts: presentation time in ``settings.time_base`` units.
            luma: ``(H, W)`` uint8: Y' of the image, or the matte (``matte`` stream).
            chroma: ``(2, Hc, Wc)`` uint8 Cb, Cr of the image in the working
                format (ProRes: ``(2, H, W)``); None for the matte.
            alpha: ``(H, W)`` uint8 straight alpha (ProRes 4444 image only).

        The image's code values are the source's range; for ProRes a full-range image is
        scaled to TV range here (alpha, always full range, and the matte are left as they are).
        """
        if chroma is None:
            frame = av.VideoFrame.from_ndarray(luma, format="gray")
        else:
            frame = planes_frame(luma, chroma, self.in_format, alpha)
        if chroma is not None and self.settings.color_range == FULL_RANGE and self.settings.coded_range == TV_RANGE:
            frame = frame.reformat(format=self.stream.pix_fmt, src_color_range=FULL_RANGE, dst_color_range=TV_RANGE)
        elif frame.format.name != self.stream.pix_fmt:
            frame = frame.reformat(format=self.stream.pix_fmt)
        tag_frame(frame, self.settings)
        frame.pts, frame.time_base = pts, self.time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and close the file."""
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()

    def __enter__(self) -> "ChunkEncoder":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.container.close()
