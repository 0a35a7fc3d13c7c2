"""Scaling: serial stage costs on a long source, 1 vs 2 actors, a job-time model, memory vs length.

The model (Amdahl with chunk granularity): a job of ``F`` frames cut into
``C`` chunks of ``F/C`` frames plus ``P`` pre-roll frames each, rendered by
``N`` workers at ``r`` frames/s each, takes

    T(N) = T_probe + T_analysis + T_split + T_assemble + ceil(C / N) * (F/C + P) / r

The serial terms are measured on the long source; ``r`` is the measured
per-actor render rate (CPU here; a GPU's rate can be put in instead).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import ray

from jobs.analysis import analyse_screen
from jobs.assemble import assemble_job
from jobs.db import make_engine, session_factory
from jobs.events import ChunkRecorder
from jobs.ingest import ingest_job
from jobs.options import RenderOptions
from jobs.pipeline import cleanup_job, create_job
from jobs.render import render_job
from workers.pool import RenderPool
from workers.probe import probe_video
from workers.storage import Storage


@dataclass(frozen=True)
class StageTimes:
    """Wall seconds of each stage of one job, its frames and chunks, and peak RSS (MiB).

    ``actor_seconds``: the chunks' own render times summed, as the actors measured them
    (the render stage's wall time minus this, for one actor, is the dispatch overhead).
    """

    frames: int
    chunks: int
    preroll: int
    probe: float
    analysis: float
    split: float
    render: float
    assemble: float
    actor_seconds: float
    peak_rss_mib: float

    @property
    def serial(self) -> float:
        """Seconds that do not shrink with more workers."""
        return self.probe + self.analysis + self.split + self.assemble


def _rss_kib(pid: int) -> int:
    """Resident set size of a process (``VmRSS`` from ``/proc``), KiB; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakRss:
    """Samples the summed RSS of some processes every 0.2 s in a thread; ``peak`` in MiB."""

    def __init__(self, pids: list[int]) -> None:
        self.pids, self.peak, self._stop = pids, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, sum(_rss_kib(p) for p in self.pids) / 1024)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed_job(source: Path, plate: str, workdir: Path, pool: RenderPool, **options: object) -> StageTimes:
    """Run a keying job stage by stage, timing each, sampling driver + actor RSS throughout."""
    import os

    workdir.mkdir(parents=True, exist_ok=True)
    pids = [os.getpid()] + [ray.get(a.pid.remote()) for a in pool.actors]
    t0 = time.perf_counter()
    probe = probe_video(str(source))
    t1 = time.perf_counter()
    analyse_screen(probe)
    t2 = time.perf_counter()
    engine = make_engine(f"sqlite:///{workdir / 'scaling.sqlite'}")
    storage = Storage(str(workdir / "storage"))
    with session_factory(engine)() as session, PeakRss(pids) as rss:
        job = create_job(session, str(source), str(workdir / "out.mp4"),
                         RenderOptions(background=plate, **options))  # type: ignore[arg-type]
        t3 = time.perf_counter()
        ingest_job(session, job, storage)  # probes and analyses again, then plans and splits
        t4 = time.perf_counter()
        render_job(ChunkRecorder(session, job), storage, pool)
        t5 = time.perf_counter()
        assemble_job(session, job, storage)
        t6 = time.perf_counter()
        cleanup_job(job, storage)
        preroll = job.chunks[1].frame_start - job.chunks[1].preroll_start if len(job.chunks) > 1 else 0
        actor_seconds = sum(c.seconds or 0.0 for c in job.chunks)
        times = StageTimes(job.frames_total, len(job.chunks), preroll, t1 - t0, t2 - t1,
                           max(0.0, (t4 - t3) - (t2 - t0)), t5 - t4, t6 - t5, actor_seconds, 0.0)
    engine.dispose()
    return StageTimes(**{**times.__dict__, "peak_rss_mib": rss.peak})


def predict(times: StageTimes, workers: int, fps_per_worker: float) -> float:
    """Job seconds for ``workers`` workers rendering at ``fps_per_worker`` (the model above)."""
    chunk_frames = times.frames / times.chunks
    waves = math.ceil(times.chunks / workers)
    return times.serial + waves * (chunk_frames + times.preroll) / fps_per_worker


def actor_fps(times: StageTimes) -> float:
    """Per-actor render rate seen in a one-actor job, pre-roll frames included."""
    return (times.frames + times.preroll * (times.chunks - 1)) / times.render
