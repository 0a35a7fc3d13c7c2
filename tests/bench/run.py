"""The keying benchmark: quality, speed, profile, scaling and memory, in one run on this machine.

Run: ``.venv/bin/python -m tests.bench.run [--quick] [--suite tuning|held-out|both] [--work DIR]``.
Clips are generated once into ``--work`` (default ``~/.cache/mattefarm-bench``) and
reused. Prints one table per section and a PASS/FAIL line per target of issues 3 and 17.

Quality runs on two suites of generated clips (issue 17): the tuning suite, which a keyer may be
tuned on, and the held-out suite (other seeds, people, screens and scene knobs), which it must not
be; a change stays only if the held-out figures agree. Each suite gets the metric table, the
alpha bias per bin of true alpha, and the acceptance lines; then both side by side.
"""

from __future__ import annotations

import argparse
import math
from functools import reduce
from pathlib import Path

import numpy as np
import ray
from rich.console import Console
from rich.table import Table

from tests.bench import quality, scaling, speed
from tests.bench.metrics import AlphaBias
from tests.bench.profile import profile_chunk
from tests.bench.quality import ClipScores
from tests.bench.real_sheet import real_clip_sheet
from tests.bench.synth import (
    HELD_OUT_SUITE,
    TUNING_SUITE,
    SynthSpec,
    make_long_source,
    make_synth_clip,
)
from tests.bench.synth_scene import LOOKS
from tests.conftest import media
from workers.pool import RenderPool, connect_ray, pool_shape

PLATE = "backgrounds/skimage_rocket_launch.jpg"
METRICS = ("MAD", "MSE", "Grad", "Conn", "dtSSD", "Comp")
OURS, FFMPEG, HSV = "mattefarm", "ffmpeg chromakey(+despill)", "opencv hsv"
MEAN_RATIO = 0.4  # issue 17: mean MAD and dtSSD at most 0.4 x FFmpeg's
BIAS_LIMIT = 0.05  # issue 17: mean signed alpha error per bin of true alpha within +-0.05
SUITE_LABELS = {"tuning": "TUNING suite (tune here)", "held-out": "HELD-OUT suite (never tune here)"}
console = Console(width=170)


def verdict(ok: bool, text: str) -> None:
    """Print one target's result."""
    console.print(f"[{'green' if ok else 'red'}]{'PASS' if ok else 'FAIL'}[/] {text}")


def suite_specs(suite: str, quick: bool) -> list[SynthSpec]:
    """The clips of a suite; --quick keeps 3 tuning clips and the whole (small) held-out suite."""
    if suite == "tuning":
        return TUNING_SUITE[:2] + TUNING_SUITE[4:5] if quick else TUNING_SUITE
    return HELD_OUT_SUITE


def _mean(results: list[ClipScores], method: str, metric: str) -> float:
    return sum(r.methods[method][metric] for r in results) / len(results)


def _pooled(results: list[ClipScores], method: str) -> AlphaBias:
    return reduce(AlphaBias.merge, (r.bias[method] for r in results), AlphaBias())


def metrics_table(suite: str, results: list[ClipScores]) -> None:
    """Per clip: every method, Mattefarm / FFmpeg ratios, the tuned settings; then the means."""
    table = Table(title=f"{SUITE_LABELS[suite]}: matte quality vs ground truth "
                        "(MAD, MSE x1e3; Grad, Conn /1e3; dtSSD x1e2; Comp in 8-bit levels)")
    for col in ("clip", "method", *METRICS):
        table.add_column(col, justify="left" if col in ("clip", "method") else "right")
    for r in results:
        for method, s in r.methods.items():
            table.add_row(r.name, method, *(f"{s[m]:.2f}" for m in METRICS))
        ours, ff = r.methods[OURS], r.methods[FFMPEG]
        table.add_row(r.name, "mattefarm / ffmpeg", *(f"{ours[m] / ff[m]:.2f}x" for m in METRICS), style="bold")
        table.add_row(r.name, "tuned", r.settings["chromakey"], r.settings["hsv"], end_section=True)
    for method in (OURS, FFMPEG, HSV):
        table.add_row("mean", method, *(f"{_mean(results, method, m):.2f}" for m in METRICS))
    table.add_row("mean", "mattefarm / ffmpeg",
                  *(f"{_mean(results, OURS, m) / _mean(results, FFMPEG, m):.2f}x" for m in METRICS), style="bold")
    console.print(table)


def _bias_cell(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"[{'red' if abs(value) > BIAS_LIMIT else 'green'}]{value:+.3f}[/]"


def bias_table(suite: str, results: list[ClipScores]) -> None:
    """Mean signed alpha error (estimated - true) per bin of true alpha: Mattefarm per clip and
    pooled over the suite's pixels, the baselines pooled, and the pooled pixel counts."""
    table = Table(title=f"{SUITE_LABELS[suite]}: alpha bias per bin of true alpha, mean (estimated - true), "
                        f"every frame; + = too opaque; red beyond +-{BIAS_LIMIT}")
    for col in ("clip", "method", *AlphaBias.labels()):
        table.add_column(col, justify="left" if col in ("clip", "method") else "right")
    for r in results:
        table.add_row(r.name, OURS, *(_bias_cell(v) for v in r.bias[OURS].bias()))
    for k, method in enumerate((OURS, FFMPEG, HSV)):
        table.add_row("pooled", method, *(_bias_cell(v) for v in _pooled(results, method).bias()),
                      end_section=k == 0, style="bold" if k == 0 else None)
    table.add_row("pooled", "pixels (thousands)", *(f"{c / 1e3:.0f}" for c in _pooled(results, OURS).counts))
    console.print(table)


def layer_table(suite: str, specs: list[SynthSpec], layers: list[dict[str, AlphaBias]]) -> None:
    """Mattefarm's bias per bin split by the layer the true alpha comes from (diagnostic, no verdict)."""
    table = Table(title=f"{SUITE_LABELS[suite]}: Mattefarm alpha bias per bin by layer (frames 0, 5, 10, ...; "
                        "veil / strands / edges = body, hair mass and motion blur)")
    for col in ("clip", "layer", *AlphaBias.labels(), "pixels (k)"):
        table.add_column(col, justify="left" if col in ("clip", "layer") else "right")
    for spec, by_layer in zip(specs, layers, strict=True):
        for k, (layer, bias) in enumerate(by_layer.items()):
            table.add_row(spec.name, layer, *(_bias_cell(v) for v in bias.bias()), f"{bias.counts.sum() / 1e3:.0f}",
                          end_section=k == len(by_layer) - 1)
    for layer in quality.LAYERS:
        pooled = reduce(AlphaBias.merge, (by_layer[layer] for by_layer in layers), AlphaBias())
        table.add_row("pooled", layer, *(_bias_cell(v) for v in pooled.bias()), f"{pooled.counts.sum() / 1e3:.0f}",
                      style="bold")
    console.print(table)


def acceptance(suite: str, results: list[ClipScores]) -> None:
    """Issue 17's acceptance lines (they decide on the held-out suite; on the tuning suite they
    are shown for comparison)."""
    console.print(f"[bold]{SUITE_LABELS[suite]}: {'acceptance (issue 17)' if suite == 'held-out' else 'same checks, for reference'}[/]")
    for r in results:
        m, f = r.methods[OURS], r.methods[FFMPEG]
        below = [k for k in ("MAD", "Grad", "dtSSD", "Comp") if m[k] < f[k]]
        ok = len(below) == 4
        verdict(ok, f"{r.name}: MAD, Grad, dtSSD below oracle-tuned chromakey's and Comp below chromakey+despill's"
                    + ("" if ok else f" (below on: {', '.join(below) or 'none'})"))
    for metric in ("MAD", "dtSSD"):
        ours, ff = _mean(results, OURS, metric), _mean(results, FFMPEG, metric)
        verdict(ours <= MEAN_RATIO * ff, f"mean {metric}: mattefarm {ours:.2f} <= {MEAN_RATIO} x FFmpeg's {ff:.2f} "
                                         f"({ours / ff:.2f}x)")
    pooled = _pooled(results, OURS)
    worst = float(np.nanmax(np.abs(pooled.bias())))
    verdict(pooled.within(BIAS_LIMIT), f"pooled alpha bias within +-{BIAS_LIMIT} in every bin 0.1-0.9 (worst {worst:.3f})")
    for r in results:
        worst = float(np.nanmax(np.abs(r.bias[OURS].bias())))
        verdict(r.bias[OURS].within(BIAS_LIMIT), f"{r.name}: alpha bias within +-{BIAS_LIMIT} in every bin (worst {worst:.3f})")


def side_by_side(by_suite: dict[str, list[ClipScores]]) -> None:
    """Suite means of Mattefarm and FFmpeg and their ratio, one column group per suite."""
    table = Table(title="Tuning vs held-out: suite means (a change stays only if the held-out columns agree)")
    table.add_column("metric")
    for suite in by_suite:
        for col in ("mattefarm", "ffmpeg", "ratio"):
            table.add_column(f"{suite} {col}", justify="right")
    for metric in METRICS:
        cells = []
        for results in by_suite.values():
            ours, ff = _mean(results, OURS, metric), _mean(results, FFMPEG, metric)
            cells += [f"{ours:.2f}", f"{ff:.2f}", f"{ours / ff:.2f}x"]
        table.add_row(metric, *cells)
    worst = []
    for results in by_suite.values():
        bias = _pooled(results, OURS).bias()
        k = int(np.nanargmax(np.abs(bias)))
        worst += [f"{bias[k]:+.3f} in {AlphaBias.labels()[k]}", "", ""]
    table.add_row("worst pooled bias", *worst)
    console.print(table)


def quality_section(work: Path, pool: RenderPool, quick: bool, suites: list[str]) -> dict[str, list[ClipScores]]:
    """Every clip of each suite through every method; per-suite tables and verdicts; then both side by side."""
    by_suite: dict[str, list[ClipScores]] = {}
    for suite in suites:
        specs = suite_specs(suite, quick)
        by_suite[suite] = results = [
            quality.evaluate_clip(make_synth_clip(s, work / "clips"), media(PLATE), work / "quality" / s.name, pool)
            for s in specs]
        layers = [quality.layer_bias(s, work / "quality" / s.name / "mattefarm_matte.mkv") for s in specs]
        metrics_table(suite, results)
        bias_table(suite, results)
        layer_table(suite, specs, layers)
        acceptance(suite, results)
    if len(by_suite) > 1:
        side_by_side(by_suite)
    return by_suite


def speed_section(work: Path, pool: RenderPool, source: Path, rounds: int = 2) -> None:
    """Transcode ceiling, Mattefarm and the FFmpeg chain on one 1080p clip, in that order, ``rounds`` times.

    Each method is scored by its best round (as ``timeit`` takes the least of its
    repeats): on this shared 2-core machine one method's single run varied by up
    to 15 % between back-to-back runs, more than the margins under test, and
    interleaving the rounds exposes all three methods to the same drift.
    """
    out = work / "speed"
    out.mkdir(parents=True, exist_ok=True)
    key = tuple(round(255 * c) for c in LOOKS["green"].rgb)
    runs: list[speed.SpeedRow] = []
    for _ in range(rounds):
        runs += [speed.transcode(source, out / "transcode.mp4"),
                 speed.mattefarm(source, media(PLATE), out, pool),
                 speed.ffmpeg_chain(source, media(PLATE), out, key)]
    best = [max(runs[i::3], key=lambda row: row.fps) for i in range(3)]
    ceiling, ours, chain = (row.fps for row in best)
    table = Table(title=f"Speed, 1080p, {runs[0].frames} frames, libx264 crf {speed.CRF} {speed.PRESET}, this CPU "
                        f"({rounds} interleaved rounds; best round of each method in bold)")
    for col in ("round", "run", "frames", "seconds", "fps", "vs best transcode", "note"):
        table.add_column(col, justify="left" if col in ("run", "note") else "right")
    for i, row in enumerate(runs):
        style = "bold" if any(row is b for b in best) else None
        table.add_row(str(i // 3 + 1), row.name, str(row.frames), f"{row.seconds:.1f}", f"{row.fps:.1f}",
                      f"{row.fps / ceiling:.2f}", row.note, style=style)
    console.print(table)
    verdict(ours >= 1.5 * chain, f"mattefarm {ours:.1f} fps >= 1.5 x FFmpeg chain {chain:.1f} fps ({ours / chain:.2f}x)")
    verdict(ours >= 0.7 * ceiling, f"mattefarm {ours:.1f} fps >= 0.7 x transcode {ceiling:.1f} fps ({ours / ceiling:.2f}x)")


def profile_section(work: Path, source: Path) -> None:
    """pyinstrument breakdown of one chunk rendered in-process."""
    frames, seconds, totals = profile_chunk(source, media(PLATE), work / "profile")
    table = Table(title=f"Render profile, one chunk in-process ({frames} frames incl. pre-roll, {seconds:.1f} s)")
    for col in ("stage", "seconds", "share", "ms/frame"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for name, t in sorted(totals.items(), key=lambda kv: -kv[1]):
        table.add_row(name, f"{t:.2f}", f"{t / seconds:.0%}", f"{1000 * t / frames:.1f}")
    console.print(table)


def scaling_section(work: Path, speed_source: Path, long_source: Path) -> None:
    """Stage costs with 1 and 2 actors, the job-time model, memory against length."""
    rows: dict[str, scaling.StageTimes] = {}
    for actors in (1, 2):
        pool = RenderPool(pool_shape(actors))
        rows[f"{speed_source.name}, {actors} actor(s)"] = scaling.timed_job(
            speed_source, media(PLATE), work / f"scaling{actors}", pool, chunk_seconds=5.0)
        pool.shutdown()
    pool = RenderPool(pool_shape(1))
    rows[f"{long_source.name}, 1 actor"] = scaling.timed_job(long_source, media(PLATE), work / "long", pool)
    pool.shutdown()
    table = Table(title="Stage costs (seconds) and peak RSS (driver + actors)")
    for col in ("job", "frames", "chunks", "probe", "analysis", "split", "render", "assemble", "serial", "ray overhead", "peak RSS MiB"):
        table.add_column(col, justify="left" if col == "job" else "right")
    for name, t in rows.items():
        table.add_row(name, str(t.frames), str(t.chunks), *(f"{v:.1f}" for v in (t.probe, t.analysis, t.split, t.render, t.assemble, t.serial)),
                      f"{t.render - t.actor_seconds:.1f}" if "1 actor" in name else "-", f"{t.peak_rss_mib:.0f}")
    console.print(table)
    one, two, long = rows.values()
    rate = scaling.actor_fps(long)
    model = Table(title=f"Model: predicted job seconds for the long source, {rate:.1f} frames/s per worker (CPU actor measured here)")
    for col in ("workers", "predicted s", "speed-up"):
        model.add_column(col, justify="right")
    for n in (1, 2, 4, 8, 16, 32):
        t = scaling.predict(long, n, rate)
        model.add_row(str(n), f"{t:.0f}", f"{scaling.predict(long, 1, rate) / t:.1f}x")
    console.print(model)
    predicted = scaling.predict(one, 2, scaling.actor_fps(one) / 2)  # two CPU actors share this machine's cores
    console.print(f"check: 2 actors on {speed_source.name}: predicted {predicted:.1f} s (cores shared), "
                  f"measured {two.serial + two.render:.1f} s; 1 actor measured {one.serial + one.render:.1f} s")
    ratio = long.peak_rss_mib / one.peak_rss_mib
    verdict(ratio <= 1.5, f"peak RSS {long.frames} frames {long.peak_rss_mib:.0f} MiB vs {one.frames} frames "
            f"{one.peak_rss_mib:.0f} MiB: {ratio:.2f}x (<= 1.5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 quality clips, 60 s long source (minutes, not an hour)")
    parser.add_argument("--work", type=Path, default=Path("~/.cache/mattefarm-bench").expanduser())
    parser.add_argument("--skip", nargs="*", default=[], choices=["quality", "speed", "real", "profile", "scaling"])
    parser.add_argument("--suite", choices=["tuning", "held-out", "both"], default="both",
                        help="quality clips: the tuning suite, the held-out suite, or both (default)")
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    console.print("[dim]generating clips (cached in --work)...[/]")
    (work / "clips").mkdir(exist_ok=True)
    if {"speed", "profile", "scaling"} - set(args.skip):
        speed_source = make_long_source(work / "clips" / "speed_1080p_20s.mp4", seconds=20.0, keyint=250)
    connect_ray(num_cpus=2)
    if {"speed", "quality", "real"} - set(args.skip):
        pool = RenderPool(pool_shape(1))
        ray.get(pool.actors[0].ping.remote())
        if "speed" not in args.skip:
            speed_section(work, pool, speed_source)
        if "quality" not in args.skip:
            quality_section(work, pool, args.quick, ["tuning", "held-out"] if args.suite == "both" else [args.suite])
        if "real" not in args.skip:
            sheet = real_clip_sheet(work / "real", pool, media(PLATE))
            console.print(f"real clip, hair line and shirt edge close up (check by eye): {sheet}")
        pool.shutdown()
    if "profile" not in args.skip:
        profile_section(work, speed_source)
    if "scaling" not in args.skip:
        long_seconds = 60.0 if args.quick else 600.0
        long_source = make_long_source(work / "clips" / f"long_1080p_{long_seconds:.0f}s.mp4", seconds=long_seconds,
                                       keyint=600)
        scaling_section(work, speed_source, long_source)
    ray.shutdown()


if __name__ == "__main__":
    main()
