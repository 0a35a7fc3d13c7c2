"""Speed in one run on the same clip: the transcode ceiling, Mattefarm, the FFmpeg filter chain.

All three decode the same H.264 source and encode libx264 with the same
settings (crf 18, preset veryfast, 4:2:0), so they differ only in what happens
between decoder and encoder. The FFmpeg chain is libavfilter's ``chromakey``,
``despill`` and ``overlay`` in one filter graph, run through PyAV's bundled
FFmpeg (the same filters as the CLI's ``-filter_complex``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import av

from tests.bench.baselines import ffmpeg_chain_encode
from tests.bench.jobrun import run_keying_job
from workers.pool import RenderPool

CRF, PRESET = 18, "veryfast"


@dataclass(frozen=True)
class SpeedRow:
    """One run: ``name``, frames, wall seconds, and what it includes."""

    name: str
    frames: int
    seconds: float
    note: str

    @property
    def fps(self) -> float:
        """Frames per second of wall time."""
        return self.frames / self.seconds


def transcode(source: Path, output: Path) -> SpeedRow:
    """Decode + encode with the render's encoder settings, nothing else (source PTS kept).

    As ``ffmpeg -i SRC -c:v libx264 -crf 18 -preset veryfast``: the encoder
    chooses frame types. Passing the decoder's picture types through instead
    makes x264 skip its B-frame decisions: 57 vs 42 fps on the 1080p speed clip
    (an ultrafast source, so P-frames only).
    """
    started, frames = time.perf_counter(), 0
    with av.open(str(source)) as src, av.open(str(output), "w") as out:
        video = src.streams.video[0]
        video.thread_type = "AUTO"
        stream = out.add_stream("libx264", rate=video.average_rate)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.options = {"crf": str(CRF), "preset": PRESET}
        stream.codec_context.time_base = video.time_base
        for frame in src.decode(video):
            # Decoded frames carry the source's I/P/B types and libx264 honours
            # them; the CLI resets them, so x264 makes its own decisions (B-frames).
            frame.pict_type = av.video.frame.PictureType.NONE
            for packet in stream.encode(frame):
                out.mux(packet)
            frames += 1
        for packet in stream.encode(None):
            out.mux(packet)
    return SpeedRow("transcode only (decode + libx264)", frames, time.perf_counter() - started, "the ceiling")


def mattefarm(source: Path, plate: str, workdir: Path, pool: RenderPool) -> SpeedRow:
    """A whole keying job (probe, analysis, split, render on Ray, assemble with audio, verify)."""
    run = run_keying_job(source, workdir / "mattefarm.mp4", workdir / "job", pool, background=plate,
                         crf=CRF, preset=PRESET)
    note = f"whole job, {run.chunks} chunks, {len(pool.actors)} actor(s), {run.provider}"
    return SpeedRow("mattefarm render", run.frames, run.seconds, note)


def ffmpeg_chain(source: Path, plate: str, workdir: Path, key: tuple[int, int, int]) -> SpeedRow:
    """chromakey + despill + overlay + libx264 with the clip's nominal screen colour.

    Similarity 0.1 and blend 0.05 are fixed (near the oracle-tuned values of the
    quality clips); the filters' cost does not depend on them.
    """
    frames, seconds = ffmpeg_chain_encode(source, Path(plate), workdir / "ffmpeg.mp4", key, 0.1, 0.05, CRF, PRESET)
    return SpeedRow("ffmpeg chromakey,despill,overlay", frames, seconds, "libavfilter via PyAV")
