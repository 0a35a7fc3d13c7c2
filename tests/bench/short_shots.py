"""Short shots: a whole ``mattefarm render`` process against the plain transcode, 10 s and 60 s 1080p.

A studio's batch of short shots pays a job's fixed cost (imports, starting
workers, probing, analysing, splitting, assembling) once per shot, so the
figure that matters is the whole CLI process, not the render stage alone.
For each shot, interleaved over ``--rounds`` rounds, this runs:

- the transcode ceiling (:func:`tests.bench.speed.transcode`: decode + libx264
  crf 18 veryfast, the render's default output settings), in this process;
- ``mattefarm render SRC --background PLATE -o OUT`` as a subprocess, timed
  from its start to its exit. Its stage lines (standard output, one per stage
  when not a terminal) are time-stamped as they arrive, so the render stage's
  own figure (from "starting the render actors" or "rendering in-process" to
  "assembling") and the time before the first chunk are reported separately.

Sources are generated once and cached in the work directory (``make_long_source``:
synthetic green screen, H.264 GOP 250 + AAC, as the speed section's clip).

Run: ``python -m tests.bench.short_shots [--work DIR] [--rounds N] [--shots 10 60]``. To compare
with another version in the same rounds, export it (``git archive COMMIT | tar -x -C DIR``, or a
copy of the working tree with some files taken from a commit) and pass ``--baseline-tree DIR``:
its rows are labelled ``baseline:`` and it alternates with this tree in running first. The summary
takes each method's fastest run and its ratio to the fastest transcode; the rows above it give
each run's ratio to its own round's transcode.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tests.bench.speed import transcode
from tests.bench.synth import make_long_source

PLATE = "backgrounds/skimage_rocket_launch.jpg"
RENDER_STAGES = ("starting the render actors", "rendering in-process")


def shared_media(name: str) -> str:
    """A file of ``shared/media`` (``MATTEFARM_SHARED``, default ``../shared``)."""
    return str((Path(os.environ.get("MATTEFARM_SHARED", "../shared")) / "media" / name).resolve())


@dataclass
class JobTiming:
    """One ``mattefarm render`` process.

    Attributes:
        frames: frames in the shot. seconds: wall time of the whole process.
        stages: ``(seconds since start, stage line)`` in the order they came.
    """

    frames: int
    seconds: float
    stages: list[tuple[float, str]] = field(default_factory=list)

    def at(self, *names: str) -> float | None:
        """When the first stage line starting with one of ``names`` came (seconds since start)."""
        return next((t for t, line in self.stages if line.startswith(names)), None)

    @property
    def render_seconds(self) -> float:
        """The render stage's wall time: from the render stage line to ``assembling``."""
        start, end = self.at(*RENDER_STAGES), self.at("assembling")
        if start is None or end is None:
            return float("nan")
        return end - start

    @property
    def first_line_s(self) -> float:
        """Seconds from the process's start to its first stage line (imports, database, job row)."""
        return self.stages[0][0] if self.stages else float("nan")


REPO = Path(__file__).resolve().parents[2]


def run_cli(source: Path, output: Path, workdir: Path, frames: int, extra: list[str] | None = None,
            tree: Path = REPO) -> JobTiming:
    """Run ``mattefarm render`` (``python -m api.cli`` of the source tree ``tree``) on ``source`` as
    a subprocess; time it and its stage lines.

    Raises:
        RuntimeError: the command exited non-zero (its standard error is in the message).
    """
    db = workdir / "bench.sqlite"
    env = {**os.environ, "MATTEFARM_STORAGE_ROOT": str(workdir / "storage"), "MATTEFARM_HOME": str(workdir / "home")}
    command = [sys.executable, "-m", "api.cli", "render", str(source), "--background",
               shared_media(PLATE), "-o", str(output), "--force", "--db", f"sqlite:///{db}", *(extra or [])]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tree)
    timing = JobTiming(frames, 0.0)
    assert process.stdout is not None and process.stderr is not None
    for line in process.stdout:
        line = line.strip()
        if line.endswith("..."):
            timing.stages.append((time.perf_counter() - started, line.removesuffix("...").strip()))
    err = process.stderr.read()
    code = process.wait()
    timing.seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"mattefarm render exited {code}: {err[-2000:]}")
    return timing


@dataclass(frozen=True)
class Row:
    """One measurement: shot, round, method, seconds and frames; ratios vs the round's transcode."""

    shot: str
    round: int
    method: str
    frames: int
    seconds: float
    ceiling_fps: float
    note: str = ""

    @property
    def fps(self) -> float:
        """Frames per wall second."""
        return self.frames / self.seconds if self.seconds else float("nan")

    @property
    def ratio(self) -> float:
        """fps over the same round's transcode fps."""
        return self.fps / self.ceiling_fps


def _stage_note(timing: JobTiming) -> str:
    """Where the whole job's time went: before the first line, before rendering, render, after."""
    render_at = timing.at(*RENDER_STAGES)
    assemble_at = timing.at("assembling")
    if render_at is None or assemble_at is None:
        return ""
    return (f"start {timing.first_line_s:.1f} s, ingest {render_at - timing.first_line_s:.1f} s, "
            f"render {assemble_at - render_at:.1f} s, assemble+exit {timing.seconds - assemble_at:.1f} s")


def measure(work: Path, rounds: int, shots: list[int], extra: list[str], trees: dict[str, Path]) -> list[Row]:
    """Interleave transcode and the CLI job of each source tree in ``trees`` (label -> tree) per
    shot over ``rounds`` rounds; return every row."""
    clips = work / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    sources = {s: make_long_source(clips / f"short_1080p_{s}s.mp4", seconds=float(s), keyint=250) for s in shots}
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    console = Console()
    for round_ in range(1, rounds + 1):
        for seconds, source in sources.items():
            shot = f"{seconds} s"
            ceiling = transcode(source, out / "transcode.mp4")
            rows.append(Row(shot, round_, "transcode", ceiling.frames, ceiling.seconds, ceiling.fps))
            order = list(trees.items())
            for label, tree in order if round_ % 2 else order[::-1]:  # who runs first alternates
                jobdir = out / "job"
                shutil.rmtree(jobdir, ignore_errors=True)
                jobdir.mkdir()
                timing = run_cli(source, out / "mattefarm.mp4", jobdir, ceiling.frames, extra, tree)
                rows.append(Row(shot, round_, f"{label}whole CLI job", ceiling.frames, timing.seconds, ceiling.fps,
                                _stage_note(timing)))
                rows.append(Row(shot, round_, f"{label}render stage", ceiling.frames, timing.render_seconds, ceiling.fps,
                                "stage line to 'assembling'"))
                console.print(f"round {round_}, {shot}, {label or 'this tree'}: transcode {ceiling.fps:.1f} fps, whole job "
                              f"{rows[-2].fps:.1f} fps ({rows[-2].ratio:.2f}x), render stage {rows[-1].fps:.1f} fps "
                              f"({rows[-1].ratio:.2f}x); {_stage_note(timing)}", soft_wrap=True)
    return rows


def report(rows: list[Row], title: str) -> Table:
    """Every row (ratio to the same round's transcode), then each shot's and method's fastest run with its ratio to the shot's fastest
    transcode (the least disturbed run of each, when others share the machine)."""
    table = Table(title=title)
    for column in ("shot", "run", "method", "seconds", "fps", "vs transcode", "note"):
        table.add_column(column, justify="right" if column in ("seconds", "fps", "vs transcode") else "left")
    for row in rows:
        table.add_row(row.shot, str(row.round), row.method, f"{row.seconds:.2f}", f"{row.fps:.1f}", f"{row.ratio:.2f}x",
                      row.note)
    best: dict[tuple[str, str], Row] = {}
    for row in rows:
        key = (row.shot, row.method)
        if key not in best or row.seconds < best[key].seconds:
            best[key] = row
    table.add_section()
    for (shot, method), row in best.items():
        ceiling = best[(shot, "transcode")].fps
        table.add_row(shot, f"best (round {row.round})", method, f"{row.seconds:.2f}", f"{row.fps:.1f}",
                      f"{row.fps / ceiling:.2f}x", row.note)
    return table


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "mattefarm-bench")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--shots", type=int, nargs="+", default=[10, 60], help="shot lengths, seconds")
    parser.add_argument("--label", default="", help="a word for the table's title (before, after)")
    parser.add_argument("--baseline-tree", type=Path, metavar="DIR",
                        help="also run the CLI of another source tree (e.g. the commit before, from git archive) "
                             "in the same rounds, its rows labelled 'baseline:'")
    parser.add_argument("cli_args", nargs="*", help="extra 'mattefarm render' arguments (after --)")
    args = parser.parse_args(argv)
    trees = {"": REPO} if args.baseline_tree is None else {"baseline: ": args.baseline_tree.resolve(), "": REPO}
    rows = measure(args.work, args.rounds, args.shots, args.cli_args, trees)
    Console(width=200).print(report(rows, f"Short shots, 1080p25, libx264 crf 18 veryfast, {os.cpu_count()} cores {args.label}"))


if __name__ == "__main__":
    main()
