"""A job's page in a real browser: settings, outputs, the chunk timeline of a finished job, the log
tail, and keyer tuning on a 720p frame (the preview keyed by the render's keyer)."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_service import REDIS_URL, Service, follow, submit
from tests.conftest import media

CLIP_720P = "extra/autoeditor_man_on_green_screen.mp4"  # real green screen, 1280x720, 732 frames


@pytest.mark.slow
def test_a_finished_jobs_page_shows_its_timeline_and_tunes_its_keyer_on_a_720p_frame(chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service:
        clip = str(service.farm / "man_720p.mp4")
        shutil.copy(media(CLIP_720P), clip)
        job = submit(service.url, None, {"source_uri": clip, "matte": True,
                                         "render": {"chunk_frames": 120, "screen": "green", "crf": 20}})
        assert list(follow(service.url, job["id"], timeout_s=400))[-1]["state"] == "done", service.log_tail()
        final = httpx.get(f"{service.url}/v1/jobs/{job['id']}", timeout=10).json()
        assert len(final["chunks"]) == 7 and all(c["started_at"] and c["finished_at"] for c in final["chunks"])

        # the API's bad values: 422 naming what is wrong, never a 5xx
        base = f"{service.url}/v1/jobs/{job['id']}/preview"
        for query, named in [({"clip_black": "abc"}, "clip_black"), ({"clip_black": "0.7"}, "clip_black"),
                             ({"gain": "1"}, "unknown keyer control gain"), ({"frame": "732"}, "frame 732"),
                             ({"guide_radius": "1.5"}, "guide_radius"), ({"frame": "-1"}, "frame"),
                             ({"screen_gain": "nan"}, "screen_gain")]:
            answer = httpx.get(base, params=query, timeout=60)
            assert answer.status_code == 422 and named in answer.json()["detail"], (query, answer.text)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            page.goto(f"{service.url}/jobs/{job['id']}")

            # settings and outputs
            settings = page.inner_text("#settings")
            assert "skimage_rocket_launch.jpg" in settings and "h264" in settings and "20 / veryfast" in settings
            assert "120 frames" in settings and "green" in settings
            assert page.get_attribute("#download", "href") == f"/v1/jobs/{job['id']}/output"
            matte = httpx.get(service.url + (page.get_attribute("#matte-link", "href") or ""), timeout=60)
            assert matte.status_code == 200 and len(matte.content) > 10_000

            # the timeline: a lane per worker that ran chunks, a bar per chunk where its times put it
            lanes = page.locator("#timeline .lane")
            assert sorted(lanes.evaluate_all("ls => ls.map(l => l.dataset.lane)")) == sorted({c["worker"] for c in final["chunks"]})
            bars = page.locator("#timeline .gantt.done")
            assert bars.count() == 7
            starts = {c["index"]: c["started_at"] for c in final["chunks"]}
            lefts = dict(bars.evaluate_all("bs => bs.map(b => [Number(b.dataset.chunk), parseFloat(b.style.left)])"))
            assert sorted(lefts, key=lambda i: (lefts[i], i)) == sorted(starts, key=lambda i: (starts[i], i))
            assert min(lefts.values()) == 0.0
            widths = bars.evaluate_all("bs => bs.map(b => parseFloat(b.style.width))")
            assert all(w > 0 for w in widths) and max(lefts[i] + widths[n] for n, i in enumerate(sorted(lefts))) <= 100.01
            # the log tail: every chunk's lines together
            page.wait_for_function("document.getElementById('log-tail').textContent.includes('done:')", timeout=10_000)
            assert {f"#{i}" for i in range(7)} <= set(re.findall(r"#\d+", page.inner_text("#log-tail")))
            page.screenshot(path=str(tmp_path / "finished_job.png"), full_page=True)

            # keyer tuning: the first preview decodes the frame; moving a control keys it again within 3 s
            preview = page.locator("#tune-preview")
            page.wait_for_function("document.getElementById('tune-preview').dataset.keyed", timeout=120_000)
            assert page.evaluate("document.getElementById('tune-preview').naturalWidth") == 3 * 640
            before = preview.screenshot()
            slider = page.locator("label[data-control=clip_black] input[type=range]")
            moved = time.monotonic()
            slider.fill("0.3")
            page.wait_for_function("(document.getElementById('tune-preview').dataset.keyed || '').includes('clip_black=0.3')",
                                   timeout=3_000)
            assert time.monotonic() - moved < 3.0
            assert preview.screenshot() != before, "the preview shows the new matte"
            assert page.input_value("label[data-control=clip_black] input[type=number]") == "0.3"
            page.screenshot(path=str(tmp_path / "keyer_tuning.png"), full_page=True)
            page.click("#tune-copy")
            assert page.input_value("#tune-args") == "--keyer clip_black=0.3"
            number = page.locator("label[data-control=clip_white] input[type=number]")
            number.fill("0.2")  # below clip_black: refused, and said so
            number.dispatch_event("change")
            page.wait_for_function("document.getElementById('tune-status').classList.contains('error')", timeout=10_000)
            assert "clip_black must be below clip_white" in page.inner_text("#tune-status")
            number.fill("0.6")
            number.dispatch_event("change")
            page.wait_for_function("!document.getElementById('tune-status').classList.contains('error')", timeout=10_000)

            page.click("#tune-rerender")
            page.wait_for_url(lambda url: "/jobs/" in url and job["id"] not in url, timeout=30_000)
            again = page.url.rsplit("/", 1)[1]
            browser.close()
        rerun = httpx.get(f"{service.url}/v1/jobs/{again}", timeout=10).json()
        assert rerun["shot"] == "man_720p.mp4" and rerun["state"] in ("pending", "running") and "matte" in rerun["links"]
        httpx.post(f"{service.url}/v1/jobs/{again}/cancel", timeout=10)
    for name in ("finished_job", "keyer_tuning"):
        shutil.copy(tmp_path / f"{name}.png", tmp_path.parent / f"mattefarm_{name}.png")


def test_no_retry_is_offered_for_a_job_that_failed_on_its_input(tmp_path: Path) -> None:
    """The rule (:func:`api.job_facts.retry_helps`) from what the job records: an input error is permanent,
    a dead chunk is not; the page offers Retry only where it can help and the API refuses it alike."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from jobs.settings import Settings
    from jobs.tables import Job, State

    settings = Settings(home=tmp_path, redis_url=REDIS_URL)
    with TestClient(create_app(settings)) as client:
        with client.app.state.services.sessions() as session:  # type: ignore[attr-defined]
            session.add(Job(id="bad", input_uri="/farm/notes.mp4", output_uri="o.mp4", state=State.FAILED,
                            error="notes.mp4 has no video stream: pass a video file", error_kind="InputError"))
            session.add(Job(id="dead", input_uri="/farm/shot.mp4", output_uri="o.mp4", state=State.FAILED,
                            error="chunk 3 failed 3 times", error_kind="ChunkDead"))
            session.commit()
        bad, dead = client.get("/jobs/bad").text, client.get("/jobs/dead").text
        assert 'id="no-retry"' in bad and 'data-action="retry"' not in bad
        assert re.search(r'<button data-action="retry"\s*>', dead)
        assert client.get("/v1/jobs/bad").json()["retryable"] is False
        refused = client.post("/v1/jobs/bad/retry")
        assert refused.status_code == 409 and "failed on its input" in refused.json()["detail"]
        assert client.get("/v1/jobs/bad").json()["state"] == "failed"
        assert client.get("/v1/jobs/dead").json()["retryable"] is True
        preview = client.get("/v1/jobs/bad/preview")
        assert preview.status_code == 409 and "not ingested" in preview.json()["detail"]
        wrong = client.post("/v1/jobs/dead/rerender", json={"keyer": {"clip_black": 2}})
        assert wrong.status_code == 422 and "clip_black" in wrong.json()["detail"]


@pytest.mark.slow
def test_a_source_that_is_a_text_file_fails_the_job_without_a_retry(tmp_path: Path) -> None:
    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service:
        notes = service.farm / "notes.mp4"
        notes.write_text("not a video, a text file with a video's name\n")
        job = submit(service.url, None, {"source_uri": str(notes), "render": {"screen": "green"}})
        assert list(follow(service.url, job["id"], timeout_s=120))[-1]["state"] == "failed"
        final = httpx.get(f"{service.url}/v1/jobs/{job['id']}", timeout=10).json()
        assert final["error_kind"] == "InputError" and final["retryable"] is False
        assert httpx.post(f"{service.url}/v1/jobs/{job['id']}/retry", timeout=10).status_code == 409
