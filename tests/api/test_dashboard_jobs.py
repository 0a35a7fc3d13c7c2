"""The dashboard's job list in a real browser: filters, batch groups, actions on several jobs at once."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_service import CLIP, Service, submit
from tests.conftest import media

LONG = "extra/autoeditor_man_on_green_screen.mp4"  # real 720p green screen, 732 frames: minutes at x264's placebo


def _frames(text: str) -> tuple[int, int]:
    done, total = re.search(r"(\d+)/(\d+)", text).groups()  # type: ignore[union-attr]
    return int(done), int(total)


@pytest.mark.slow
def test_the_job_list_filters_groups_a_batch_and_acts_on_several_jobs(chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service:
        alone = submit(service.url, CLIP, {"owner": "ben", "render": {"chunk_frames": 25}})  # done before the batch
        deadline = time.monotonic() + 180
        while httpx.get(f"{service.url}/v1/jobs/{alone['id']}", timeout=10).json()["state"] != "done":
            assert time.monotonic() < deadline, service.log_tail()
            time.sleep(0.5)
        uris = []
        for name in ("shot_010.mp4", "shot_020.mp4", "shot_030.mp4"):
            shutil.copy(media(LONG), service.farm / name)
            uris.append(str(service.farm / name))
        options = {"name": "reel 7", "owner": "ana", "source_uris": uris,
                   "render": {"chunk_frames": 60, "screen": "green", "preset": "placebo"}}
        with open(media("backgrounds/skimage_rocket_launch.jpg"), "rb") as plate:
            made = httpx.post(f"{service.url}/v1/batches", data={"options": json.dumps(options)},
                              files={"plate": ("plate.jpg", plate)}, timeout=60)
        assert made.status_code == 202, made.text
        batch = made.json()
        ids = {Path(j["shot"]).name: j["id"] for j in batch["jobs"]}

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1700, "height": 520})
            page.goto(service.url)
            group = page.locator("#jobs tr.batch-row")
            assert group.count() == 1 and "reel 7" in group.inner_text() and "3 jobs" in group.inner_text()
            members = page.locator(f"#jobs tr[data-in-batch='{batch['id']}']")
            assert sorted(members.locator("td.shot").all_inner_texts()) == sorted(ids)
            assert page.locator("#jobs tr[data-job]:not(.in-batch)").count() == 1  # ben's job stands alone
            # the group's progress is its jobs' together (one page, one moment)
            parts = [_frames(t) for t in members.locator("td.wide").all_inner_texts()]
            assert _frames(group.locator(".batch-frames").inner_text()) == tuple(map(sum, zip(*parts)))
            alone_row = page.locator(f"#jobs tr[data-job='{alone['id']}']").inner_text()
            assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", alone_row)) == 3, "submitted, started, finished"

            group.locator("button.toggle").click()
            assert all(not members.nth(i).is_visible() for i in range(3))
            page.screenshot(path=str(tmp_path / "jobs_collapsed.png"), full_page=True)
            group.locator("button.toggle").click()
            assert all(members.nth(i).is_visible() for i in range(3))

            # several jobs at once: the batch's box selects its three, one is unticked, two are cancelled
            group.locator(".select-batch").check()
            assert page.inner_text("#selected-count") == "3 selected"
            page.locator(f"tr[data-job='{ids['shot_010.mp4']}'] .select-job").uncheck()
            page.click("button[data-bulk=cancel]")
            page.wait_for_function("document.getElementById('bulk-result').textContent.startsWith('cancel: 2 of 2 done')")
            states = {name: httpx.get(f"{service.url}/v1/jobs/{i}", timeout=10).json()["state"] for name, i in ids.items()}
            assert states["shot_020.mp4"] == states["shot_030.mp4"] == "cancelled" and states["shot_010.mp4"] != "cancelled"
            # pausing them now is refused by each job's own rule, and said so
            page.click("button[data-bulk=pause]")
            page.wait_for_function("document.getElementById('bulk-result').textContent.startsWith('pause: 0 of 2 done')")
            assert "only a pending or running job can be paused" in page.inner_text("#bulk-result")
            page.screenshot(path=str(tmp_path / "jobs_bulk.png"), full_page=True)
            page.click("button[data-bulk=retry]")
            page.wait_for_function("document.getElementById('bulk-result').textContent.startsWith('retry: 2 of 2 done')")
            assert httpx.get(f"{service.url}/v1/jobs/{ids['shot_020.mp4']}", timeout=10).json()["state"] in ("pending", "running")

            # filters: text in the file name, owner, batch, state
            page.fill("input[name=q]", "020")
            page.click("#filters button")
            page.wait_for_url("**q=020**")
            assert page.locator("#jobs td.shot").all_inner_texts() == ["shot_020.mp4"]
            assert "3 jobs, 1 shown" in page.locator("#jobs tr.batch-row").inner_text()
            page.goto(f"{service.url}/?q=SHOT_0")  # any case
            assert page.locator("#jobs tr[data-job]").count() == 3
            page.goto(service.url)
            page.select_option("select[name=owner]", "ben")
            page.wait_for_url("**owner=ben**")
            assert page.locator("#jobs td.shot").all_inner_texts() == [Path(CLIP).name]
            assert page.locator("#jobs tr.batch-row").count() == 0
            page.goto(service.url)
            page.select_option("select[name=batch]", batch["id"])
            page.wait_for_url(f"**batch={batch['id']}**")
            assert sorted(page.locator("#jobs td.shot").all_inner_texts()) == sorted(ids)
            page.goto(service.url)
            page.select_option("select[name=state]", "done")
            page.wait_for_url("**state=done**")
            assert page.locator("#jobs td.shot").all_inner_texts() == [Path(CLIP).name]
            page.goto(f"{service.url}/?q=nothing_like_this")
            assert "No job matches these filters" in page.inner_text("#jobs")
            page.goto(f"{service.url}/?q=shot_0")
            page.screenshot(path=str(tmp_path / "jobs_filtered.png"), full_page=True)
            browser.close()
        for job_id in ids.values():
            httpx.post(f"{service.url}/v1/jobs/{job_id}/cancel", timeout=10)
    for name in ("jobs_collapsed", "jobs_bulk", "jobs_filtered"):
        shutil.copy(tmp_path / f"{name}.png", tmp_path.parent / f"mattefarm_{name}.png")


def test_the_list_api_filters_by_owner_batch_and_file_name_text(tmp_path: Path) -> None:
    """``GET /v1/jobs`` with ``owner``, ``batch`` and ``q``: LIKE's own characters in ``q`` are taken literally."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from jobs.settings import Settings
    from jobs.tables import Batch, Job
    from tests.api.test_service import REDIS_URL

    settings = Settings(home=tmp_path, redis_url=REDIS_URL)
    with TestClient(create_app(settings)) as client:
        with client.app.state.services.sessions() as session:  # type: ignore[attr-defined]
            session.add(Batch(id="b1", name="reel"))
            for i, (name, owner, batch) in enumerate([("a_100%.mp4", "ana", "b1"), ("a_1000.mp4", "ana", None),
                                                      ("ab100.mov", "ben", "b1")]):
                session.add(Job(id=f"j{i}", input_uri=f"/farm/shot_{i}/{name}", output_uri="out.mp4", owner=owner,
                                batch_id=batch))
            session.commit()
        listed = lambda **query: sorted(j["shot"] for j in client.get("/v1/jobs", params=query).json()["jobs"])  # noqa: E731
        assert listed(q="100%") == ["a_100%.mp4"]
        assert listed(q="A_1") == ["a_100%.mp4", "a_1000.mp4"]  # '_' is a character, not LIKE's wildcard
        assert listed(q="shot") == []  # the folder is not the file name
        assert listed(owner="ana") == ["a_100%.mp4", "a_1000.mp4"]
        assert listed(batch="b1") == ["a_100%.mp4", "ab100.mov"]
        assert listed(batch="b1", owner="ben") == ["ab100.mov"]
        assert client.get("/v1/jobs", params={"q": "x" * 300}).status_code == 422
