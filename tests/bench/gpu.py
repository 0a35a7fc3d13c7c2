"""GPU readiness: one prepared command for a lent GPU machine, under 10 minutes.

Run: ``.venv/bin/python -m tests.bench.gpu [--work DIR] [--seconds S] [--allow-cpu]``.

1. Makes onnxruntime's CUDA provider run: when a session asking for CUDA falls
   back to the CPU (:func:`models.providers.cuda_runs`), installs
   onnxruntime-gpu's CUDA extras (``onnxruntime-gpu[cuda,cudnn]``: the CUDA and
   cuDNN wheels) and starts itself again, once, where ``nvidia-smi`` shows a GPU.
2. The keyer graph on the CUDA provider with I/O binding at 1080p and 4K:
   frames per second (batches of 8, best of 3 rounds), the provider the session
   really runs on, and the largest difference, in code values, from the fused
   CPU form on the same frames (matte, luma, chroma).
3. A whole ``mattefarm render`` job with ``--providers cuda`` on a generated
   1080p shot (``--seconds``, default 10), and the same job with ``--providers cpu``:
   wall seconds and frames per second, timed as whole processes.

``--allow-cpu`` runs every step on a machine where CUDA does not run (the
keyer's "CUDA" column is then the graph on the CPU provider), to check the
script itself.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from models.keyer import Background, Keyer
from models.keyer_params import KeyerParams
from models.providers import cuda_runs
from models.screen import estimate_screen
from models.yuv import YuvMatrix, planes_to_rgb
from tests.bench.synth import make_long_source
from tests.conftest import media
from workers.decode import decode_video
from workers.frames import frame_planes

PLATE = "backgrounds/skimage_rocket_launch.jpg"
CUDA_EXTRAS = "onnxruntime-gpu[cuda,cudnn]"
BATCH = 8
console = Console(width=150)


def ensure_cuda(argv: list[str], allow_cpu: bool) -> bool:
    """Whether CUDA runs, installing onnxruntime-gpu's CUDA extras and restarting once when it does not."""
    if cuda_runs():
        return True
    if shutil.which("nvidia-smi") and "MATTEFARM_GPU_BENCH_INSTALLED" not in os.environ:  # a GPU, no CUDA libraries
        console.print(f"CUDA does not run: installing {CUDA_EXTRAS} ...")
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", CUDA_EXTRAS], timeout=300)
        if done.returncode == 0:
            os.environ["MATTEFARM_GPU_BENCH_INSTALLED"] = "1"
            os.execv(sys.executable, [sys.executable, "-m", "tests.bench.gpu", *argv])
    if not allow_cpu:
        sys.exit("CUDA does not run on this machine (onnxruntime falls back to the CPU); --allow-cpu checks the script")
    console.print("[yellow]CUDA does not run here: the CUDA columns are the graph on the CPU provider[/]")
    return False


def shot_planes(source: Path, size: tuple[int, int], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``frames`` frames of ``source`` as keyer planes at ``size`` = ``(W, H)``:
    ``(N, H, W)`` uint8 Y' and ``(N, 2, H/2, W/2)`` uint8 Cb, Cr."""
    width, height = size
    luma, chroma = [], []
    for y, c in (frame_planes(f, "yuv420p") for f in itertools.islice(decode_video(str(source), "yuv420p"), frames)):
        luma.append(cv2.resize(y, (width, height), interpolation=cv2.INTER_LINEAR))
        chroma.append(np.stack([cv2.resize(p, (width // 2, height // 2), interpolation=cv2.INTER_LINEAR) for p in c]))
    return np.stack(luma), np.stack(chroma)


def time_keyer(keyer: Keyer, luma: np.ndarray, chroma: np.ndarray, background: Background,
               rounds: int = 3) -> tuple[float, list[np.ndarray]]:
    """Best frames per second over ``rounds`` passes of ``luma`` in batches, and the last pass's outputs."""
    best, outputs = 0.0, []
    keyer.key_frames(luma[:BATCH], chroma[:BATCH], background, keyer.initial_state())  # warm-up
    for _ in range(rounds):
        state, outputs = keyer.initial_state(), []
        started = time.perf_counter()
        for start in range(0, len(luma), BATCH):
            result = keyer.key_frames(luma[start:start + BATCH], chroma[start:start + BATCH], background, state)
            state = result.state
            outputs.append(result)
        best = max(best, len(luma) / (time.perf_counter() - started))
    planes = [np.concatenate([getattr(r, name) for r in outputs]) for name in ("alpha", "luma", "chroma")]
    return best, planes


def keyer_section(source: Path, cuda: bool) -> None:
    """The keyer graph on CUDA with I/O binding at 1080p and 4K, against the fused CPU form."""
    matrix = YuvMatrix.from_sws(1)
    table = Table(title=f"Keyer graph on CUDA with I/O binding (composite + matte, batches of {BATCH}, best of 3)")
    for col in ("size", "provider", "CUDA fps", "CPU fused fps", "speed-up", "max diff matte", "luma", "chroma"):
        table.add_column(col, justify="left" if col in ("size", "provider") else "right")
    for name, size in (("1080p", (1920, 1080)), ("4K", (3840, 2160))):
        luma, chroma = shot_planes(source, size, 48 if cuda else 16)
        analysis = estimate_screen([planes_to_rgb(luma[i], chroma[i], matrix) for i in (0, 5, 10)])
        width, height = size
        background = Background(np.full((1, height, width), 80, np.uint8),
                                np.full((1, 2, height // 2, width // 2), 128, np.uint8))
        graph = Keyer(analysis, KeyerParams(), width, height, matrix, providers="cuda" if cuda else "cpu", fused=False)
        fused = Keyer(analysis, KeyerParams(), width, height, matrix, providers="cpu", fused=True)
        graph_fps, graph_out = time_keyer(graph, luma, chroma, background)
        fused_fps, fused_out = time_keyer(fused, luma, chroma, background)
        gaps = [int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(graph_out, fused_out)]
        table.add_row(name, graph.provider, f"{graph_fps:.1f}", f"{fused_fps:.1f}", f"{graph_fps / fused_fps:.1f}x",
                      *(str(g) for g in gaps))
    console.print(table)


def job_section(source: Path, work: Path, cuda: bool) -> None:
    """A whole render job with CUDA and with the CPU, each timed as a whole process."""
    table = Table(title=f"Whole render job, {source.name} (mattefarm render, whole process)")
    for col in ("providers", "seconds", "frames", "fps", "rc"):
        table.add_column(col, justify="left" if col == "providers" else "right")
    frames = int(source.stem.split("_")[-1])
    for providers in ("cuda" if cuda else "auto", "cpu"):
        out = work / f"job_{providers}.mp4"
        command = [str(Path(sys.executable).with_name("mattefarm")), "render", str(source), "--background", media(PLATE),
                   "-o", str(out), "--providers", providers, "--force", "--db", f"sqlite:///{work / 'gpu.sqlite'}"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=400)
        seconds = time.perf_counter() - started
        if done.returncode:
            console.print(done.stdout[-2000:], done.stderr[-2000:])
        table.add_row(providers, f"{seconds:.1f}", str(frames), f"{frames / seconds:.1f}", str(done.returncode))
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("~/.cache/mattefarm-bench/gpu").expanduser())
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the generated 1080p shot")
    parser.add_argument("--allow-cpu", action="store_true", help="run where CUDA does not (checks the script)")
    args = parser.parse_args(argv)
    cuda = ensure_cuda(argv, args.allow_cpu)
    args.work.mkdir(parents=True, exist_ok=True)
    frames = round(args.seconds * 25)
    source = make_long_source(args.work / f"shot_1080p_{frames}.mp4", seconds=args.seconds, keyint=50)
    keyer_section(source, cuda)
    job_section(source, args.work, cuda)


if __name__ == "__main__":
    main()
