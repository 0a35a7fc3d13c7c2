"""Generate small test clips with PyAV: B-frames, open GOP, one keyframe, VFR, odd sizes,
rotation, no audio, two audio streams. The picture is a real photo from the shared
media moving over a green screen, so the keyer has something real to key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

from tests.conftest import media


@dataclass(frozen=True)
class ClipSpec:
    """How to make a clip."""

    name: str
    suffix: str = ".mp4"
    width: int = 176
    height: int = 144
    frames: int = 40
    x264: str = "keyint=12:bframes=2"
    pix_fmt: str = "yuv420p"
    audio_streams: int = 1
    rotation: int = 0
    vfr: bool = False


CLIPS = [
    ClipSpec("bframes", x264="keyint=12:bframes=3:b-pyramid=normal"),
    ClipSpec("open_gop", suffix=".mkv", x264="keyint=10:min-keyint=10:bframes=3:open-gop=1:scenecut=0"),
    ClipSpec("single_keyframe", x264="keyint=1000:min-keyint=1000:scenecut=0:bframes=2"),
    ClipSpec("vfr", suffix=".mkv", vfr=True),
    ClipSpec("odd_size", suffix=".mkv", width=161, height=121, pix_fmt="yuv444p"),
    ClipSpec("rotated", rotation=90),
    ClipSpec("no_audio", audio_streams=0),
    ClipSpec("two_audio", suffix=".mkv", audio_streams=2),
]


def _actor(width: int, height: int) -> np.ndarray:
    image = cv2.cvtColor(cv2.imread(media("faces/skimage_astronaut_eileen_collins.png")), cv2.COLOR_BGR2RGB)
    size = min(width, height) * 2 // 3
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def _frame(actor: np.ndarray, width: int, height: int, i: int) -> np.ndarray:
    """Green screen with a vertical gradient and the actor moving across it."""
    ramp = np.linspace(0.8, 1.1, height, dtype=np.float32)[:, None, None]
    screen = np.clip(np.array([40, 170, 60], np.float32) * ramp, 0, 255).astype(np.uint8)
    frame = np.broadcast_to(screen, (height, width, 3)).copy()
    size = actor.shape[0]
    x = (i * 3) % max(1, width - size)
    y = height - size
    yy, xx = np.mgrid[:size, :size]
    inside = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (size / 2) ** 2
    region = frame[y : y + size, x : x + size]
    region[inside] = actor[inside]
    return frame


def _pts_steps(spec: ClipSpec) -> list[int]:
    """PTS in 1/1000 s units (VFR alternates 33, 50 and 20 ms), else frame counts."""
    if not spec.vfr:
        return list(range(spec.frames))
    steps = [33, 50, 20]
    pts, t = [], 0
    for i in range(spec.frames):
        pts.append(t)
        t += steps[i % 3]
    return pts


def make_clip(spec: ClipSpec, path: str) -> str:
    """Write the clip and return its path."""
    actor = _actor(spec.width, spec.height)
    with av.open(path, "w") as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = spec.width, spec.height, spec.pix_fmt
        video.options = {"x264-params": spec.x264, "preset": "ultrafast" if "bframes" not in spec.x264 else "fast", "crf": "20"}
        tb = Fraction(1, 1000) if spec.vfr else Fraction(1, 30)
        video.codec_context.time_base = tb
        if spec.rotation:
            video.set_display_rotation(spec.rotation)
        audio = [out.add_stream("aac", rate=44100, layout="stereo" if i == 0 else "mono") for i in range(spec.audio_streams)]
        for i, pts in enumerate(_pts_steps(spec)):
            frame = av.VideoFrame.from_ndarray(_frame(actor, spec.width, spec.height, i), format="rgb24")
            frame.pts, frame.time_base = pts, tb
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        seconds = (_pts_steps(spec)[-1] * float(tb)) + float(tb if not spec.vfr else Fraction(33, 1000))
        for n, stream in enumerate(audio):
            _write_tone(out, stream, seconds, 440.0 * (n + 1))
    return path


def _write_tone(out: av.container.OutputContainer, stream: av.AudioStream, seconds: float, hz: float) -> None:
    rate, total, pts = 44100, int(seconds * 44100), 0
    channels = stream.layout.nb_channels
    while pts < total:
        n = min(1024, total - pts)
        t = (np.arange(pts, pts + n) / rate).astype(np.float32)
        tone = (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.tile(tone, (channels, 1)), format="fltp", layout=stream.layout.name)
        frame.sample_rate, frame.pts = rate, pts
        for packet in stream.encode(frame):
            out.mux(packet)
        pts += n
    for packet in stream.encode(None):
        out.mux(packet)


def write_h264(frames: Iterable[np.ndarray], path: str, fps: int = 25, crf: int = 18, rotation: int = 0) -> str:
    """Encode ``(H, W, 3)`` uint8 RGB frames (all one size) as an H.264 4:2:0 file, ``fps`` frames a second,
    tagged with a display rotation of ``rotation`` degrees (counter-clockwise) when given."""
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps), options={"crf": str(crf), "preset": "veryfast"})
        if rotation:
            stream.set_display_rotation(rotation)
        for i, rgb in enumerate(frames):
            if i == 0:
                stream.height, stream.width = rgb.shape[:2]
                stream.pix_fmt = "yuv420p"
            image = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            image.pts, image.time_base = i, Fraction(1, fps)
            for packet in stream.encode(image):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path



def frame_digest(frame: av.VideoFrame) -> str:
    """SHA-256 of a decoded frame's pixels (``to_ndarray``: rows cut to the picture's width). A
    digest of whole plane buffers would take in the padding FFmpeg leaves at the end of each row
    (``line_size`` beyond the width), uninitialised memory that differs between two decodes."""
    return hashlib.sha256(np.ascontiguousarray(frame.to_ndarray()).tobytes()).hexdigest()
