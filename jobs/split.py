"""Split a source into chunk files by stream copy (no re-encode), in one pass.

Each chunk file holds the video packets ``[packet_start, packet_end)`` of its
plan, in decode order, in the source's own container format where its muxer
accepts the codec (else Matroska, else NUT). Audio is not split: it is muxed
once from the source at assembly. After writing, each file's packets are read
back, so the worker identifies frames by the PTS they really carry in the
chunk file (muxers may shift or rescale timestamps).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av

from jobs.plan import ChunkPlan
from models.errors import MediaError
from workers.probe import MediaProbe
from workers.storage import Storage

FALLBACK_SUFFIXES = (".mkv", ".nut")


@dataclass(frozen=True)
class SplitChunk:
    """A written chunk file.

    Attributes:
        index: chunk number. key: storage key of the file.
        file_pts: PTS in the file's time base of frames ``preroll_start .. frame_end - 1``.
    """

    index: int
    key: str
    file_pts: tuple[int, ...]


def _suffix_for(probe: MediaProbe) -> str:
    """A container suffix whose muxer takes the source's video codec."""
    codec = _base_codec(probe.video.codec)
    for suffix in (Path(probe.path).suffix.lower(), *FALLBACK_SUFFIXES):
        try:
            with av.open(io.BytesIO(), "w", format=_format_name(suffix)) as out:
                if codec in out.supported_codecs:
                    return suffix
        except (ValueError, av.FFmpegError):
            continue
    raise MediaError(f"no container can carry the {codec} video of {probe.path} by stream copy", "transcode the source first")


def _format_name(suffix: str) -> str:
    names = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".flv": "flv",
             ".mpg": "mpeg", ".mpeg": "mpeg", ".ts": "mpegts", ".m2ts": "mpegts", ".avi": "avi", ".nut": "nut"}
    return names.get(suffix, "matroska")


def _base_codec(decoder: str) -> str:
    return {"mp3float": "mp3", "mp2float": "mp2"}.get(decoder, decoder)


def split_chunks(probe: MediaProbe, plans: list[ChunkPlan], storage: Storage, prefix: str) -> list[SplitChunk]:
    """Write one stream-copied file per chunk plan.

    Args:
        probe: the source's probe. plans: the chunk plans.
        storage: where chunk files go. prefix: key prefix, e.g. ``jobs/<id>/split``.

    Returns:
        The written chunks, in plan order.

    Raises:
        MediaError: the source cannot be read back or a chunk file cannot be written.
    """
    suffix = _suffix_for(probe)
    keys = [f"{prefix}/{p.index:05d}{suffix}" for p in plans]
    try:
        _write_chunks(probe, plans, storage, keys, suffix)
        return [_read_back(probe, plan, storage, key) for plan, key in zip(plans, keys)]
    except av.FFmpegError as exc:
        raise MediaError(f"splitting {probe.path} failed ({exc})", "check the source file") from exc


def _write_chunks(probe: MediaProbe, plans: list[ChunkPlan], storage: Storage, keys: list[str], suffix: str) -> None:
    """One demux pass; each packet goes to every chunk whose packet range holds it."""
    fmt = _format_name(suffix)
    open_files: dict[int, tuple] = {}
    by_start: dict[int, list[int]] = {}
    for plan in plans:
        by_start.setdefault(plan.packet_start, []).append(plan.index)
    with av.open(probe.path) as source:
        video = source.streams.video[0]
        position = 0
        for packet in source.demux(video):
            if packet.size == 0 or packet.is_discard:
                continue
            for index in by_start.get(position, []):
                writer = storage.writer(keys[index])
                path = writer.__enter__()
                out = av.open(path, "w", format=fmt)
                stream = out.add_stream_from_template(video, opaque=True)
                open_files[index] = (writer, out, stream)
            for index, (_, out, stream) in open_files.items():
                packet.stream = stream
                out.mux(packet)
            position += 1
            for index in [i for i in open_files if plans[i].packet_end == position]:
                writer, out, _ = open_files.pop(index)
                out.close()
                writer.__exit__(None, None, None)
    for writer, out, _ in open_files.values():
        out.close()
        writer.__exit__(MediaError, MediaError("unfinished chunk"), None)
    if open_files:
        raise MediaError(f"{probe.path} ended before every chunk was written", "check the source file")


def _read_back(probe: MediaProbe, plan: ChunkPlan, storage: Storage, key: str) -> SplitChunk:
    """Map the chunk's needed frames to the PTS its file really carries."""
    with storage.local_copy(key) as path, av.open(path) as chunk:
        stream = chunk.streams.video[0]
        found = [p.pts for p in chunk.demux(stream) if p.size]
    expected = plan.packet_end - plan.packet_start
    pts = [p for p in found if p is not None]
    if len(found) != expected or len(pts) != expected:
        raise MediaError(
            f"chunk {plan.index} holds {len(pts)} packets with timestamps, {expected} were written",
            "the source's container confuses stream copy; remux it to MKV first",
        )
    order = probe.decode_order[plan.preroll_start : plan.frame_end]
    return SplitChunk(plan.index, key, tuple(pts[p - plan.packet_start] for p in order))
