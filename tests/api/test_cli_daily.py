"""The command line as people use it all day: help that explains, names instead of numbers,
no silent overwrite, what a render is doing when it is not on a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from models.keyer_params import KeyerParams
from tests.clips import ClipSpec, make_clip
from tests.conftest import REPO, media

PLATE = media("backgrounds/skimage_rocket_launch.jpg")


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MATTEFARM_HOME": str(home), "RAY_AUTH_MODE": "disabled"}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=300)


def test_the_cli_module_imports_no_heavy_library() -> None:
    code = "import sys, api.cli; print(sorted(m for m in ('ray', 'onnxruntime', 'av', 'sqlalchemy', 'numpy', 'cv2') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_top_level_help_says_what_the_tool_does(tmp_path: Path) -> None:
    result = _run(tmp_path, "--help")
    text = " ".join(result.stdout.split())
    assert result.returncode == 0
    assert "keying" in text and "face replacement" in text and "MATTEFARM_SERVER" in text


@pytest.mark.parametrize("command", ["render", "submit"])
def test_keyer_help_lists_every_control_with_its_default(command: str, tmp_path: Path) -> None:
    text = _run(tmp_path, command, "--help").stdout
    for control in fields(KeyerParams):
        line = next((line for line in text.splitlines() if line.strip().startswith(f"{control.name} (default")), None)
        assert line is not None and len(line.split("): ", 1)[1]) > 10, f"{control.name} is explained"
    assert "models/keyer_params.py" not in text


def test_probe_names_the_colour_tags(tmp_path: Path) -> None:
    result = _run(tmp_path, "probe", media("faces/grid_bbaf2n.mpg"))
    text = " ".join(result.stderr.split())
    assert result.returncode == 0
    assert "primaries unspecified" in text and "range tv (limited)" in text and "primaries 2" not in text


def test_probe_plans_the_pre_roll_of_the_jobs_matte_source(tmp_path: Path) -> None:
    """Chunk 1 of a 25-frame plan starts its pre-roll where a job with the same options would."""

    def preroll_start(*options: str) -> int:
        result = _run(tmp_path, "probe", media("faces/grid_bbaf2n.mpg"), "--chunk-frames", "25", *options)
        assert result.returncode == 0, result.stderr
        row = next(line for line in result.stderr.splitlines() if line.startswith("│ 1 "))
        return int(row.split("│")[3])

    assert preroll_start() == 25  # the keyer's temporal filter is off by default: no pre-roll
    assert preroll_start("--matte", "portrait") == 8  # 17 frames (models.portrait)
    assert preroll_start("--keyer", "temporal_min=0.4") == 11  # 14 frames to settle within 1/255


def test_submit_checks_sources_and_plate_before_contacting_the_server(tmp_path: Path) -> None:
    missing = _run(tmp_path, "submit", str(tmp_path / "gone.mp4"), "--server", "http://127.0.0.1:9")
    assert missing.returncode == 2 and "gone.mp4 does not exist" in missing.stderr
    junk = tmp_path / "plate.jpg"
    junk.write_text("not an image")
    bad = _run(tmp_path, "submit", media("greenscreen/cremad_1001_DFA_HAP_XX.flv"), "--background", str(junk),
               "--server", "http://127.0.0.1:9")
    assert bad.returncode == 2 and "background plate plate.jpg" in bad.stderr and "cannot reach" not in bad.stderr


@pytest.mark.slow
def test_a_piped_render_tells_its_stages_and_an_existing_output_needs_force(tmp_path: Path) -> None:
    clip = make_clip(ClipSpec("daily", frames=24), str(tmp_path / "daily.mp4"))
    output = tmp_path / "out.mp4"
    first = _run(tmp_path / "home", "render", clip, "-o", str(output), "--background", PLATE, "--screen", "green",
                 "--chunk-frames", "8")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    for stage in ("probing ...", "analysing the screen ...", "splitting into 3 chunks ...", "assembling ..."):
        assert stage in lines, first.stdout
    assert "rendering: 24/24 frames (100 %)" in first.stdout
    before = output.stat().st_mtime_ns
    again = _run(tmp_path / "home", "render", clip, "-o", str(output), "--background", PLATE, "--screen", "green")
    assert again.returncode == 2 and "out.mp4 exists: pass --force" in again.stderr
    assert output.stat().st_mtime_ns == before, "the existing output is untouched"
    forced = _run(tmp_path / "home", "render", clip, "-o", str(output), "--background", PLATE, "--screen", "green",
                  "--force")
    assert forced.returncode == 0 and output.stat().st_mtime_ns != before


def test_preview_first_keys_a_first_look_before_the_chunks(tmp_path: Path) -> None:
    """``--preview-first`` keys four frames spread over a real shot before any chunk renders, and
    keeps them as source | matte | result rows."""
    import cv2

    output = tmp_path / "out.mp4"
    done = _run(tmp_path / "home", "render", media("greenscreen/cremad_1001_DFA_HAP_XX.flv"), "-o", str(output),
                "--background", PLATE, "--chunk-frames", "20", "--preview-first")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    look = next(line for line in lines if line.startswith("first look: ")).removeprefix("first look: ").removesuffix(" ...")
    assert lines.index("keying the first look ...") < min(i for i, line in enumerate(lines) if line.startswith("rendering"))
    image = cv2.imread(look)
    assert image is not None and image.shape[1] == 3 * 360, "three panels of 360 pixels"
    row = round(360 * 360 / 480)  # the clip is 480 x 360
    assert image.shape[0] == 4 * row, "four frames spread over the shot"
    matte = image[:row, 360:720].astype(int)
    assert matte.mean() > 20 and (matte < 16).mean() > 0.3, "the matte keys the screen out and keeps the actor"
