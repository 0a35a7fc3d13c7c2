"""A ``mattefarm render`` killed with SIGKILL and run again resumes: finished chunks are reused,
the stale row is taken over and ends done, a ``.part-*`` leftover is removed, and the output
matches an uninterrupted render frame for frame."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.api.test_faults import _digests
from tests.clips import ClipSpec, make_clip
from tests.conftest import REPO, media

PLATE = media("backgrounds/skimage_rocket_launch.jpg")


def _render(home: Path, clip: str, output: Path, **popen: object) -> subprocess.Popen:
    env = {**os.environ, "MATTEFARM_HOME": str(home), "RAY_AUTH_MODE": "disabled"}
    return subprocess.Popen([sys.executable, "-m", "api.cli", "render", clip, "-o", str(output), "--background", PLATE,
                             "--screen", "green", "--chunk-frames", "50"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _rows(home: Path, sql: str) -> list[tuple]:
    engine = create_engine(f"sqlite:///{home / 'mattefarm.db'}")
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql))]
    except Exception:  # noqa: BLE001 - the database is not made yet
        return []
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_killed_render_run_again_resumes_where_it_stopped(tmp_path: Path) -> None:
    clip = make_clip(ClipSpec("resume", width=640, height=360, frames=400, x264="keyint=50"), str(tmp_path / "r.mp4"))
    home, output = tmp_path / "home", tmp_path / "out" / "resumed.mp4"
    first = _render(home, clip, output, start_new_session=True)
    deadline = time.monotonic() + 120
    while not _rows(home, "SELECT 1 FROM chunks WHERE state = 'done'"):
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    done_before = {i for (i,) in _rows(home, "SELECT \"index\" FROM chunks WHERE state = 'done'")}
    assert _rows(home, "SELECT state FROM jobs") == [("running",)], "the killed render left its row running"
    output.parent.mkdir(parents=True, exist_ok=True)
    leftover = output.with_name(output.name + ".part-deadbeef.mp4")
    leftover.write_bytes(b"half an assembly")

    again = _render(home, clip, output)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert f"{len(done_before)} of 8 chunks were rendered before it stopped" in " ".join(err.split())
    assert _rows(home, "SELECT state FROM jobs") == [("done",)], "one row, taken over and ended"
    attempts = dict(_rows(home, "SELECT \"index\", attempts FROM chunks"))
    assert all(attempts[i] == 1 for i in done_before), "finished chunks were not rendered again"
    assert not leftover.exists() and not list(output.parent.glob("*.part-*"))

    reference = tmp_path / "reference.mp4"
    fresh = _render(tmp_path / "fresh", clip, reference)
    assert fresh.wait(timeout=300) == 0
    assert _digests(str(output)) == _digests(str(reference))


def test_a_render_another_live_process_holds_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from api.cli import main
    from jobs.db import make_engine, session_factory
    from jobs.leases import WorkerId
    from jobs.options import RenderOptions
    from jobs.resume import open_cli_job
    from workers.storage import Storage

    monkeypatch.setenv("MATTEFARM_HOME", str(tmp_path))
    clip, output = media("greenscreen/cremad_1001_DFA_HAP_XX.flv"), tmp_path / "o.mp4"
    options = RenderOptions(background=PLATE)
    sessions = session_factory(make_engine(f"sqlite:///{tmp_path / 'mattefarm.db'}"))
    with sessions() as session:  # this live process holds the job, as a running render would
        open_cli_job(session, clip, str(output), options, str(WorkerId.this_process("cli")), 60,
                     Storage(str(tmp_path / "storage")))
    assert main(["render", clip, "-o", str(output), "--background", PLATE]) == 2
    assert "is being rendered from cremad_1001_DFA_HAP_XX.flv by another mattefarm process" in capsys.readouterr().err
