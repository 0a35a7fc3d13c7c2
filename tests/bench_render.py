"""Benchmark (not a test): transcode ceiling vs. Mattefarm render on a generated 1080p 10 s clip.

Run: ``.venv/bin/python -m tests.bench_render [--seconds 10] [--workers N]``. Prints a table with
fps of decode+encode alone (libx264, same settings as the render) and of ``mattefarm render``
(probe, analysis, split, render on Ray, assembly), and their ratio. Both run in this process, one
after the other, on the same clip.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
from rich.console import Console
from rich.table import Table

from jobs.db import make_engine, session_factory
from jobs.options import RenderOptions
from jobs.pipeline import create_job, run_job
from tests.clips import ClipSpec, make_clip
from tests.conftest import media
from workers.pool import RenderPool, connect_ray, pool_shape
from workers.storage import Storage


def transcode(source: str, output: str, crf: int = 18, preset: str = "veryfast") -> float:
    """Decode + encode with the render's encoder settings; returns frames per second."""
    started, frames = time.perf_counter(), 0
    with av.open(source) as src, av.open(output, "w") as out:
        video = src.streams.video[0]
        video.thread_type = "AUTO"
        stream = out.add_stream("libx264", rate=video.average_rate)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        stream.codec_context.time_base = video.time_base
        for frame in src.decode(video):
            for packet in stream.encode(frame):
                out.mux(packet)
            frames += 1
        for packet in stream.encode(None):
            out.mux(packet)
    return frames / (time.perf_counter() - started)


def render(source: str, output: str, workdir: Path, workers: int | None) -> tuple[float, str]:
    """The whole keying job in-process; returns (frames per second, execution provider)."""
    connect_ray()
    pool = RenderPool(pool_shape(workers))
    pool.actors[0].ping.remote()
    engine = make_engine(f"sqlite:///{workdir / 'bench.sqlite'}")
    with session_factory(engine)() as session:
        options = RenderOptions(background=media("backgrounds/skimage_rocket_launch.jpg"), workers=workers)
        job = create_job(session, source, output, options)
        started = time.perf_counter()
        run_job(session, job, Storage(str(workdir / "storage")), lambda: pool)
        seconds = time.perf_counter() - started
    pool.shutdown()
    return job.frames_total / seconds, job.provider or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        frames = round(args.seconds * 30)
        spec = ClipSpec("bench_1080p", width=1920, height=1080, frames=frames, x264="keyint=250:bframes=3")
        source = make_clip(spec, str(work / "source.mp4"))
        ceiling = transcode(source, str(work / "transcode.mp4"))
        fps, provider = render(source, str(work / "render.mp4"), work, args.workers)
    table = Table(title=f"1080p, {frames} frames, libx264 veryfast crf 18")
    table.add_column("run")
    table.add_column("fps", justify="right")
    table.add_column("ratio to transcode", justify="right")
    table.add_row("transcode only (decode + encode)", f"{ceiling:.1f}", "1.00")
    table.add_row(f"mattefarm render ({provider})", f"{fps:.1f}", f"{fps / ceiling:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
