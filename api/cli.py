"""The ``mattefarm`` command line.

``mattefarm render INPUT -o OUTPUT --background PLATE ...`` keys a shot in
chunks on Ray actors and writes the composite; ``mattefarm probe INPUT``
prints the probe and the chunk plan. Service mode: ``serve``, ``worker``,
``submit``, ``status``, ``cancel`` (:mod:`api.service_cli`). Errors end with one line naming the
problem and what to do, and a non-zero exit.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from rich.console import Console

from api.face_args import add_face_args, face_options
from api.keyer_args import add_keyer_arg, add_preview_first_arg, keyer_controls_help, keyer_overrides
from api.matte_args import add_matte_args, add_matte_source_args, matte_options, matte_source_options
from api.sequence_args import add_sequence_args, sequence_options
from api.service_cli import SERVICE_COMMANDS, add_ray_address, add_service_commands
from models.choices import (
    FRAME_FIELD,
    MATTE_SOURCES,
    OUTPUT_CODECS,
    PROVIDER_CHOICES,
    SCREEN_HELP,
    X264_PRESETS,
    default_codec,
    is_sequence_name,
    parse_frame_rate,
)
from models.errors import InputError, MattefarmError
from workers.paths import check_source_path

if TYPE_CHECKING:
    from rich.table import Table

    from jobs.options import RenderOptions
    from jobs.settings import Settings
    from jobs.tables import Job
    from models.screen import ScreenAnalysis
    from workers.probe import MediaProbe
    from workers.runner import LocalRunner

# Commands import what they use when they run (Ray, onnxruntime, PyAV, SQLAlchemy), so
# '--help', a bad option or a missing file answer at once.
console = Console(stderr=True)
LINE_EVERY_S = 5.0
"""Seconds between progress lines when the output is not a terminal."""


def _chunk_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--chunk-frames", type=int, metavar="N", help="frames per chunk")
    group.add_argument("--chunk-seconds", type=float, metavar="S", help="seconds per chunk (default 10)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mattefarm``."""
    parser = argparse.ArgumentParser(
        prog="mattefarm", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Offline video post-production in chunks, frame-accurate: green/blue-screen keying (matte, "
                    "despill, composite over a plate) and face replacement (an actor's face swapped for a source "
                    "identity), on one machine or a render farm.",
        epilog="examples:\n"
               "  mattefarm render shot.mp4 -o out.mp4 --background plate.jpg --matte-out matte.mp4\n"
               "  mattefarm render shot.mp4 -o out.mp4 --no-key --face actor.jpg   # face replacement only\n"
               "  mattefarm submit shot_*.mp4 --background plate.jpg --wait        # to a farm (MATTEFARM_SERVER)\n"
               "  mattefarm COMMAND --help                                          # a command's options")
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="key a shot over a plate and/or replace faces, on this machine",
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=keyer_controls_help())
    render.add_argument("input", help="source video or image sequence (shot.%%04d.exr) (green/blue screen)")
    render.add_argument("-o", "--output", required=True,
                        help="output file (.mp4 for h264, .mov for prores4444, .mkv for ffv1) or image sequence "
                             "(out.%%04d.exr for exr, .dpx, .png, .tif)")
    render.add_argument("--background", metavar="PLATE", help="background plate: image or video")
    render.add_argument("--matte-out", metavar="PATH", help="also write the matte as a separate video")
    render.add_argument("--codec", choices=OUTPUT_CODECS,
                        help="output codec (default: the output's image format for a sequence, else h264)")
    render.add_argument("--crf", type=int, default=18, help="h264 quality, 0-51 (default 18)")
    render.add_argument("--preset", choices=X264_PRESETS, default="veryfast", metavar="PRESET",
                        help=f"x264 preset: {', '.join(X264_PRESETS)} (default veryfast)")
    _chunk_args(render)
    render.add_argument("--workers", type=int, metavar="N", help="render actors on CPU (default: one per two cores)")
    render.add_argument("--runner", choices=("auto", "local", "ray"), default="auto",
                        help="where chunks render: 'local' in this process, 'ray' on Ray actors; 'auto' renders "
                             "in-process when this machine holds one actor or the job has one chunk, and no "
                             "--ray-address is given (default auto)")
    render.add_argument("--screen", default="auto", help=f"screen colour: {SCREEN_HELP} (default auto)")
    render.add_argument("--providers", choices=PROVIDER_CHOICES, default="auto", help="onnxruntime execution provider")
    add_keyer_arg(render)
    render.add_argument("--force", action="store_true", help="overwrite an existing output (refused otherwise)")
    add_preview_first_arg(render)
    render.add_argument("--db", metavar="URL", help="database URL (default: SQLite in ~/.mattefarm, or MATTEFARM_DATABASE_URL)")
    add_ray_address(render)
    add_face_args(render)
    add_matte_args(render)
    add_sequence_args(render)
    add_matte_source_args(render)
    probe = sub.add_parser("probe", help="print a video's (or image sequence's) probe and chunk plan")
    probe.add_argument("input")
    probe.add_argument("--frame-rate", metavar="FPS", help="an image sequence's frames per second (default 24)")
    _chunk_args(probe)
    probe.add_argument("--matte", choices=MATTE_SOURCES, default="screen",
                       help="the job's matte source, whose pre-roll the chunk plan shows (as render's --matte)")
    add_keyer_arg(probe)
    sheet = sub.add_parser("sheet", help="write a contact sheet (source | matte | result) as PNG")
    sheet.add_argument("source")
    sheet.add_argument("matte")
    sheet.add_argument("result")
    sheet.add_argument("-o", "--output", required=True, help="PNG file")
    sheet.add_argument("--rows", type=int, default=4)
    add_service_commands(sub, _chunk_args)
    return parser


def cmd_sheet(args: argparse.Namespace) -> int:
    """``mattefarm sheet``: a contact sheet to look at a render."""
    from workers.contact_sheet import contact_sheet, write_png

    write_png(args.output, contact_sheet([args.source, args.matte, args.result], args.rows))
    console.print(f"wrote {args.output}")
    return 0


def _options(args: argparse.Namespace) -> RenderOptions:
    from jobs.options import RenderOptions

    options = RenderOptions(
        background=args.background, matte_out=args.matte_out, codec=args.codec or default_codec(args.output),
        crf=args.crf, preset=args.preset,
        chunk_frames=args.chunk_frames, chunk_seconds=args.chunk_seconds, workers=args.workers,
        screen=args.screen, providers=args.providers, keyer=keyer_overrides(args.keyer),
        preview_first=args.preview_first, **face_options(args), **sequence_options(args), **matte_options(args),
        **matte_source_options(args),
    )
    options.check_output(args.output)
    for path in filter(None, (args.output, args.matte_out)):
        if _output_exists(path) and not args.force:
            raise InputError(f"{path} exists", "pass --force to overwrite it, or another output path")
    return options


def _output_exists(path: str) -> bool:
    """Whether ``path`` exists; for an image sequence, whether any file of it does."""
    name = Path(path).name
    field = FRAME_FIELD.search(name) if is_sequence_name(path) else None
    if field is None:
        return Path(path).exists()
    return any(Path(path).parent.glob(f"{name[: field.start()]}[0-9]*{name[field.end():]}"))


def _summary(job: Job, seconds: float) -> Table:
    """The table printed after a render: output, frames, chunks, time, provider, screen, faces."""
    from rich.table import Table

    from jobs.job_plan import FacePlan

    plan = job.plan or {}
    table = Table(title=f"job {job.id}", show_header=False)
    fps = job.frames_done / seconds if seconds else 0.0
    for name, value in [
        ("output", job.output_uri), ("frames", str(job.frames_done)), ("chunks", str(len(job.chunks))),
        ("seconds", f"{seconds:.1f}"), ("fps", f"{fps:.1f}"), ("execution provider", job.provider or "-"),
        ("screen colour", plan["screen"]["screen_colour"] if plan.get("screen") else _no_screen(job)),
    ]:
        table.add_row(name, value)
    faces = FacePlan.of(job)
    if faces is not None and faces.stats:
        stats = faces.stats
        table.add_row("faces", f"{stats['targets']} target(s) of {stats['tracks']} track(s), swapped in "
                               f"{stats['target_frames']} frame(s); jitter {stats['jitter_raw_px']:.2f} px raw, "
                               f"{stats['jitter_solved_px']:.2f} px solved")
        table.add_row("face analysis", "reused" if faces.analysis_reused else f"{faces.analysis_s or 0.0:.1f} s")
    return table


def _no_screen(job: Job) -> str:
    """The summary's screen row for a job with no screen analysis: its matter, or no key."""
    matte = (job.options or {}).get("matte", "screen")
    return "- (no key)" if matte == "screen" else f"- (no screen: --matte {matte})"


def cmd_render(args: argparse.Namespace) -> int:
    """``mattefarm render``: run a keying job to the end in this process."""
    check_source_path(args.input)  # before anything heavy: a missing file answers at once
    options = _options(args)
    from jobs.settings import Settings

    settings = Settings(**({"database_url": args.db} if args.db else {}),
                        **({"ray_address": args.ray_address} if args.ray_address is not None else {}))
    ahead = _Ahead(args, options, settings)  # probe, analysis and keyer while the rest imports
    try:
        return _render(args, options, settings, ahead)
    finally:
        ahead.close()


def _render(args: argparse.Namespace, options: RenderOptions, settings: Settings, ahead: _Ahead) -> int:
    """The body of :func:`cmd_render` once the work ahead is under way."""
    from jobs.db import make_engine, session_factory
    from jobs.leases import LeaseKeeper, WorkerId
    from jobs.pipeline import run_job
    from jobs.resume import open_cli_job
    from jobs.tables import State
    from workers.runner import ChunkRunner, choose_runner
    from workers.storage import Storage

    storage = Storage(settings.resolved_storage_root())
    engine = make_engine(settings.resolved_database_url())
    sessions = session_factory(engine)
    owner = str(WorkerId.this_process("cli"))
    with sessions() as session:
        job, reused = open_cli_job(session, args.input, args.output, options, owner, settings.lease_s, storage)
        if reused:
            console.print(f"resuming job {job.id}: {reused} of {len(job.chunks)} chunks were rendered before it stopped",
                          soft_wrap=True)
        started = time.monotonic()

        with _progress_display() as (progress, on_stage), LeaseKeeper(sessions, job.id, job.run, owner,
                                                                       settings.lease_s / 4):
            def make_pool() -> ChunkRunner:
                todo = sum(1 for c in job.chunks if c.state != State.DONE)
                if choose_runner(args.runner, settings.ray_address, options.workers, todo) == "local":
                    return ahead.local_runner()
                on_stage("starting Ray")
                from workers.pool import RenderPool, connect_ray, pool_shape

                connect_ray(settings.ray_address or None, namespace=settings.ray_namespace)
                return RenderPool(pool_shape(options.workers), settings.max_attempts)

            run_job(session, job, storage, make_pool, progress, settings.keep_intermediates, on_stage, ahead.ingest)
        console.print(_summary(job, time.monotonic() - started))
    return 0


def _import_quietly(module: str) -> None:
    """Import ``module`` (in a background thread); a failure is left to the import where it is used."""
    import importlib

    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - imported again where it is used, and fails there
        logging.getLogger(__name__).debug("importing %s ahead failed", module, exc_info=True)


class _Ahead:
    """A render's first steps, begun in a background thread before the job's row exists
    (:mod:`jobs.ahead`): the probe and the screen analysis, then, when the job will render
    in this process, the in-process runner with its keyer built (onnx, onnxruntime and
    numba imported, the fused loops compiled) while the job is split."""

    def __init__(self, args: argparse.Namespace, options: RenderOptions, settings: Settings) -> None:
        from jobs.ahead import IngestAhead

        self.args, self.options, self.settings = args, options, settings
        self._runner: LocalRunner | None = None
        self._made = threading.Event()
        self._imports: threading.Thread | None = None
        if args.runner != "ray" and not settings.ray_address:  # the renderer's libraries load beside the analysis
            self._imports = threading.Thread(target=_import_quietly, args=("workers.render",), name="import-renderer",
                                             daemon=True)
            self._imports.start()
        self.ingest = IngestAhead(args.input, options, self._prepare)

    def _prepare(self, probe: MediaProbe, screen: ScreenAnalysis | None) -> None:
        """In the background thread: make the in-process runner and build the job's keyer in it."""
        try:
            from jobs.plan import chunk_length
            from workers.runner import LocalRunner, choose_runner

            chunks = -(-probe.frame_count // chunk_length(probe, self.options.chunk_frames, self.options.chunk_seconds))
            if choose_runner(self.args.runner, self.settings.ray_address, self.options.workers, chunks) != "local":
                return
            if self._imports is not None:
                self._imports.join()
            runner = self._runner = LocalRunner(max_attempts=self.settings.max_attempts)
        finally:
            self._made.set()
        if screen is not None and self.options.face is None and runner.renderer is not None:
            from jobs.chunk_specs import keyer_spec

            runner.renderer.keyer_for(keyer_spec(probe, screen, self.options))

    def close(self) -> None:
        """Wait for the background threads (a render that failed early must not exit inside their imports)."""
        self.ingest.close()
        if self._imports is not None:
            self._imports.join(60.0)

    def local_runner(self) -> LocalRunner:
        """The in-process runner made ahead (its keyer may still be building: the render waits
        for it), else a new one."""
        from workers.runner import LocalRunner

        self._made.wait()
        return self._runner or LocalRunner(max_attempts=self.settings.max_attempts)


@contextmanager
def _progress_display() -> Iterator[tuple[Callable[[int, int], None], Callable[[str], None]]]:
    """``(progress, on_stage)`` callbacks of a render: a live bar on a terminal (its label the stage
    now: probing, splitting, rendering, assembling), else one line per stage and a progress
    line every :data:`LINE_EVERY_S` seconds on standard output (for logs and CI; standard
    error keeps only errors and the summary)."""
    started = time.monotonic()
    if not console.is_terminal:
        out = Console(soft_wrap=True, highlight=False)
        last = [0.0, -1.0]  # time and frame count of the last line

        def line(done: int, total: int) -> None:
            now = time.monotonic()
            if done != last[1] and (now - last[0] >= LINE_EVERY_S or done == total):
                last[0], last[1] = now, done
                fps = done / (now - started) if now > started else 0.0
                eta = f", ETA {(total - done) / fps:.0f} s" if fps and total else ""
                out.print(f"rendering: {done}/{total} frames ({100 * done // max(total, 1)} %), {fps:.1f} fps{eta}")

        yield line, lambda stage: out.print(f"{stage} ...")
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[fps]} fps"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("starting", total=None, fps="-")

        def progress(done: int, total: int) -> None:
            elapsed = time.monotonic() - started
            bar.update(task, description="rendering", completed=done, total=total,
                       fps=f"{done / elapsed:.1f}" if elapsed else "-")

        yield progress, lambda stage: bar.update(task, description=stage)


def cmd_probe(args: argparse.Namespace) -> int:
    """``mattefarm probe``: print streams, timing, keyframes and the chunk plan."""
    from rich.table import Table

    from jobs.plan import chunk_length, plan_chunks
    from models.keyer_params import KeyerParams
    from workers.colour import colour_tag_names
    from workers.source import probe_source

    probe = probe_source(args.input, parse_frame_rate(args.frame_rate) if args.frame_rate else None)
    v = probe.video
    table = Table(title=Path(args.input).name, show_header=False)
    rows = [
        ("container", probe.format_name), ("video", f"{v.codec} {v.width}x{v.height} {v.pix_fmt}"),
        ("frame rate", f"{v.frame_rate} ({float(probe.fps):.3f} fps){' VFR' if v.variable_frame_rate else ''}"),
        ("time base", v.time_base), ("frames", str(probe.frame_count)), ("duration", f"{probe.duration_s:.3f} s"),
        ("keyframes", f"{len(probe.keyframes)}: {list(probe.keyframes[:12])}{' ...' if len(probe.keyframes) > 12 else ''}"),
        ("rotation", f"{v.rotation} deg"),
        ("colour", colour_tag_names(v.color_primaries, v.color_trc, v.colorspace, v.color_range)),
    ]
    if probe.sequence is not None:
        last = probe.sequence.first + probe.frame_count - 1
        rows += [("files", f"{probe.sequence.pattern} ({probe.sequence.first}-{last})"),
                 ("colour space", f"{probe.sequence.colourspace} (read as Rec.709 video)")]
    rows += [(f"audio #{a.index}", f"{a.codec} {a.sample_rate} Hz {a.channels} ch {a.duration_s:.3f} s") for a in probe.audio]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    from models.matters import chunk_preroll

    preroll = chunk_preroll(args.matte, KeyerParams.from_overrides(keyer_overrides(args.keyer)))
    plans = plan_chunks(probe, chunk_length(probe, args.chunk_frames, args.chunk_seconds), preroll)
    chunks = Table("chunk", "frames", "pre-roll from", "packets (decode order)")
    for p in plans:
        chunks.add_row(str(p.index), f"{p.frame_start}-{p.frame_end - 1}", str(p.preroll_start), f"{p.packet_start}-{p.packet_end - 1}")
    console.print(chunks)
    return 0


def _error(message: object) -> None:
    """One line on stderr, never wrapped."""
    console.print(f"[red]error:[/red] {message}", soft_wrap=True, markup=True, highlight=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mattefarm`` console script; returns the exit status."""
    logging.basicConfig(level=os.environ.get("MATTEFARM_LOG_LEVEL", "WARNING"))
    args = build_parser().parse_args(argv)
    commands = {"render": cmd_render, "probe": cmd_probe, "sheet": cmd_sheet}
    try:
        if args.command in SERVICE_COMMANDS:
            return SERVICE_COMMANDS[args.command](args, console)
        return commands[args.command](args)
    except MattefarmError as error:
        _error(error)
        return error.exit_code
    except ValidationError as error:
        from jobs.options import option_errors

        for where, message in option_errors(error, "cli"):
            _error(f"{where}: {message}" if where else message)
        return 2
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
