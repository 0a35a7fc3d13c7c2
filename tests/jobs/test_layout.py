"""Every storage key of a job lies under one of the prefixes the job owns, and jobs never share a key."""

from __future__ import annotations

from jobs.layout import JobLayout, face_analysis_cache


def _keys(layout: JobLayout) -> list[str]:
    return [layout.upload("shot.mp4"), layout.upload("plate.jpg", "plate"), layout.plate(".jpg"),
            layout.face_source(".png"), f"{layout.split}/00000.mp4", layout.rendered(3, ".mov"), layout.matte(3, ".mkv"),
            layout.face_analysis(2), layout.faces_solved(2), layout.output("shot", ".mp4"),
            layout.output("shot", ".mp4", matte=True), layout.contact_sheet, layout.first_look, layout.chunk_log(7)]


def test_every_key_is_under_a_prefix_the_job_owns() -> None:
    layout = JobLayout("abc123")
    for key in _keys(layout):
        owners = [p for p in layout.everything if key.startswith(p + "/")]
        assert len(owners) == 1, f"{key} lies under {owners}"
    assert layout.output("shot", ".mp4") != layout.output("shot", ".mp4", matte=True)
    assert layout.face_analysis(2).startswith(layout.face_analysis_parts + "/")


def test_two_jobs_share_no_key_and_the_face_cache_is_outside_both() -> None:
    first, second = JobLayout("a1"), JobLayout("a10")
    assert not set(_keys(first)) & set(_keys(second))
    for key in _keys(second):
        assert not any(key.startswith(p + "/") for p in first.everything), "a prefix of one id is not another's"
    cache = face_analysis_cache("f00d")
    assert not any(cache.startswith(p + "/") for p in first.everything + second.everything)
