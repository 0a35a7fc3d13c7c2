"""The CLI on bad input: one line naming the problem, non-zero exit, no output, job failed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from sqlalchemy import create_engine, text

from api.keyer_args import keyer_overrides
from tests.conftest import REPO, media


def _not_a_video(tmp: Path) -> str:
    path = tmp / "notes.mp4"
    path.write_text("these are not frames\n")
    return str(path)


def _truncated(tmp: Path) -> str:
    data = Path(media("greenscreen/cremad_1001_DFA_SAD_XX.flv")).read_bytes()
    path = tmp / "cut.flv"
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def _silence(out: av.container.OutputContainer, stream: av.AudioStream, frames: int) -> None:
    """Encode ``frames`` AAC frames of mono silence."""
    for i in range(frames):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44100, i * 1024
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def _audio_only(tmp: Path) -> str:
    path = tmp / "voice.m4a"
    with av.open(str(path), "w") as out:
        _silence(out, out.add_stream("aac", rate=44100), 20)
    return str(path)


def _zero_frames(tmp: Path) -> str:
    path = tmp / "empty.mkv"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height = 64, 48
        _silence(out, out.add_stream("aac", rate=44100), 10)
    return str(path)


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MATTEFARM_HOME": str(home), "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )


def _failed_jobs(home: Path) -> list[tuple[str, str]]:
    engine = create_engine(f"sqlite:///{home / 'mattefarm.db'}")
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("select state, error from jobs"))]


SOURCES = {
    "not_a_video": (_not_a_video, "cannot be read as a video"),
    "truncated": (_truncated, "truncated"),
    "audio_only": (_audio_only, "no video stream"),
    "zero_frames": (_zero_frames, "zero video frames"),
}


@pytest.mark.parametrize("case", list(SOURCES))
def test_bad_source_fails_with_one_line_and_no_output(case: str, tmp_path: Path) -> None:
    make, expected = SOURCES[case]
    output = tmp_path / "out.mp4"
    result = run_cli(tmp_path / "home", "render", make(tmp_path), "-o", str(output),
                     "--background", media("backgrounds/skimage_rocket_launch.jpg"))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], result.stderr
    assert not list(tmp_path.glob("out*")), "no output (or partial output) is left behind"
    assert _failed_jobs(tmp_path / "home") == [("failed", lines[0].removeprefix("error: "))]


@pytest.mark.parametrize("plate", ["missing.jpg", "broken.jpg"])
def test_bad_plate_fails_with_one_line_and_no_output(plate: str, tmp_path: Path) -> None:
    if plate == "broken.jpg":
        (tmp_path / plate).write_bytes(b"\xff\xd8 not really a jpeg")
    output = tmp_path / "out.mp4"
    result = run_cli(tmp_path / "home", "render", media("greenscreen/cremad_1001_DFA_NEU_XX.flv"), "-o", str(output),
                     "--background", str(tmp_path / plate))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(lines) == 1 and "background plate" in lines[0], result.stderr
    assert not output.exists()
    state, error = _failed_jobs(tmp_path / "home")[0]
    assert state == "failed" and "background plate" in error


def test_probe_prints_the_chunk_plan(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "home", "probe", media("extra/autoeditor_man_on_green_screen.mp4"), "--chunk-frames", "300")
    assert result.returncode == 0, result.stderr
    assert "732" in result.stderr and "600-731" in result.stderr


@pytest.mark.parametrize(("pair", "expected"), [("clip_blak=0.1", "use one of"), ("clip_black", "NAME=VALUE"),
                                                ("clip_black=high", "is not a number"), ("clip_black=0.9", "clip_black must be below"),
                                                ("guide_radius=1.5", "whole number")])
def test_a_bad_keyer_control_fails_with_one_line(pair: str, expected: str, tmp_path: Path) -> None:
    result = run_cli(tmp_path / "home", "render", media("greenscreen/cremad_1001_DFA_NEU_XX.flv"), "-o", str(tmp_path / "o.mp4"),
                     "--background", media("backgrounds/skimage_rocket_launch.jpg"), "--keyer", pair)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], result.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_keyer_overrides_parse_name_value_pairs() -> None:
    assert keyer_overrides(["guide_radius=2", "clip_black=0.08"]) == {"guide_radius": 2.0, "clip_black": 0.08}
