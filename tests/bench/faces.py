"""The face replacement benchmark: every GRID clip keyed and swap-only, contact sheets, jitter, 720p speed.

Run: ``.venv/bin/python -m tests.bench.faces [--work DIR]``. For each GRID clip
(blue backdrop) it renders a keyed swap over the rocket plate and a
``--no-key`` swap with a still from ``faces/`` as the source, writes a contact
sheet (source | keyed swap | swap only, three frames) and prints a table of
analysis fps, job fps and landmark jitter (mean second difference, pixels) of
the raw and the solved tracks. Then on a 720p version of one clip: analysis
fps, and job fps of keying alone, of keying with a swap (analysis reused) and
of a swap alone, all in this run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import cv2
import numpy as np
import ray
from rich.console import Console
from rich.table import Table

from tests.bench.jobrun import JobRun, run_keying_job
from tests.clips import write_h264
from tests.conftest import MEDIA, media
from workers.contact_sheet import frames_at, write_png
from workers.pool import RenderPool, connect_ray, pool_shape

PLATE = "backgrounds/skimage_rocket_launch.jpg"
STILLS = ("faces/wh_obama_official_portrait.jpg", "faces/skimage_astronaut_eileen_collins.png",
          "faces/wh_obama_joint_session.jpg")
console = Console(width=150)


def clip_sheet(paths: list[Path], picks: list[int], out: Path) -> Path:
    """``source | keyed | swap only`` for each picked frame, one row per frame."""
    columns = [frames_at(str(p), picks) for p in paths]
    rows = [np.hstack([c[k] for c in columns]) for k in range(len(picks))]
    write_png(str(out), np.vstack(rows))
    return out


def grid_section(work: Path, pool: RenderPool) -> list[Path]:
    """All GRID clips, keyed and swap-only; returns the contact sheets."""
    table = Table(title="GRID clips, 360x288, 75 frames: face replacement (CPU, 1 actor)")
    for col in ("clip", "source still", "analysis fps", "keyed+swap job fps", "swap-only job fps", "targets",
                "jitter raw px", "jitter solved px"):
        table.add_column(col, justify="left" if col in ("clip", "source still") else "right")
    sheets = []
    for n, clip in enumerate(sorted((MEDIA / "faces").glob("grid_*.mpg"))):
        still = media(STILLS[n % len(STILLS)])
        out = work / clip.stem
        keyed = run_keying_job(clip, out / "keyed.mp4", out, pool, background=media(PLATE), screen="blue", face=still)
        swap = run_keying_job(clip, out / "swap.mp4", out, pool, face=still, no_key=True)
        stats = keyed.faces["stats"]
        table.add_row(clip.stem, Path(still).name, f"{keyed.frames / keyed.faces['analysis_s']:.1f}",
                      f"{keyed.frames / keyed.seconds:.1f}", f"{swap.frames / swap.seconds:.1f}", str(stats["targets"]),
                      f"{stats['jitter_raw_px']:.2f}", f"{stats['jitter_solved_px']:.2f}")
        sheets.append(clip_sheet([clip, out / "keyed.mp4", out / "swap.mp4"], [0, 37, 74], work / f"{clip.stem}.png"))
    console.print(table)
    return sheets


def make_720p(source: Path, out: Path) -> Path:
    """The clip scaled to 720 lines and widened to 1280x720 with its own edge pixels (the screen), H.264."""
    if out.exists():
        return out
    with av.open(str(source)) as src:  # streamed: one frame at a time
        frames = (cv2.copyMakeBorder(cv2.resize(f.to_ndarray(format="rgb24"), (900, 720), interpolation=cv2.INTER_CUBIC),
                                     0, 0, 190, 190, cv2.BORDER_REPLICATE) for f in src.decode(video=0))
        write_h264(frames, str(out), fps=25)
    return out


def speed_section(work: Path, pool: RenderPool) -> None:
    """720p: analysis fps and job fps of key only, key + swap, swap only (same run, same actor)."""
    source = make_720p(MEDIA / "faces" / "grid_lbax4n.mpg", work / "grid_lbax4n_720p.mp4")
    plate, still = media(PLATE), media(STILLS[0])
    runs: list[tuple[str, JobRun]] = []
    runs.append(("key only", run_keying_job(source, work / "k.mp4", work / "720", pool, background=plate, screen="blue")))
    first = run_keying_job(source, work / "ks.mp4", work / "720", pool, background=plate, screen="blue", face=still)
    runs.append(("key + swap, analysis reused", run_keying_job(source, work / "ks2.mp4", work / "720", pool,
                                                              background=plate, screen="blue", face=still)))
    runs.append(("swap only (--no-key), analysis reused", run_keying_job(source, work / "s.mp4", work / "720", pool,
                                                                        face=still, no_key=True)))
    table = Table(title="720p (1280x720, 75 frames), CPU, 1 actor")
    for col in ("run", "fps", "vs key only"):
        table.add_column(col, justify="left" if col == "run" else "right")
    table.add_row("face analysis pass", f"{first.frames / first.faces['analysis_s']:.1f}", "")
    base = runs[0][1].frames / runs[0][1].seconds
    for name, run in runs:
        fps = run.frames / run.seconds
        table.add_row(name, f"{fps:.1f}", f"{fps / base:.2f}x")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("~/.cache/mattefarm-bench/faces").expanduser())
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    connect_ray(num_cpus=2)
    pool = RenderPool(pool_shape(1))
    ray.get(pool.actors[0].ping.remote())
    sheets = grid_section(args.work, pool)
    speed_section(args.work, pool)
    pool.shutdown()
    ray.shutdown()
    console.print(f"contact sheets (look at them): {args.work}/grid_*.png ({len(sheets)})")


if __name__ == "__main__":
    main()
