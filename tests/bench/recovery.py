"""Recovery with the default settings, tried as an operator would, printed as a table.

A 720p shot renders in service mode (API, one worker, this machine's Redis); mid-render the
worker's whole process group is killed with SIGKILL and a new worker is started. The table
gives the seconds from the kill to the job's end, the frames that differ from an unfaulted
render of the same job (and the audio frames), with lease 60 s, sweep 15 s, ring-after 30 s.
A second row: a job submitted while no worker runs, its broker queue flushed, then a worker.

    .venv/bin/python -m tests.bench.recovery [--work DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import redis
from rich.console import Console
from rich.table import Table

from tests.api.test_faults import TERMINAL, _output
from tests.api.test_service import Service, _wait_for, submit
from tests.clips import ClipSpec, make_clip

BROKER_URL = "redis://127.0.0.1:6379/8"
RENDER = {"chunk_frames": 60, "screen": "green"}


def _service(work: Path, name: str) -> Service:
    return Service(work / name, f"sqlite:///{work / name}.db", MATTEFARM_BROKER_URL=BROKER_URL,
                   MATTEFARM_SOURCE_ROOTS=str(work))


def _reference(work: Path, clip: str) -> tuple[list[str], int]:
    with _service(work, "reference") as service:
        job = submit(service.url, None, {"source_uri": clip, "render": RENDER})
        _wait_for(service, job["id"], lambda j: j["state"] in TERMINAL, timeout_s=900)
        return _output(service, job["id"], work / "reference.mp4")


def _worker_kill(work: Path, clip: str) -> tuple[float, tuple[list[str], int]]:
    with _service(work, "kill") as service:
        job = submit(service.url, None, {"source_uri": clip, "render": RENDER})
        _wait_for(service, job["id"], lambda j: any(c["state"] == "done" for c in j["chunks"]), timeout_s=900)
        service.kill("worker")
        killed = time.monotonic()
        service.start("worker")
        _wait_for(service, job["id"], lambda j: j["state"] in TERMINAL, timeout_s=900)
        return time.monotonic() - killed, _output(service, job["id"], work / "killed.mp4")


def _broker_flush(work: Path, clip: str) -> tuple[float, tuple[list[str], int]]:
    with _service(work, "flush") as service:
        service.kill("worker")
        job = submit(service.url, None, {"source_uri": clip, "render": RENDER})
        redis.Redis.from_url(BROKER_URL).flushdb()
        flushed = time.monotonic()
        service.start("worker")
        _wait_for(service, job["id"], lambda j: j["state"] in TERMINAL, timeout_s=900)
        return time.monotonic() - flushed, _output(service, job["id"], work / "flushed.mp4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mattefarm-recovery-"))
    work.mkdir(parents=True, exist_ok=True)
    redis.Redis.from_url(BROKER_URL).flushdb()
    clip = make_clip(ClipSpec("recovery", width=1280, height=720, frames=480, x264="keyint=60"),
                     str(work / "farm_clip.mp4"))
    reference = _reference(work, clip)
    table = Table("fault (default settings)", "seconds to done", "frames differing", "audio frames", "matches")
    for name, run in (("kill -9 of the worker's process group mid-render, new worker", _worker_kill),
                      ("broker queue flushed while the job waits, then a worker", _broker_flush)):
        seconds, (frames, audio) = run(work, clip)
        differing = sum(a != b for a, b in zip(frames, reference[0])) + abs(len(frames) - len(reference[0]))
        table.add_row(name, f"{seconds:.1f}", str(differing), f"{audio} (ref {reference[1]})",
                      "yes" if (frames, audio) == reference else "NO")
    Console().print(table)


if __name__ == "__main__":
    main()
