"""Run a whole Mattefarm keying job in-process on a warm Ray pool (for the benchmarks)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from jobs.db import make_engine, session_factory
from jobs.options import RenderOptions
from jobs.pipeline import create_job, run_job
from workers.pool import RenderPool
from workers.storage import Storage


@dataclass(frozen=True)
class JobRun:
    """What one job took.

    Attributes:
        frames: frames delivered. seconds: wall time of the whole job (probe to verified output).
        provider: execution provider that ran the keyer. chunks: number of chunks.
        faces: the plan's face entry (solve stats, analysis seconds), None for keying only.
    """

    frames: int
    seconds: float
    provider: str
    chunks: int
    faces: dict | None = None


def run_keying_job(source: Path, output: Path, workdir: Path, pool: RenderPool, **options: object) -> JobRun:
    """Probe, analyse, split, render on ``pool``, assemble and verify, like ``mattefarm render``.

    Args:
        source: input video. output: the output file. workdir: database and storage go here.
        pool: a started render pool. options: :class:`jobs.options.RenderOptions` fields.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{workdir / 'bench.sqlite'}")
    with session_factory(engine)() as session:
        job = create_job(session, str(source), str(output), RenderOptions(**options))  # type: ignore[arg-type]
        started = time.perf_counter()
        run_job(session, job, Storage(str(workdir / "storage")), lambda: pool)
        seconds = time.perf_counter() - started
        result = JobRun(job.frames_total, seconds, job.provider or "-", len(job.chunks), job.plan.get("faces"))
    engine.dispose()
    return result


def rgb_frames(path: Path, gray: bool = False) -> Iterator[np.ndarray]:
    """Frames of a file in order: ``(H, W, 3)`` uint8 RGB (BT.709) or ``(H, W)`` float32 alpha in [0, 1]."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if gray:
                yield frame.to_ndarray(format="gray").astype(np.float32) / 255.0
            else:
                yield frame.reformat(format="rgb24", src_colorspace=1, dst_colorspace=1).to_ndarray()
