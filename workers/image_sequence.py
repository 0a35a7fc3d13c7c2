"""Image sequences as sources: ``shot.%04d.exr`` (also ``shot.####.exr``; DPX, TIFF, PNG), probed,
and their frames read into the keyer's working planes.

A sequence is a frame range: frame ``i`` of the shot is file number ``first + i``, every
frame is a keyframe, and a chunk is just a range of files (nothing is split). Frames are
decoded with PyAV (FFmpeg's EXR, DPX, TIFF and PNG decoders), converted with OpenColorIO from
the sequence's colour space to display-referred Rec.709 (:mod:`models.colour_management`),
and then to BT.709 TV-range Y'CbCr planes, as a Rec.709 video carries them, so the keyer,
the analysis and the previews see what they see for a movie.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from models.choices import IMAGE_SUFFIXES, is_sequence_name
from models.colour_management import DEFAULT_COLOURSPACE, WORKING, check_colourspace, convert
from models.errors import InputError, MediaError
from models.yuv import YuvMatrix, rgb_to_planes
from workers.frames import planes_frame, working_format
from workers.probe import SEQUENCE_FORMAT, MediaProbe, SequenceInfo, VideoInfo

_PRINTF = re.compile(r"%(0?)(\d*)d")
_HASHES = re.compile(r"#+")
SWS_ITU709 = 1  # SWS_CS_ITU709 (libswscale/swscale.h)
REC709_TV = YuvMatrix.from_sws(SWS_ITU709, full_range=False)
"""The Y'CbCr a sequence's frames are given to the keyer in (BT.709, TV range)."""
BT709, TV = 1, 1  # H.273 code points (primaries, transfer, matrix) and AVColorRange of that Y'CbCr
DEFAULT_RATE = Fraction(24)
"""Frames per second of a sequence when the job names none (``--frame-rate``): film's rate."""


def sequence_pattern(path: str) -> str | None:
    """The ``printf`` pattern of an image-sequence path (``shot.####.exr`` -> ``shot.%04d.exr``),
    or None when ``path`` names no sequence (a movie): its suffix is not an image format, or
    its file name holds no frame-number field."""
    name = Path(path).name
    if not is_sequence_name(path):
        return None
    if _PRINTF.search(name):
        return path
    field = list(_HASHES.finditer(name))[-1]
    printf = f"%0{len(field.group())}d" if len(field.group()) > 1 else "%d"
    return str(Path(path).with_name(name[: field.start()] + printf + name[field.end():]))


def _number_pattern(pattern: str) -> re.Pattern[str]:
    """A regex matching the file names of ``pattern`` (FFmpeg's image2 rule: ``%04d`` takes at
    least four digits), its group 1 the frame number."""
    name = Path(pattern).name
    field = _PRINTF.search(name)
    if field is None:
        raise InputError(f"{name} has no frame-number field", "name the sequence like shot.%04d.exr or shot.####.exr")
    width = int(field.group(2) or 1)
    return re.compile(re.escape(name[: field.start()]) + r"(\d{%d,})" % width + re.escape(name[field.end():]) + "$")


def sequence_numbers(pattern: str) -> tuple[int, ...]:
    """The frame numbers of the files of a sequence on disk, ascending and without gaps.

    Raises:
        InputError: no file matches, or numbers are missing between the first and the last
            (the message names the first missing ones).
    """
    folder = Path(pattern).parent
    names = _number_pattern(pattern)
    if not folder.is_dir():
        raise InputError(f"the folder of {Path(pattern).name} does not exist", "check the path of the image sequence")
    numbers = sorted(int(m.group(1)) for p in folder.iterdir() if (m := names.match(p.name)))
    if not numbers:
        raise InputError(f"no file matches {Path(pattern).name}", "check the sequence's name and frame-number width")
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    if missing:
        shown = ", ".join(str(n) for n in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(f"{Path(pattern).name} has gaps: frame(s) {shown} missing between {numbers[0]} and "
                         f"{numbers[-1]}", "render or copy the missing frames, or pass a sequence without gaps")
    return tuple(numbers)


def _decode_one(path: str) -> av.VideoFrame:
    """The picture of one image file.

    Raises:
        InputError: the file cannot be read as an image.
    """
    try:
        with av.open(path) as container:
            for frame in container.decode(video=0):
                return frame
    except (av.FFmpegError, IndexError) as exc:
        raise InputError(f"{Path(path).name} cannot be read as an image ({exc})", "re-export or re-copy it") from exc
    raise InputError(f"{Path(path).name} holds no picture", "re-export or re-copy it")


def probe_sequence(path: str, frame_rate: Fraction | None = None, colourspace: str | None = None) -> MediaProbe:
    """Probe an image sequence: its frame numbers, size and format (from its first file).

    Args:
        path: the sequence, ``shot.%04d.exr`` or ``shot.####.exr``.
        frame_rate: frames per second (None: :data:`DEFAULT_RATE`); the time base is its inverse,
            so frame ``i`` has PTS ``i``.
        colourspace: the OpenColorIO colour space of its pixels (None: the format's default,
            :data:`models.colour_management.DEFAULT_COLOURSPACE`).

    Returns:
        A :class:`workers.probe.MediaProbe` with ``format_name`` :data:`workers.probe.SEQUENCE_FORMAT`,
        ``path`` the ``printf`` pattern, the video described as the BT.709 TV-range Y'CbCr its
        frames are read into, and :class:`workers.probe.SequenceInfo`.

    Raises:
        InputError: not a sequence name, no or missing files, an unreadable first file, an unknown
            colour space or a rate that is not positive.
    """
    pattern = sequence_pattern(path)
    if pattern is None:
        raise InputError(f"{Path(path).name} is not an image sequence name", "name it like shot.%04d.exr or shot.####.exr")
    rate = Fraction(frame_rate) if frame_rate is not None else DEFAULT_RATE
    if rate <= 0:
        raise InputError(f"--frame-rate {rate} is not positive", "pass the sequence's rate, e.g. 24 or 24000/1001")
    codec = IMAGE_SUFFIXES[Path(pattern).suffix.lower()]
    space = check_colourspace(colourspace or DEFAULT_COLOURSPACE[codec], "--input-colorspace")
    numbers = sequence_numbers(pattern)
    first = _decode_one(pattern % numbers[0])
    count = len(numbers)
    video = VideoInfo(index=0, codec=codec, width=first.width, height=first.height, pix_fmt=first.format.name,
                      frame_rate=str(rate), time_base=str(1 / rate), rotation=0, color_primaries=BT709,
                      color_trc=BT709, colorspace=BT709, color_range=TV, variable_frame_rate=False)
    return MediaProbe(path=pattern, format_name=SEQUENCE_FORMAT, video=video, audio=(), frame_pts=tuple(range(count)),
                      decode_order=tuple(range(count)), keyframe_packets=tuple(range(count)), frame_duration=1,
                      sequence=SequenceInfo(pattern, numbers[0], space, first.width, first.height))


def read_rgb(path: str) -> np.ndarray:
    """One image file's colour: ``(H, W, 3)`` float32 RGB in its own colour space (0-1 for
    integer formats; any value for float EXR). An alpha channel is dropped.

    Raises:
        InputError: the file cannot be read as an image.
    """
    frame = _decode_one(path)
    try:
        return frame.reformat(format="gbrpf32le").to_ndarray()
    except (av.FFmpegError, ValueError) as exc:
        raise InputError(f"{Path(path).name}: its pixels ({frame.format.name}) cannot be converted ({exc})",
                         "re-export it as 8-16-bit integer or half/float RGB") from exc


def display_rgb(sequence: SequenceInfo, index: int) -> np.ndarray:
    """Frame ``index`` of a sequence in the working colour space: ``(H, W, 3)`` float32
    display-referred Rec.709 R'G'B' clipped to [0, 1].

    Raises:
        InputError: the file is unreadable. MediaError: its size differs from the first frame's.
    """
    path = sequence.path(index)
    rgb = read_rgb(path)
    if rgb.shape[:2] != (sequence.height, sequence.width):
        raise MediaError(f"{Path(path).name} is {rgb.shape[1]}x{rgb.shape[0]}, the sequence's first frame "
                         f"{sequence.width}x{sequence.height}", "re-export the sequence at one size")
    return np.clip(convert(rgb, sequence.colourspace, WORKING), 0.0, 1.0)


def working_frame(sequence: SequenceInfo, index: int, fmt: str | None = None) -> av.VideoFrame:
    """Frame ``index`` of a sequence as a frame in the working format ``fmt`` (default
    :func:`workers.frames.working_format`), BT.709 TV-range Y'CbCr, like a decoded video frame;
    its PTS is ``index``."""
    fmt = fmt or working_format(sequence.width, sequence.height)
    luma, chroma = rgb_to_planes(display_rgb(sequence, index) * np.float32(255.0), REC709_TV, fmt == "yuv420p")
    frame = planes_frame(luma, chroma, fmt)
    frame.pts = index
    return frame


def sequence_frames(sequence: SequenceInfo, start: int, stop: int, fmt: str) -> Iterator[tuple[int, av.VideoFrame]]:
    """Frames ``start .. stop - 1`` of a sequence, ``(index, frame in the working format)``, in order."""
    for index in range(start, stop):
        yield index, working_frame(sequence, index, fmt)
