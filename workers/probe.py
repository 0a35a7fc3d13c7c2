"""Probe a video with PyAV: streams, timing, the exact frame list and its keyframes.

Frames are numbered 0..N-1 in presentation order. The frame list is read from
the demuxed packets (one packet per frame for every codec Mattefarm accepts),
never from the container's header, which may be absent or wrong. Each frame's
PTS is kept, so variable frame rate survives the round trip, and each
packet's decode position and keyframe flag are kept, so chunks can be cut at
any frame whatever the GOP structure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from models.errors import InputError
from workers.paths import check_source_path


@dataclass(frozen=True)
class AudioInfo:
    """One audio stream.

    Attributes:
        index: stream index in the container.
        codec: decoder name (``aac``, ``mp3float``...).
        sample_rate: Hz. channels: count.
        time_base: ``"num/den"`` seconds per PTS unit.
        start_s, duration_s: first packet's time and span of the packets, seconds.
        packets: number of packets.
    """

    index: int
    codec: str
    sample_rate: int
    channels: int
    time_base: str
    start_s: float
    duration_s: float
    packets: int


@dataclass(frozen=True)
class VideoInfo:
    """The video stream (the first one).

    Attributes:
        index: stream index. codec: decoder name. width, height: pixels (coded, before rotation).
        pix_fmt: pixel format of decoded frames. frame_rate: ``"num/den"`` frames per second
        (average). time_base: ``"num/den"`` seconds per PTS unit. rotation: display
        rotation in degrees (counter-clockwise, from the display matrix).
        color_primaries, color_trc, colorspace, color_range: FFmpeg enum values (2 = unspecified).
        variable_frame_rate: frame durations differ by more than one PTS unit.
    """

    index: int
    codec: str
    width: int
    height: int
    pix_fmt: str
    frame_rate: str
    time_base: str
    rotation: int
    color_primaries: int
    color_trc: int
    colorspace: int
    color_range: int
    variable_frame_rate: bool


SEQUENCE_FORMAT = "image_sequence"
""":attr:`MediaProbe.format_name` of an image sequence (:mod:`workers.image_sequence`)."""


@dataclass(frozen=True)
class SequenceInfo:
    """What an image sequence source adds to its probe.

    Attributes:
        pattern: its files' ``printf`` pattern (``/shots/a/shot.%04d.exr``).
        first: the number of its first frame (``shot.1001.exr``: 1001); frame ``i`` of the
            shot is file number ``first + i``.
        colourspace: the OpenColorIO colour space its pixels are in (:mod:`models.colour_management`).
        width, height: every frame's size, pixels.
    """

    pattern: str
    first: int
    colourspace: str
    width: int
    height: int

    def path(self, index: int) -> str:
        """The file of frame ``index`` of the shot (0-based)."""
        return self.pattern % (self.first + index)


@dataclass(frozen=True)
class MediaProbe:
    """Everything Mattefarm needs to know about a source before it plans chunks.

    Attributes:
        format_name: demuxer name. video: the video stream. audio: audio streams.
        frame_pts: ``(N,)`` PTS of every frame in presentation order, time-base units.
        decode_order: ``(N,)`` decode position (packet index) of each frame.
        keyframe_packets: packet indices (decode order) that are keyframes, ascending.
        frame_duration: PTS units of the last frame (from its packet, else the median step).
        sequence: numbering and colour space of an image sequence (``path`` is then its
            ``printf`` pattern, ``shot.%04d.exr``); None for a movie.
        audio_path: the file ``audio`` describes when it is not ``path`` (``--audio`` beside
            an image sequence); None: ``path``.
    """

    path: str
    format_name: str
    video: VideoInfo
    audio: tuple[AudioInfo, ...]
    frame_pts: tuple[int, ...] = field(repr=False)
    decode_order: tuple[int, ...] = field(repr=False)
    keyframe_packets: tuple[int, ...] = field(repr=False)
    frame_duration: int = 0
    sequence: SequenceInfo | None = None
    audio_path: str | None = None

    @property
    def audio_source(self) -> str:
        """The file the audio streams are read from."""
        return self.audio_path or self.path

    @property
    def frame_count(self) -> int:
        """Number of frames, exact."""
        return len(self.frame_pts)

    @property
    def time_base(self) -> Fraction:
        """Video time base, seconds per PTS unit."""
        return Fraction(self.video.time_base)

    @property
    def fps(self) -> Fraction:
        """Average frame rate, frames per second."""
        return Fraction(self.video.frame_rate)

    @property
    def duration_s(self) -> float:
        """Video duration, first frame's start to last frame's end, seconds."""
        span = self.frame_pts[-1] + self.frame_duration - self.frame_pts[0]
        return float(span * self.time_base)

    @property
    def keyframes(self) -> tuple[int, ...]:
        """Frame indices (presentation order) whose packets are keyframes."""
        by_packet = {p: i for i, p in enumerate(self.decode_order)}
        return tuple(sorted(by_packet[p] for p in self.keyframe_packets))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MediaProbe":
        """Inverse of :meth:`to_dict`."""
        fields = dict(data)
        fields["video"] = VideoInfo(**data["video"])
        fields["audio"] = tuple(AudioInfo(**a) for a in data["audio"])
        fields["sequence"] = SequenceInfo(**data["sequence"]) if data.get("sequence") else None
        for key in ("frame_pts", "decode_order", "keyframe_packets"):
            fields[key] = tuple(data[key])
        return cls(**fields)


def _open(path: str) -> av.container.InputContainer:
    """Open a media file; messages name the file only (never a server's folders).

    Raises:
        InputError: missing, a folder, or not readable as media (not a video, or truncated).
    """
    check_source_path(path)
    try:
        return av.open(path)
    except av.FFmpegError as exc:
        raise InputError(
            f"{Path(path).name} cannot be read as a video ({exc.strerror or exc}): it is not a video, or it is truncated",
            "pass a complete video file (MP4, MOV, MKV, ...); if it was copied or uploaded, check that the copy finished",
        ) from exc


def _read_rotation(container: av.container.InputContainer, stream: av.VideoStream) -> tuple[int, str]:
    """Rotation (degrees) and pixel format from the first decodable frame."""
    for frame in container.decode(stream):
        return int(round(frame.rotation or 0)) % 360, frame.format.name
    return 0, stream.codec_context.pix_fmt or "unknown"


def _audio_info(stream: av.AudioStream, spans: dict[int, list[int]]) -> AudioInfo:
    tb = stream.time_base or Fraction(1, stream.sample_rate or 1)
    first, last_end, count = spans.get(stream.index, [0, 0, 0])
    return AudioInfo(
        index=stream.index,
        codec=stream.codec_context.name,
        sample_rate=stream.sample_rate or 0,
        channels=stream.codec_context.channels,
        time_base=str(tb),
        start_s=float(first * tb),
        duration_s=float((last_end - first) * tb),
        packets=count,
    )


def _demux_tables(
    container: av.container.InputContainer, video: av.VideoStream | None
) -> tuple[list[tuple[int, bool, int]], dict[int, list[int]]]:
    """One pass over all packets: video ``(pts, keyframe, duration)`` in decode order, audio spans."""
    packets: list[tuple[int, bool, int]] = []
    spans: dict[int, list[int]] = {}
    streams = [*([video] if video is not None else []), *container.streams.audio]
    try:
        for packet in container.demux(streams):
            if packet.size == 0 or packet.is_discard:
                continue
            if packet.stream.type == "video":
                if packet.pts is None:
                    raise InputError(
                        f"{Path(container.name).name} has video packets without timestamps",
                        "remux it first (ffmpeg -fflags +genpts -i IN -c copy OUT.mkv)",
                    )
                packets.append((packet.pts, bool(packet.is_keyframe), packet.duration or 0))
            elif packet.pts is not None:
                span = spans.setdefault(packet.stream.index, [packet.pts, packet.pts, 0])
                span[0] = min(span[0], packet.pts)
                span[1] = max(span[1], packet.pts + (packet.duration or 0))
                span[2] += 1
    except av.FFmpegError as exc:
        raise InputError(
            f"{Path(container.name).name} is damaged or truncated ({exc.strerror or exc})",
            "re-export or re-copy the file",
        ) from exc
    return packets, spans


def probe_video(path: str | Path) -> MediaProbe:
    """Probe a video file.

    Args:
        path: a local file.

    Returns:
        The :class:`MediaProbe`, with the exact frame list.

    Raises:
        InputError: missing file, not a media file, no video stream (audio-only),
            zero frames, packets without PTS, duplicate PTS, or a truncated file.
    """
    path = str(path)
    with _open(path) as container:
        if not container.streams.video and container.streams.audio:
            raise InputError(f"{Path(path).name} has only audio, no video stream", "pass a video file")
        if not container.streams.video:
            raise InputError(f"{Path(path).name} has no video stream: it is not a video, or its header is "
                             "damaged or truncated", "re-export or re-copy the file, or pass another video")
        video = container.streams.video[0]
        packets, spans = _demux_tables(container, video)
        audio = tuple(_audio_info(s, spans) for s in container.streams.audio)
        declared, time_base = video.frames, video.time_base  # read while open (av 18.1.1 refuses it after)
        declared_s = (container.duration or 0) / av.time_base
        format_name = container.format.name
    if not packets:
        raise InputError(f"{Path(path).name} has zero video frames", "pass a video with at least one frame")
    if declared and len(packets) < declared:
        raise InputError(
            f"{Path(path).name} is truncated: the header promises {declared} frames, {len(packets)} are present",
            "re-export or re-copy the file",
        )
    span_s = float((max(p[0] for p in packets) - min(p[0] for p in packets)) * (time_base or 0))
    sound_s = max((a.start_s + a.duration_s for a in audio), default=0.0)  # sound may outlast the pictures
    if declared_s > 1.0 and max(span_s, sound_s) < 0.75 * declared_s - 0.5:
        raise InputError(
            f"{Path(path).name} is truncated: its header says {declared_s:.2f} s, its frames last {span_s:.2f} s",
            "re-export or re-copy the file",
        )
    with av.open(path) as container:
        video = container.streams.video[0]
        rotation, pix_fmt = _read_rotation(container, video)
        info = _video_info(video, packets, rotation, pix_fmt)
    order = sorted(range(len(packets)), key=lambda i: packets[i][0])
    frame_pts = tuple(packets[i][0] for i in order)
    if len(set(frame_pts)) != len(frame_pts):
        raise InputError(f"{Path(path).name} has frames with duplicate timestamps", "remux it with fresh timestamps")
    return MediaProbe(
        path=path,
        format_name=format_name,
        video=info,
        audio=audio,
        frame_pts=frame_pts,
        decode_order=tuple(order),
        keyframe_packets=tuple(i for i, p in enumerate(packets) if p[1]),
        frame_duration=_last_duration(packets, frame_pts),
    )


def probe_audio(path: str | Path) -> tuple[AudioInfo, ...]:
    """The audio streams of a file (``--audio`` beside an image sequence); its video is ignored.

    Raises:
        InputError: missing file, not a media file, no audio stream, or a truncated file.
    """
    path = str(path)
    with _open(path) as container:
        _, spans = _demux_tables(container, None)
        audio = tuple(_audio_info(s, spans) for s in container.streams.audio)
    if not audio or not any(a.packets for a in audio):
        raise InputError(f"{Path(path).name} has no audio", "pass a sound file (WAV, AAC, ...) or a movie with sound")
    return audio


def _last_duration(packets: list[tuple[int, bool, int]], frame_pts: tuple[int, ...]) -> int:
    steps = sorted(b - a for a, b in zip(frame_pts, frame_pts[1:]))
    median = steps[len(steps) // 2] if steps else 1
    last = max(packets, key=lambda p: p[0])[2]
    return last if median / 2 <= last <= median * 2 else median


def _video_info(video: av.VideoStream, packets: list[tuple[int, bool, int]], rotation: int, pix_fmt: str) -> VideoInfo:
    cc = video.codec_context
    pts = sorted(p[0] for p in packets)
    steps = {b - a for a, b in zip(pts, pts[1:])}
    rate = video.average_rate or video.guessed_rate or Fraction(25)
    tb = video.time_base or Fraction(1, 90000)
    return VideoInfo(
        index=video.index,
        codec=cc.name,
        width=cc.width,
        height=cc.height,
        pix_fmt=pix_fmt,
        frame_rate=str(Fraction(rate)),
        time_base=str(tb),
        rotation=rotation,
        color_primaries=int(cc.color_primaries),
        color_trc=int(cc.color_trc),
        colorspace=int(cc.colorspace),
        color_range=int(cc.color_range),
        variable_frame_rate=bool(steps) and max(steps) - min(steps) > 1,
    )
