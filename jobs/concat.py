"""Reassembly: concatenate rendered chunks by stream copy, mux the source audio once, verify.

Audio is never cut per chunk (AAC priming and frame alignment drift 5-16 ms
per cut, FIELD-NOTES.md): the source's audio streams are copied whole when
the output container takes their codec, else encoded to AAC, and interleaved
with the video by time as they are written (nothing is held in memory).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av

from models.errors import MediaError, VerificationError
from workers.encode import EncodeSettings
from workers.probe import MediaProbe

# Audio codecs each delivery container takes by stream copy (decoder names).
COPY_AUDIO: dict[str, set[str]] = {
    "mp4": {"aac", "mp3", "mp3float", "alac", "ac3", "eac3", "opus", "flac", "mp2", "mp2float"},
    "mov": {"aac", "mp3", "mp3float", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le", "mp2", "mp2float"},
    "matroska": set(),  # empty: takes everything
}
AUDIO_TOLERANCE_S = 0.05


@dataclass(frozen=True)
class ChunkTiming:
    """Where a rendered chunk file sits in the output.

    Attributes:
        path: local rendered chunk file. output_pts: output PTS of its frames in
            presentation order, ``settings.time_base`` units. end_pts: where its
            last frame ends (the next chunk's first PTS, or the shot's end).
    """

    path: str
    output_pts: tuple[int, ...]
    end_pts: int


def output_format(path: str) -> str:
    """FFmpeg muxer name for an output path (``mp4``, ``mov`` or ``matroska``)."""
    suffix = path.rsplit(".", 1)[-1].lower()
    return {"mp4": "mp4", "m4v": "mp4", "mov": "mov", "mkv": "matroska"}.get(suffix, "matroska")


def _pts(packet: av.Packet, path: str) -> int:
    """A chunk packet's PTS (every frame our encoder writes has one)."""
    if packet.pts is None:
        raise MediaError(f"{path} holds a packet without a PTS", "re-render the chunk")
    return packet.pts


def _video_packets(chunks: list[ChunkTiming], out_tb: Fraction) -> Iterator[av.Packet]:
    """Packets of every chunk in order, PTS set from the plan and DTS kept increasing."""
    last_dts: int | None = None
    for chunk in chunks:
        with av.open(chunk.path) as container:
            stream = container.streams.video[0]
            packets = [p for p in container.demux(stream) if p.size]
            if len(packets) != len(chunk.output_pts):
                raise MediaError(f"{chunk.path} holds {len(packets)} frames, {len(chunk.output_pts)} expected", "re-render the chunk")
            tb = stream.time_base
            if tb is None:
                raise MediaError(f"{chunk.path} has no video time base", "re-render the chunk")
            rank = {id(p): i for i, p in enumerate(sorted(packets, key=lambda p: _pts(p, chunk.path)))}
            first_in = min(_pts(p, chunk.path) for p in packets)
            ends = (*chunk.output_pts[1:], chunk.end_pts)
            for packet in packets:
                pts = chunk.output_pts[rank[id(packet)]]
                packet.duration = ends[rank[id(packet)]] - pts
                dts_in = packet.dts if packet.dts is not None else _pts(packet, chunk.path)
                dts = chunk.output_pts[0] + round((dts_in - first_in) * tb / out_tb)
                if last_dts is not None and dts <= last_dts:
                    dts = last_dts + 1
                dts = min(dts, pts)
                packet.pts, packet.dts, packet.time_base = pts, dts, out_tb
                last_dts = dts
                yield packet


def _audio_packets(source: av.container.InputContainer, streams: dict[int, av.stream.Stream], shift_s: Fraction) -> Iterator[tuple[int, av.Packet]]:
    """Source audio packets (copied streams), time-shifted, as ``(stream index, packet)``."""
    inputs = [source.streams[i] for i in streams]
    if not inputs:
        return
    for packet in source.demux(inputs):
        if packet.size == 0 or packet.pts is None:
            continue
        shift = round(shift_s / packet.time_base)
        packet.pts -= shift
        if packet.dts is not None:
            packet.dts -= shift
        yield packet.stream.index, packet


def _seconds(ts: int | None, packet: av.Packet) -> Fraction:
    """A timestamp of ``packet`` in seconds (the packets merged always carry one)."""
    if ts is None:
        raise MediaError("a packet to mux has no timestamp", "re-render the job")
    return ts * packet.time_base


def _interleave(video: Iterator[av.Packet], audio: Iterator[tuple[int, av.Packet]]) -> Iterator[tuple[int | None, av.Packet]]:
    """Merge video and audio packets by DTS time (None marks video)."""
    v, a = next(video, None), next(audio, None)
    while v is not None or a is not None:
        if v is not None and (a is None or _seconds(v.dts, v) <= _seconds(a[1].dts or a[1].pts, a[1])):
            yield None, v
            v = next(video, None)
        elif a is not None:  # always: v is None or a's packet comes first
            yield a
            a = next(audio, None)


def _tag_stream(stream: av.stream.Stream, settings: EncodeSettings) -> None:
    """Give the stream-copied video the job's colour tags (FFmpeg enum values: H.273 code points,
    range as AVColorRange), not what a demuxer read back from the first chunk.

    PyAV copies the codec context to the stream's codec parameters before the header is
    written; the MOV/MP4 muxer writes its 'colr' atom from them (QuickTime 'nclc' in MOV:
    primaries, transfer, matrix; ISO/IEC 14496-12 'nclx' in MP4, with the full-range flag),
    Matroska its Colour element. The packets are not touched: the ProRes frame headers already
    hold the same tags (:func:`workers.encode.tag_frame`), as do H.264's VUI and FFV1's header.
    """
    cc = stream.codec_context
    if not isinstance(cc, av.video.codeccontext.VideoCodecContext):
        raise MediaError("the first chunk's video stream has no video codec context", "re-render the chunk")
    cc.color_primaries, cc.color_trc = settings.color_primaries, settings.color_trc
    cc.colorspace, cc.color_range = settings.colorspace, settings.coded_range


def concat_chunks(
    chunks: list[ChunkTiming],
    output_path: str,
    settings: EncodeSettings,
    probe: MediaProbe | None,
    rotation: int = 0,
    shift_s: Fraction = Fraction(0),
) -> None:
    """Write the output: chunk video by stream copy, plus the source's audio (``probe`` given).

    Args:
        chunks: rendered chunk files in order. output_path: local file to write.
        settings: encode settings (time base, frame rate, colour tags).
        probe: the source (its audio is muxed), or None for a video-only output (matte pass).
        rotation: display rotation to tag. shift_s: seconds subtracted from source audio PTS.

    Raises:
        MediaError: a chunk file is short or the container refuses a stream.
    """
    fmt = output_format(output_path)
    out_tb = Fraction(settings.time_base)
    with av.open(chunks[0].path) as first, av.open(output_path, "w", format=fmt) as out:
        vstream = out.add_stream_from_template(first.streams.video[0], opaque=True)
        if fmt in ("mov", "mp4"):  # the template leaves the tag to the muxer, which calls ProRes 4444 'apch'
            vstream.codec_tag = first.streams.video[0].codec_tag
        vstream.time_base = out_tb
        vstream.codec_context.framerate = Fraction(settings.frame_rate)
        _tag_stream(vstream, settings)
        if rotation:
            vstream.set_display_rotation(rotation)
        audio_copy: dict[int, av.stream.Stream] = {}
        transcode: list[int] = []
        encoders: dict[int, av.AudioStream] = {}
        source = av.open(probe.audio_source) if probe and probe.audio else None
        try:
            if probe is not None and source is not None:
                for info in probe.audio:
                    allowed = COPY_AUDIO.get(fmt, set())
                    if not allowed or info.codec in allowed:
                        audio_copy[info.index] = out.add_stream_from_template(source.streams[info.index], opaque=True)
                    else:
                        transcode.append(info.index)
                for i in transcode:
                    src = _audio_stream(source, i)
                    encoders[i] = out.add_stream("aac", rate=src.sample_rate, layout=src.layout)
            video = _video_packets(chunks, out_tb)
            audio = _audio_packets(source, audio_copy, shift_s) if source is not None else iter(())
            for index, packet in _interleave(video, audio):
                packet.stream = vstream if index is None else audio_copy[index]
                out.mux(packet)
            if probe is not None and encoders:  # encoders are only made for the probe's audio
                _encode_audio(probe.audio_source, encoders, out, shift_s)
        except av.FFmpegError as exc:
            raise MediaError(f"writing {output_path} failed ({exc})", "check the output path and codec") from exc
        finally:
            if source is not None:
                source.close()


def _audio_stream(source: av.container.InputContainer, index: int) -> av.AudioStream:
    """The source stream at ``index``, which the probe listed as audio."""
    stream = source.streams[index]
    if not isinstance(stream, av.AudioStream):
        raise MediaError(f"stream {index} of {source.name} is not audio", "re-probe the source")
    return stream


def _encode_audio(path: str, encoders: dict[int, av.AudioStream], out: av.container.OutputContainer, shift_s: Fraction) -> None:
    """Encode source audio streams the container cannot copy to AAC."""
    with av.open(path) as source:
        for index, stream in encoders.items():
            source.seek(0)
            src = _audio_stream(source, index)
            src_tb = src.time_base
            if src_tb is None:
                raise MediaError(f"audio stream {index} of {path} has no time base", "re-probe the source")
            resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=stream.sample_rate)
            shift = round(shift_s * stream.sample_rate)
            for frame in source.decode(src):
                start = round(frame.pts * src_tb * stream.sample_rate) - shift if frame.pts is not None else None
                for res in resampler.resample(frame):
                    if start is not None:
                        res.pts, res.time_base = start, Fraction(1, stream.sample_rate)
                        start += res.samples
                    for packet in stream.encode(res):
                        out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)


@dataclass(frozen=True)
class Verification:
    """What the output check measured.

    Attributes:
        frames: video frames. video_s: video duration, seconds.
        audio_s: duration of each audio stream, seconds.
    """

    frames: int
    video_s: float
    audio_s: tuple[float, ...]


def verify_output(path: str, probe: MediaProbe, with_audio: bool = True) -> Verification:
    """Check an assembled output against its source.

    Frame count equal, video duration within one frame, each audio stream's
    duration within 50 ms, PTS strictly increasing in presentation order.

    Raises:
        VerificationError: a check failed (the message names it).
    """
    from workers.probe import probe_video  # the output is probed like any source

    try:
        out = probe_video(path)
    except Exception as exc:  # noqa: BLE001 - any failure to read back fails verification
        raise VerificationError(f"the output {path} cannot be read back ({exc})", "re-run the job") from exc
    frame_s = 1.0 / float(probe.fps)
    if out.frame_count != probe.frame_count:
        raise VerificationError(f"the output has {out.frame_count} frames, the source {probe.frame_count}", "re-run the job")
    if abs(out.duration_s - probe.duration_s) > frame_s + 1e-6:
        raise VerificationError(f"the output lasts {out.duration_s:.3f} s, the source {probe.duration_s:.3f} s", "re-run the job")
    if any(b <= a for a, b in zip(out.frame_pts, out.frame_pts[1:])):
        raise VerificationError("the output's PTS are not strictly increasing", "re-run the job")
    audio = tuple(a.duration_s for a in out.audio)
    if with_audio:
        if len(audio) != len(probe.audio):
            raise VerificationError(f"the output has {len(audio)} audio streams, the source {len(probe.audio)}", "re-run the job")
        for got, want in zip(audio, (a.duration_s for a in probe.audio)):
            if abs(got - want) > AUDIO_TOLERANCE_S:
                raise VerificationError(f"an audio stream lasts {got:.3f} s, the source's {want:.3f} s", "re-run the job")
    return Verification(out.frame_count, out.duration_s, audio)
