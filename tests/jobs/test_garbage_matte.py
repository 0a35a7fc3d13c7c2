"""Garbage and core mattes end to end (issue 18 item 2, and ``--garbage auto`` of item 3), on the acceptance
clip (tests/studio_clip.py): a real green-screen clip padded into a studio with a grey wall, a light stand and
the screen's edge. Keyed as it is, the studio stays in the matte; with a garbage matte still, a roto polygon
JSON or ``garbage auto``, only the actor remains; a core matte holds a screen-coloured patch on the actor."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from jobs.db import make_engine, session_factory
from jobs.frame_preview import preview_image, shot_frame
from jobs.job_plan import JobPlan
from jobs.options import RenderOptions
from jobs.pipeline import create_job, run_job
from jobs.tables import Job, State
from models.errors import InputError
from tests.conftest import media
from tests.frames import grey_frames
from tests.studio_clip import StudioClip, make_studio_clip
from workers.runner import LocalRunner
from workers.storage import Storage

FRAMES = 12
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> StudioClip:
    return make_studio_clip(str(tmp_path_factory.mktemp("studio") / "studio.mkv"), FRAMES)


@pytest.fixture(scope="module", autouse=True)
def models_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The Selfie Segmentation models, fetched into a folder of this module (``--garbage auto``)."""
    folder = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MATTEFARM_MODELS_DIR", str(folder))
        yield


def _render(home: Path, source: str, **options: object) -> tuple[Job, np.ndarray]:
    """A whole job in this process; the job and its matte ``(N, H, W)`` uint8. The job's keyer preview of
    frame 6 (or its last; :mod:`jobs.frame_preview`) is kept as ``job.preview_matte``: its matte panel, at the frame's size."""
    engine = make_engine(f"sqlite:///{home / 'db.sqlite'}")
    matte = str(home / "matte.mkv")
    with session_factory(engine)() as session:
        render = RenderOptions(codec="ffv1", background=media("backgrounds/skimage_rocket_launch.jpg"), matte_out=matte,
                               **{"chunk_frames": 6, **options})  # type: ignore[arg-type]
        job = create_job(session, source, str(home / "out.mkv"), render)
        run_job(session, job, Storage(str(home / "storage")), LocalRunner)
        assert job.state == State.DONE, job.error
        plan = JobPlan.of(job)
        panels = preview_image(shot_frame(job, min(6, plan.probe.frame_count - 1)), plan.keyer, width=studio_width(job))
        job.preview_matte = panels[:, panels.shape[1] // 3: 2 * panels.shape[1] // 3, 0]  # type: ignore[attr-defined]
    return job, grey_frames(matte)


def studio_width(job: Job) -> int:
    """The source's width: the preview's panels at the frame's own size."""
    return JobPlan.of(job).probe.video.width


def _actor(studio: StudioClip, tmp_path: Path) -> np.ndarray:
    """``(N, H, W)`` bool: the actor, where the plain key is solid inside the screen, eroded by 4 px."""
    _, plain = _render(tmp_path / "plain", studio.path)
    inside = np.zeros(plain.shape[1:], bool)
    inside[:, studio.screen[0]:studio.screen[1]] = True
    kernel = np.ones((9, 9), np.uint8)
    return np.stack([cv2.erode(((m > 250) & inside).astype(np.uint8), kernel).astype(bool) for m in plain]), plain


def _only_the_actor(matte: np.ndarray, actor: np.ndarray, studio: StudioClip, margin: int) -> None:
    far = studio.studio(margin)
    assert matte[:, far].max() <= 2, "the studio beyond the screen is cut"
    assert np.percentile(matte[actor], 1) >= 250, "the actor is kept"


def test_a_garbage_matte_still_a_roto_polygon_and_auto_leave_only_the_actor(studio: StudioClip, tmp_path: Path) -> None:
    actor, plain = _actor(studio, tmp_path)
    assert actor[0].sum() > 20000
    assert (plain[:, studio.studio(8)] > 250).mean() > 0.9, "keyed as it is, the studio stays: the test can fail"
    still = np.zeros((studio.height, studio.width), np.uint8)
    still[:, studio.screen[0]:studio.screen[1]] = 255
    cv2.imwrite(str(tmp_path / "garbage.png"), still)
    job, by_still = _render(tmp_path / "still", studio.path, garbage_matte=str(tmp_path / "garbage.png"))
    _only_the_actor(by_still, actor, studio, 3)
    assert np.abs(job.preview_matte.astype(int) - by_still[6]).max() <= 1, "the keyer preview applies it too"
    x0, x1 = studio.screen
    roto = {"shapes": [{"name": "screen", "keyframes": [
        {"frame": 0, "points": [[x0 - 44, 0], [x1 - 2, 0], [x1 - 2, 360], [x0 - 44, 360]]},
        {"frame": FRAMES - 1, "points": [[x0 + 0.5, 0], [x1 - 2, 0], [x1 - 2, 360], [x0 + 0.5, 360]]}]}]}
    (tmp_path / "garbage.json").write_text(json.dumps(roto))
    _, by_roto = _render(tmp_path / "roto", studio.path, garbage_matte=str(tmp_path / "garbage.json"))
    _only_the_actor(by_roto, actor, studio, 52)  # 44 px of wall in, plus the guided filter's reach
    wall = (slice(40, 300), slice(x0 - 36, x0 - 16))  # wall between the stand and the screen
    assert by_roto[0][wall].min() >= 250 and by_roto[-1][wall].max() <= 2, "the shape moves frame by frame"
    edge = round(x0 - 44 + 44.5 * 6 / (FRAMES - 1))  # frame 6: the shape's edge is interpolated between its keys
    assert by_roto[6][40:300, edge - 12:edge - 6].max() <= 2 and by_roto[6][40:300, edge + 6:edge + 12].min() >= 250
    assert by_roto[-1][studio.studio(0)].max() <= 2
    job, auto = _render(tmp_path / "auto", studio.path, garbage="auto")
    _only_the_actor(auto, actor, studio, 0)
    assert np.abs(job.preview_matte.astype(int) - auto[6]).max() <= 1


def test_chunks_of_a_moving_roto_garbage_matte_with_the_temporal_filter_equal_one_pass(studio: StudioClip,
                                                                                        tmp_path: Path) -> None:
    """The pre-roll frames get their own matte, and the state does not hold it: chunks of 4 (a pre-roll of 14)
    and one chunk of 12 give the same matte within one level."""
    x0, x1 = studio.screen
    roto = {"shapes": [{"keyframes": [{"frame": 0, "points": [[x0 + 40, 0], [x1, 0], [x1, 360], [x0 + 40, 360]]},
                                      {"frame": FRAMES - 1, "points": [[x0, 0], [x1 - 60, 0], [x1 - 60, 360], [x0, 360]]}]}]}
    (tmp_path / "garbage.json").write_text(json.dumps(roto))
    mattes = [_render(tmp_path / f"c{n}", studio.path, garbage_matte=str(tmp_path / "garbage.json"), chunk_frames=n,
                      keyer={"temporal_min": 0.4})[1] for n in (4, FRAMES)]
    assert mattes[0].shape == (FRAMES, studio.height, studio.width)
    assert np.abs(mattes[0].astype(int) - mattes[1]).max() <= 1


def test_a_core_matte_holds_a_screen_coloured_patch_on_the_actor(tmp_path: Path) -> None:
    studio = make_studio_clip(str(tmp_path / "patched.mkv"), 6, patch=True)
    px0, py0, px1, py1 = studio.patch or (0, 0, 0, 0)
    inner = (slice(None), slice(py0 + 4, py1 - 4), slice(px0 + 4, px1 - 4))
    _, free = _render(tmp_path / "free", studio.path, chunk_frames=6)
    assert free[inner].mean() < 40, "without the core matte the screen-coloured patch keys out"
    core = np.zeros((studio.height, studio.width), np.uint8)
    core[py0 - 4:py1 + 4, px0 - 4:px1 + 4] = 255
    cv2.imwrite(str(tmp_path / "core.png"), core)
    _, held = _render(tmp_path / "held", studio.path, chunk_frames=6, core_matte=str(tmp_path / "core.png"))
    assert held[inner].min() >= 250, "inside the core matte the actor is solid"
    outside = np.ones(held.shape[1:], bool)
    outside[py0 - 12:py1 + 12, px0 - 12:px1 + 12] = False
    assert np.abs(held[:, outside].astype(int) - free[:, outside]).max() <= 1, "elsewhere the key is unchanged"


def test_a_matte_of_the_wrong_shape_or_length_fails_the_job_with_its_reason(studio: StudioClip, tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "square.png"), np.full((100, 100), 255, np.uint8))
    with pytest.raises(InputError, match="aspect ratio"):
        _render(tmp_path / "square", studio.path, garbage_matte=str(tmp_path / "square.png"))
    short = make_studio_clip(str(tmp_path / "short.mkv"), 4)
    with pytest.raises(InputError, match="has 4 frames and the shot 12"):
        _render(tmp_path / "short", studio.path, garbage_matte=short.path)


def test_a_renderer_loads_the_auto_garbage_segmenter_once(studio: StudioClip) -> None:
    """Every chunk of a ``--garbage auto`` job segments with the renderer's one segmenter; a job
    without it loads none."""
    from dataclasses import replace

    from jobs.chunk_specs import keyer_spec
    from models.screen import ScreenAnalysis
    from workers.probe import probe_video
    from workers.render import ChunkRenderer

    probe = probe_video(studio.path)
    screen = ScreenAnalysis(np.float32([0.1, 0.7, 0.2]), np.zeros((2, 2, 3), np.float32), 0.5)
    spec = keyer_spec(probe, screen, RenderOptions(background=media("backgrounds/skimage_rocket_launch.jpg"),
                                                   garbage="auto"))
    renderer = ChunkRenderer()
    first = renderer.segmenter_for(spec)
    assert first is not None and renderer.segmenter_for(replace(spec, index=3)) is first
    assert renderer.segmenter_for(replace(spec, garbage_auto=False)) is None
