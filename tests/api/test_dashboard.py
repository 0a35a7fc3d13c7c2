"""The dashboard in a real browser: Playwright drives Debian's chromium (headless)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_service import PLATE, Service
from tests.conftest import media

CLIP = "extra/autoeditor_man_on_green_screen.mp4"  # a real green-screen shot, 732 frames with audio


@pytest.mark.slow
def test_a_real_clip_submitted_in_the_browser_fills_its_chunk_strip_to_done(chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 760})
        page.goto(service.url)
        page.set_input_files("input[name=video]", media(CLIP))
        page.set_input_files("input[name=plate]", media(PLATE))
        page.select_option("select[name=screen]", "green")
        page.fill("input[name=chunk_seconds]", "2")
        page.click("form#submit-form button")
        page.wait_for_url("**/jobs/*", timeout=60_000)
        page.wait_for_selector(".strip .cell", timeout=60_000)  # the page reloads itself once chunks exist
        seen_running, seen_partial = False, False
        deadline = time.monotonic() + 180
        while (state := page.inner_text("#state")) != "done":  # one read: it may turn done between two
            assert state in ("pending", "running"), service.log_tail()
            assert time.monotonic() < deadline, service.log_tail()
            seen_running |= page.locator(".strip .cell.running").count() > 0
            widths = page.locator(".strip .cell .fill").evaluate_all("cells => cells.map(c => c.style.width)")
            seen_partial |= any(w not in ("0%", "100%", "") for w in widths)
            page.wait_for_timeout(100)
        cells = page.locator(".strip .cell")
        total = cells.count()
        assert total == 13 and page.locator(".strip .cell.done").count() == total  # 732 frames in 2 s chunks
        assert page.locator(".strip .cell .fill").evaluate_all("cells => cells.map(c => c.style.width)") == ["100%"] * total
        assert seen_running and seen_partial, "the strip filled while chunks rendered, not only at the end"
        page.wait_for_function("document.getElementById('finished').textContent !== '–'", timeout=10_000)
        assert page.inner_text("#fps") != "–"
        assert "disabled" not in (page.locator("#download").get_attribute("class") or "")
        page.wait_for_function("document.getElementById('preview').naturalWidth > 0", timeout=60_000)
        page.locator("details.log summary").first.click()
        page.wait_for_function("document.querySelector('details.log pre').textContent.includes('done:')", timeout=10_000)
        page.screenshot(path=str(tmp_path / "job_page.png"), full_page=True)
        job_id = page.url.rsplit("/", 1)[1]
        page.goto(service.url)
        assert "autoeditor_man_on_green_screen.mp4" in page.inner_text("#jobs")
        browser.close()
        job = httpx.get(f"{service.url}/v1/jobs/{job_id}", timeout=10).json()
        assert job["state"] == "done" and job["frames_done"] == job["frames_total"] == 732
    shutil.copy(tmp_path / "job_page.png", tmp_path.parent / "mattefarm_job_page.png")


@pytest.mark.slow
def test_with_tokens_on_the_dashboard_signs_in_and_shows_only_ones_own_jobs(chromium: str, tmp_path: Path) -> None:
    """Users exist: the browser is sent to the sign-in, the session cookie then carries the
    pages, their fetches and the job's event stream; another user's job stays hidden."""
    import subprocess
    import sys

    from playwright.sync_api import sync_playwright

    from tests.conftest import REPO

    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service:
        tokens = {}
        for user in ("alice", "bob"):
            made = subprocess.run([sys.executable, "-m", "api.cli", "token", "create", user], env=service.env, cwd=REPO,
                                  capture_output=True, text=True, timeout=60, check=True)
            tokens[user] = made.stdout.strip().splitlines()[-1]
        assert httpx.get(f"{service.url}/metrics", timeout=10).status_code == 401
        hidden = httpx.post(f"{service.url}/v1/jobs", headers={"Authorization": f"Bearer {tokens['bob']}"}, timeout=60,
                            data={"options": '{"render": {"codec": "prores4444"}}'},
                            files={"video": ("bobs_shot.flv", open(media("greenscreen/cremad_1001_DFA_SAD_XX.flv"), "rb"))})
        assert hidden.status_code == 202, hidden.text
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 760})
            page.goto(service.url)
            assert "/login" in page.url
            page.fill("input[name=token]", "mf_00000000_" + "x" * 43)
            page.click("form.login button")
            assert page.locator("#login-error").is_visible()
            page.fill("input[name=token]", tokens["alice"])
            page.click("form.login button")
            page.wait_for_url(f"{service.url}/", timeout=10_000)
            assert "alice" in page.inner_text("header") and page.locator("#open-farm").count() == 0
            page.set_input_files("input[name=video]", media("greenscreen/cremad_1001_DFA_HAP_XX.flv"))
            page.set_input_files("input[name=plate]", media(PLATE))
            page.fill("input[name=chunk_seconds]", "0.5")
            page.click("form#submit-form button")
            page.wait_for_url("**/jobs/*", timeout=60_000)
            page.wait_for_function("document.getElementById('state').textContent === 'done'", timeout=180_000)
            page.fill("#priority", "80")
            page.dispatch_event("#priority", "change")
            page.screenshot(path=str(tmp_path / "signed_in_job.png"), full_page=True)
            job_id = page.url.rsplit("/", 1)[1]
            page.goto(service.url)
            listing = page.inner_text("#jobs")
            assert "cremad_1001_DFA_HAP_XX.flv" in listing and "bobs_shot" not in listing
            assert page.goto(f"{service.url}/jobs/{hidden.json()['id']}").status == 404
            page.goto(f"{service.url}/logout")
            assert "/login" in page.url
            browser.close()
        alice = {"Authorization": f"Bearer {tokens['alice']}"}
        deadline = time.monotonic() + 10
        while httpx.get(f"{service.url}/v1/jobs/{job_id}", headers=alice, timeout=10).json()["priority"] != 80:
            assert time.monotonic() < deadline, "the priority control (a cookie-signed PATCH) landed"
            time.sleep(0.2)
        job = httpx.get(f"{service.url}/v1/jobs/{job_id}", headers=alice, timeout=10).json()
        assert job["owner"] == "alice" and job["state"] == "done"


@pytest.mark.slow
def test_the_workers_page_shows_two_workers_and_their_current_chunks(chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from tests.api.test_service import submit
    from tests.clips import ClipSpec, make_clip

    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service:
        service.start("worker2")
        jobs = []
        for i in range(2):  # x264's slowest preset holds both jobs running for minutes (cancelled below)
            clip = make_clip(ClipSpec(f"busy{i}", width=640, height=360, frames=600, x264="keyint=50"),
                             str(service.farm / f"busy{i}.mp4"))
            jobs.append(submit(service.url, None, {"source_uri": clip, "render": {"chunk_frames": 50, "screen": "green",
                                                                                  "preset": "placebo"}}))
        deadline = time.monotonic() + 180
        while True:
            workers = httpx.get(f"{service.url}/v1/workers", timeout=10).json()["workers"]
            busy = [w for w in workers if w["state"] == "busy" and w["chunks"]]
            if len(busy) == 2:
                break
            assert time.monotonic() < deadline, f"{workers}\n{service.log_tail()}"
            time.sleep(0.5)
        assert {w["job_id"] for w in busy} == {j["id"] for j in jobs} and len({w["pid"] for w in busy}) == 2
        assert all(w["device"] == "CPU" and w["nodes"] and w["queues"] == "cpu,render" for w in busy)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 500})
            page.goto(f"{service.url}/workers")
            rows = page.locator("#workers tbody tr")
            assert rows.count() == 2
            text = page.inner_text("#workers")
            assert page.locator("#workers tbody .state").all_inner_texts() == ["busy", "busy"]
            assert "busy0.mp4" in text and "busy1.mp4" in text
            assert page.locator(".chunks-now .mono").count() >= 2, "each row shows its chunk now"
            page.screenshot(path=str(tmp_path / "workers.png"), full_page=True)
            browser.close()
        for job in jobs:
            httpx.post(f"{service.url}/v1/jobs/{job['id']}/cancel", timeout=10)
    shutil.copy(tmp_path / "workers.png", tmp_path.parent / "mattefarm_workers.png")
