"""The in-process runner renders what the Ray pool renders: same frames, same timing, same audio,
seamless across chunks; it stops when asked, fails a chunk for good, and is picked only where Ray
would gain nothing."""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from jobs.chunk_specs import chunk_spec
from jobs.db import make_engine, session_factory
from jobs.ingest import ingest_job
from jobs.options import RenderOptions
from jobs.pipeline import create_job, run_job
from jobs.tables import Job, State
from models.errors import MediaError
from models.keyer_params import KeyerParams
from tests.clips import ClipSpec, make_clip
from tests.conftest import media
from workers.probe import probe_video
from workers.runner import ChunkRunner, LocalRunner, PoolEvents, choose_runner, local_slots
from workers.storage import Storage

PLATE = media("backgrounds/skimage_rocket_launch.jpg")


def _render(home: Path, source: str, output: str, runner: ChunkRunner, **options: object) -> Job:
    storage = Storage(str(home / "storage"))
    engine = make_engine(f"sqlite:///{home / 'db.sqlite'}")
    with session_factory(engine)() as session:
        job = create_job(session, source, output, RenderOptions(**options))  # type: ignore[arg-type]  # test options by keyword
        run_job(session, job, storage, lambda: runner)
        return job


def _pictures(path: str) -> list[tuple[int | None, np.ndarray]]:
    """``(PTS, picture)`` of each decoded video frame, the picture as ``to_ndarray`` gives it."""
    with av.open(path) as container:
        return [(frame.pts, frame.to_ndarray()) for frame in container.decode(video=0)]


def _audio_samples(path: str) -> int:
    with av.open(path) as container:
        return sum(f.samples for f in container.decode(audio=0))


def test_in_process_render_matches_the_ray_pool_frame_for_frame(ray_pool, home: Path, tmp_path: Path) -> None:
    source = make_clip(ClipSpec("local", width=320, height=240, frames=60, x264="keyint=20:bframes=2"),
                       str(tmp_path / "src.mp4"))
    # Lossless output: what is compared is the keyed pixels, not x264's choices about them.
    common = dict(background=PLATE, screen="green", chunk_frames=16, keyer={"temporal_min": 0.4}, codec="ffv1")
    on_ray = _render(home / "a", source, str(tmp_path / "ray.mkv"), ray_pool, **common)
    local = LocalRunner()
    here = _render(home / "b", source, str(tmp_path / "local.mkv"), local, **common)
    assert on_ray.state == here.state == State.DONE and len(here.chunks) == 4
    assert {c.node_id for c in here.chunks} == {"local"}
    assert all(c.worker and c.worker.endswith(f":{os.getpid()}") for c in here.chunks), "rendered in this process"
    local_frames, ray_frames = _pictures(str(tmp_path / "local.mkv")), _pictures(str(tmp_path / "ray.mkv"))
    assert [pts for pts, _ in local_frames] == [pts for pts, _ in ray_frames], "same frames at the same times"
    for (pts, a), (_, b) in zip(local_frames, ray_frames):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1, f"frame at PTS {pts} keyed alike within one level"
    out, src = probe_video(str(tmp_path / "local.mkv")), probe_video(source)
    assert out.frame_count == src.frame_count == 60
    assert abs(_audio_samples(str(tmp_path / "local.mkv")) - _audio_samples(source)) <= 1024


def test_in_process_render_is_a_real_composite(home: Path, tmp_path: Path) -> None:
    source = make_clip(ClipSpec("look", width=320, height=240, frames=12), str(tmp_path / "src.mp4"))
    _render(home, source, str(tmp_path / "out.mp4"), LocalRunner(), background=PLATE, screen="green")
    with av.open(str(tmp_path / "out.mp4")) as out, av.open(source) as src:
        result = next(out.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        original = next(src.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    green = (original[..., 1] > original[..., 0] + 40) & (original[..., 1] > original[..., 2] + 40)
    assert 0.05 < green.mean() < 0.95, "the test clip has both screen and subject"
    keyed = result[green]
    assert np.mean(keyed[:, 1] > keyed[:, 0] + 40) < 0.05, "the screen was replaced by the plate"
    assert np.abs(result[~green] - original[~green]).mean() < 25, "the subject was kept"


def test_a_stop_returns_early_and_the_chunk_goes_back_to_pending(home: Path, tmp_path: Path) -> None:
    source = make_clip(ClipSpec("stop", frames=40), str(tmp_path / "src.mp4"))
    storage = Storage(str(home / "storage"))
    engine = make_engine(f"sqlite:///{home / 'db.sqlite'}")
    with session_factory(engine)() as session:
        job = create_job(session, source, str(tmp_path / "out.mp4"),
                         RenderOptions(background=PLATE, screen="green", chunk_frames=20, batch_frames=4))
        ingest_job(session, job, storage)
        specs = [chunk_spec(job, c, storage) for c in job.chunks]
        seen: list[int] = []
        events = PoolEvents(on_progress=lambda job_id, index, done: seen.append(done),
                            should_stop=lambda: bool(seen))
        results = LocalRunner().run(specs, events)
        assert results == [] and seen and seen[0] < 20, "stopped inside the first chunk, which did not finish"
        assert not storage.exists(specs[0].output_key), "a stopped chunk leaves no output"


def test_a_broken_chunk_fails_for_good_and_is_reported_once(home: Path, tmp_path: Path) -> None:
    source = make_clip(ClipSpec("broken", frames=20), str(tmp_path / "src.mp4"))
    storage = Storage(str(home / "storage"))
    engine = make_engine(f"sqlite:///{home / 'db.sqlite'}")
    with session_factory(engine)() as session:
        job = create_job(session, source, str(tmp_path / "out.mp4"), RenderOptions(background=PLATE, screen="green"))
        ingest_job(session, job, storage)
        spec = chunk_spec(job, job.chunks[0], storage)
        with storage.writer(spec.input_key) as path:
            Path(path).write_bytes(b"not a video any more")
        errors: list[tuple[int, bool]] = []
        events = PoolEvents(on_error=lambda s, error, final: errors.append((s.index, final)))
        with pytest.raises(MediaError):
            LocalRunner().run([spec], events)
        assert errors == [(0, True)]


def test_the_runner_is_local_only_where_ray_gains_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert len(local_slots()) == 4
    assert choose_runner("auto", "", None, 6) == "ray", "4 actors' worth of cores: Ray spreads the chunks"
    assert choose_runner("auto", "", None, 1) == "local", "one chunk: one actor would render it anyway"
    assert choose_runner("auto", "", 1, 6) == "local", "--workers 1: one actor"
    assert choose_runner("auto", "head:6379", 1, 1) == "ray", "a cluster was asked for"
    assert choose_runner("local", "", None, 6) == "local" and choose_runner("ray", "", 1, 1) == "ray"
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert choose_runner("auto", "", None, 6) == "local", "2 cores: one actor"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert [s.gpus for s in local_slots()] == [1, 1] and choose_runner("auto", "", None, 6) == "ray"


def test_the_keyer_built_ahead_is_the_one_the_chunks_use(home: Path, tmp_path: Path) -> None:
    from jobs.ahead import IngestAhead
    from jobs.chunk_specs import keyer_spec

    source = make_clip(ClipSpec("ahead", frames=30), str(tmp_path / "src.mp4"))
    options = RenderOptions(background=PLATE, screen="green", chunk_frames=10, matte_out=str(tmp_path / "m.mp4"))
    runner = LocalRunner()
    assert runner.renderer is not None
    renderer = runner.renderer
    ahead = IngestAhead(source, options, lambda probe, screen: renderer.keyer_for(keyer_spec(probe, screen, options)))
    storage = Storage(str(home / "storage"))
    engine = make_engine(f"sqlite:///{home / 'db.sqlite'}")
    with session_factory(engine)() as session:
        job = create_job(session, str(Path(source).resolve()), str(tmp_path / "out.mp4"), options)
        run_job(session, job, storage, lambda: runner, ahead=ahead)
        assert job.state == State.DONE and len(job.chunks) == 3
    assert renderer.keyers_built == 1, "the three chunks keyed with the keyer built during the ingest"
    assert probe_video(str(tmp_path / "out.mp4")).frame_count == 30


def test_work_ahead_for_other_options_is_not_used(home: Path, tmp_path: Path) -> None:
    from jobs.ahead import IngestAhead

    source = make_clip(ClipSpec("other", frames=10), str(tmp_path / "src.mp4"))
    ahead = IngestAhead(source, RenderOptions(background=PLATE, screen="blue"))
    ahead.close()
    options = RenderOptions(background=PLATE, screen="green")
    assert ahead.results_for(str(Path(source).resolve()), options.model_dump()) is None
    assert ahead.results_for(str(Path(source).resolve()), ahead.options) is ahead


class _BuggySpecs:
    """A real runner handed specs whose keyer holds a null control, as a bug upstream would make them
    (the typed plan no longer lets a stored plan do it)."""

    def __init__(self, inner: ChunkRunner) -> None:
        self.inner, self.slots, self.start_stage = inner, inner.slots, inner.start_stage

    def run(self, specs, events, task="render", attempts=None):  # noqa: ANN001, ANN201 - ChunkRunner.run
        broken = [replace(s, keyer=_null_control(s.keyer)) for s in specs]
        return self.inner.run(broken, events, task, attempts)


def _null_control(keyer: KeyerParams) -> KeyerParams:
    """A copy of ``keyer`` with ``guide_radius`` None, past the checks a real one passes."""
    broken = copy.copy(keyer)
    object.__setattr__(broken, "guide_radius", None)
    return broken


@pytest.mark.parametrize("where", ["local", "ray"])
def test_an_unexpected_error_in_the_render_reaches_the_chunk_log_with_its_traceback(
        where: str, request: pytest.FixtureRequest, home: Path, tmp_path: Path) -> None:
    """A bug inside the render (a keyer control that is null, so a comparison raises TypeError in
    the renderer) fails the job with a one-line reason, and the chunk's log keeps the traceback from
    where it happened: in this process, or on the Ray actor."""
    from jobs.chunk_log import ChunkLog

    runner = _BuggySpecs(LocalRunner() if where == "local" else request.getfixturevalue("ray_pool"))
    source = make_clip(ClipSpec("bug", frames=12), str(tmp_path / "src.mp4"))
    storage = Storage(str(home / "storage"))
    engine = make_engine(f"sqlite:///{home / 'db.sqlite'}")
    with session_factory(engine)() as session:
        job = create_job(session, source, str(tmp_path / "out.mp4"), RenderOptions(background=PLATE, screen="green"))
        with pytest.raises(MediaError) as raised:
            run_job(session, job, storage, lambda: runner, keep_intermediates=True)
        assert "TypeError" in str(raised.value) and "Traceback" not in str(raised.value), "one line for the user"
        assert job.state == State.FAILED
        log = ChunkLog(storage, job.id).tail(0) or ""
        assert "traceback:" in log and 'File "' in log and "TypeError" in log, log
        assert "keyer_params.py" in log, "the traceback names where the error was raised"
        assert "\x1b[" not in log, "no terminal colour codes in a log file"
