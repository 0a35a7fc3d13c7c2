"""The typed plan reads back exactly what ingest stored, and a stage that parses it once makes the
same chunk specs as one that parses it per chunk."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from jobs.chunk_specs import chunk_spec
from jobs.db import make_engine, session_factory
from jobs.ingest import ingest_job
from jobs.job_plan import JobPlan
from jobs.options import RenderOptions
from jobs.pipeline import create_job
from models.errors import MediaError
from tests.clips import ClipSpec, make_clip
from tests.conftest import media
from workers.storage import Storage


def test_the_plan_round_trips_and_specs_agree(home: Path, tmp_path: Path) -> None:
    source = make_clip(ClipSpec("plan", frames=30, x264="keyint=10"), str(tmp_path / "src.mp4"))
    storage = Storage(str(home / "storage"))
    with session_factory(make_engine(f"sqlite:///{home / 'db.sqlite'}"))() as session:
        job = create_job(session, source, str(tmp_path / "out.mp4"),
                         RenderOptions(background=media("backgrounds/skimage_rocket_launch.jpg"), screen="green",
                                       chunk_frames=10, keyer={"clip_black": 0.08}))
        with pytest.raises(MediaError, match="not ingested"):
            JobPlan.of(job)
        ingest_job(session, job, storage)
        plan = JobPlan.of(job)
        assert plan.to_dict() == job.plan, "nothing is lost or reshaped on the way back"
        assert plan.probe.frame_count == 30 and len(plan.chunks) == 3 and plan.keyer.clip_black == 0.08
        assert plan.plate is not None and plan.plate.kind == "image" and plan.screen is not None
        assert plan.shift_pts == round(plan.shift_s / plan.probe.time_base)
        for chunk in job.chunks:
            given, parsed = chunk_spec(job, chunk, storage, plan), chunk_spec(job, chunk, storage)
            assert given.screen is not None and parsed.screen is not None
            assert given.screen.to_dict() == parsed.screen.to_dict() == plan.screen.to_dict()
            assert replace(given, screen=None) == replace(parsed, screen=None)
            assert given.keyer == plan.keyer and given.encode == plan.encode
