"""``--matte portrait`` (and the neural matters) through the whole job: CLI, ingest without a screen
analysis, chunks with the matter's pre-roll, render, assembly. Real footage: a GRID clip (a speaker
before a blue backdrop, treated as a shot without a screen) and the Chaplin clip (two people on a
street). Chunks of 8 frames against one chunk: the decoded mattes agree within 2/255."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, text

from api.schemas import JobCreate
from jobs.options import RenderOptions, option_errors
from tests.conftest import REPO, media
from tests.frames import grey_frames
from tests.models.tiny_matting import tiny_rvm
from workers.model_files import fetch_onnx

GRID = "faces/grid_swwp2s.mpg"
CHAPLIN = "extra/moviepy_chaplin_2persons_noaudio.mp4"
PLATE = "backgrounds/skimage_rocket_launch.jpg"
SHEETS = Path(os.environ.get("MATTEFARM_SHEETS", "/tmp")) / "mattefarm-portrait-sheets"


@pytest.fixture(scope="module")
def models_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Selfie Segmentation (from its pinned npm package, converted) in a folder of this module."""
    folder = tmp_path_factory.mktemp("models")
    for name in ("selfie_segmentation", "selfie_segmentation_landscape"):
        fetch_onnx(name, folder)
    return folder


def _render(home: Path, models: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MATTEFARM_HOME": str(home), "MATTEFARM_MODELS_DIR": str(models), "COLUMNS": "100"}
    done = subprocess.run([sys.executable, "-m", "api.cli", "render", *args, "--runner", "local"], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr + done.stdout
    return done


def _rgb(path: str | Path, count: int | None = None) -> np.ndarray:
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    return np.stack(frames)


def _first_frames(source: str, count: int, target: Path) -> Path:
    """The first ``count`` frames of a real clip, losslessly (FFV1) in ``target``: a short shot."""
    with av.open(source) as src, av.open(str(target), "w") as out:
        stream_in = src.streams.video[0]
        stream = out.add_stream("ffv1", rate=stream_in.average_rate)
        stream.width, stream.height, stream.pix_fmt = stream_in.width, stream_in.height, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i == count:
                break
            picture = frame.reformat(format="yuv420p")
            picture.pts, picture.time_base = i, 1 / Fraction(stream_in.average_rate)
            for packet in stream.encode(picture):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return target


def _prerolls(home: Path) -> list[tuple[int, int]]:
    engine = create_engine(f"sqlite:///{home / 'mattefarm.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text("select frame_start, preroll_start from chunks order by frame_start")).all()
        plans = conn.execute(text("select plan from jobs")).all()
    assert all('"screen": null' in str(p[0]) for p in plans), "no screen analysis for a shot without a screen"
    return [(int(a), int(b)) for a, b in rows]


def _sheet(name: str, columns: list[str | Path]) -> Path:
    from workers.contact_sheet import contact_sheet, write_png

    SHEETS.mkdir(parents=True, exist_ok=True)
    path = SHEETS / f"{name}.png"
    write_png(str(path), contact_sheet([str(c) for c in columns], 4))
    return path


@pytest.mark.slow
def test_portrait_on_grid_chunks_of_8_match_one_chunk_and_composite_over_the_plate(tmp_path: Path, models_folder: Path) -> None:
    source = str(_first_frames(media(GRID), 40, tmp_path / "grid40.mkv"))
    outputs = {}
    for name, chunking in (("one", ()), ("eight", ("--chunk-frames", "8"))):
        out, matte = tmp_path / f"{name}.mkv", tmp_path / f"{name}_matte.mkv"
        _render(tmp_path / f"home_{name}", models_folder, source, "-o", str(out), "--codec", "ffv1", "--matte-out",
                str(matte), "--background", media(PLATE), "--matte", "portrait", *chunking)
        outputs[name] = (out, grey_frames(matte))
    assert _prerolls(tmp_path / "home_eight") == [(s, max(0, s - 17)) for s in range(0, 40, 8)]
    one, eight = outputs["one"][1], outputs["eight"][1]
    assert one.shape == eight.shape == (40, 288, 360)
    assert np.abs(one.astype(np.int16) - eight).max() <= 2
    # The speaker is held, the backdrop replaced: the composite keeps the source where the matte is
    # solid and shows the plate where it is clear.
    src, result = _rgb(source).astype(np.int16), _rgb(outputs["eight"][0]).astype(np.int16)
    solid, clear = eight == 255, eight == 0
    assert solid[:, 100:200, 150:210].mean() > 0.99 and clear[:, :60, :60].mean() > 0.99  # face; top-left backdrop
    assert np.abs(result - src)[solid].mean() < 3
    assert np.abs(result - src)[clear].mean() > 40
    _sheet("grid_portrait_chunks8", [source, tmp_path / "eight_matte.mkv", outputs["eight"][0]])


@pytest.mark.slow
def test_portrait_on_the_chaplin_clip_as_a_layer_chunked_like_one_chunk(tmp_path: Path, models_folder: Path) -> None:
    source = str(_first_frames(media(CHAPLIN), 48, tmp_path / "chaplin48.mkv"))
    mattes = {}
    for name, chunking in (("one", ()), ("eight", ("--chunk-frames", "8"))):
        out, matte = tmp_path / f"{name}.mov", tmp_path / f"{name}_matte.mov"
        _render(tmp_path / f"home_{name}", models_folder, source, "-o", str(out), "--codec", "prores4444",
                "--matte-out", str(matte), "--matte", "portrait", *chunking)
        mattes[name] = grey_frames(matte)
        with av.open(str(out)) as container:  # the layer carries the matte as its alpha
            frame = next(container.decode(video=0))
            assert frame.format.name.startswith("yuva444p")
    assert mattes["one"].shape == (48, 360, 640)
    assert np.abs(mattes["one"].astype(np.int16) - mattes["eight"]).max() <= 2
    # Two people stand in the street: some of the frame is person, most of it is not.
    person = (mattes["eight"] > 128).mean()
    assert 0.02 < person < 0.4, person
    _sheet("chaplin_portrait_layer_chunks8", [source, tmp_path / "eight_matte.mov", tmp_path / "eight.mov"])


@pytest.mark.slow
def test_portrait_takes_garbage_and_core_matte_files(tmp_path: Path, models_folder: Path) -> None:
    """A garbage still keeps the left half of a GRID shot and a core still holds a square of the
    backdrop: outside the garbage matte nothing stays, inside the core all of it, elsewhere the
    matte is the plain one (chunks of 8, pre-roll frames with their own mattes)."""
    import cv2

    source = str(_first_frames(media(GRID), 24, tmp_path / "grid24.mkv"))
    garbage, core = np.zeros((288, 360), np.uint8), np.zeros((288, 360), np.uint8)
    garbage[:, :200] = 255  # keeps the speaker's left side (x 150-210 is the face)
    core[20:60, 20:60] = 255  # a square of backdrop
    cv2.imwrite(str(tmp_path / "garbage.png"), garbage)
    cv2.imwrite(str(tmp_path / "core.png"), core)
    mattes = {}
    for name, limits in (("plain", ()), ("limited", ("--garbage-matte", str(tmp_path / "garbage.png"),
                                                     "--core-matte", str(tmp_path / "core.png")))):
        matte = tmp_path / f"{name}_matte.mkv"
        _render(tmp_path / f"home_{name}", models_folder, source, "-o", str(tmp_path / f"{name}.mkv"), "--codec", "ffv1",
                "--matte-out", str(matte), "--background", media(PLATE), "--matte", "portrait", "--chunk-frames", "8",
                *limits)
        mattes[name] = grey_frames(matte)
    plain, limited = mattes["plain"].astype(np.int16), mattes["limited"]
    assert (plain[:, :, 204:] > 128).mean() > 0.1, "the plain matte holds the speaker's right side: the test can fail"
    assert limited[:, :, 204:].max() == 0, "outside the garbage matte nothing stays"
    assert limited[:, 24:56, 24:56].min() == 255 and plain[:, 24:56, 24:56].max() < 128, "the core holds the backdrop"
    elsewhere = np.ones((288, 360), bool)
    elsewhere[:, 196:] = False
    elsewhere[16:64, 16:64] = False
    assert np.abs(limited[:, elsewhere] - plain[:, elsewhere]).max() <= 1, "elsewhere the matte is the plain one"


@pytest.mark.slow
def test_a_recurrent_matting_model_renders_in_chunks_like_one_pass(tmp_path: Path, models_folder: Path) -> None:
    model = tmp_path / "rvm_tiny.onnx"
    model.write_bytes(tiny_rvm().SerializeToString())
    source = str(_first_frames(media(GRID), 40, tmp_path / "grid40.mkv"))
    mattes = {}
    for name, chunking in (("one", ()), ("eight", ("--chunk-frames", "8"))):
        matte = tmp_path / f"{name}_matte.mkv"
        _render(tmp_path / f"home_{name}", models_folder, source, "-o", str(tmp_path / f"{name}.mkv"), "--codec", "ffv1",
                "--matte-out", str(matte), "--background", media(PLATE), "--matte", "rvm", "--matte-model", str(model),
                *chunking)
        mattes[name] = grey_frames(matte)
    assert _prerolls(tmp_path / "home_eight") == [(s, max(0, s - 30)) for s in range(0, 40, 8)]
    assert np.abs(mattes["one"].astype(np.int16) - mattes["eight"]).max() <= 2
    red = _rgb(source)[..., 0].astype(np.int16)  # the tiny model's matte follows red, averaged over time
    assert np.abs(mattes["one"][-1] - red[-1]).mean() < 10


def test_options_of_a_shot_without_a_screen_are_checked_once() -> None:
    RenderOptions(matte="portrait", background="plate.jpg")
    RenderOptions(matte="rvm", matte_model="rvm.onnx", codec="prores4444")
    for bad, words in [
        ({"matte": "portrait"}, "background plate is required"),
        ({"matte": "portrait", "background": "p.jpg", "screen": "green"}, "`screen` names the screen"),
        ({"matte": "portrait", "background": "p.jpg", "keyer": {"despill": 0.5}}, "`keyer` controls"),
        ({"matte": "portrait", "no_key": True, "face": "f.jpg"}, "`no_key` swaps faces only"),
        ({"matte": "rvm", "background": "p.jpg", "preview_first": True}, "`preview_first` keys a first look"),
        ({"matte": "portrait", "background": "p.jpg", "matte_model": "m.onnx"}, "`matte_model` is the weights"),
        ({"matte": "sky", "background": "p.jpg"}, "Input should be"),
    ]:
        with pytest.raises(ValidationError, match=words):
            RenderOptions(**bad)


def test_the_api_takes_the_matte_in_its_render_options_and_names_its_fields() -> None:
    assert JobCreate(render={"matte": "portrait"}).render_options({"plate": "plate.jpg"}, None).matte == "portrait"
    with pytest.raises(ValidationError) as caught:
        JobCreate(render={"matte": "birefnet", "screen": "blue"}).render_options({"plate": "plate.jpg"}, None)
    [(where, message)] = option_errors(caught.value, "api")
    assert "'render.screen' names the screen to key, and 'render.matte' birefnet" in message


def test_the_cli_names_a_missing_matting_model_before_anything_renders(tmp_path: Path) -> None:
    env = {**os.environ, "MATTEFARM_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "api.cli", "render", media(GRID), "-o", str(tmp_path / "o.mp4"),
                           "--background", media(PLATE), "--matte", "modnet", "--matte-model", str(tmp_path / "no.onnx")],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert done.returncode == 2 and "--matte-model" in done.stderr and "is not a file" in done.stderr
    assert not (tmp_path / "o.mp4").exists()
