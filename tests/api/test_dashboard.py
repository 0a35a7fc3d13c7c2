"""The dashboard in a real browser: Playwright drives Debian's chromium (headless)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_service import PLATE, Service, submit
from tests.clips import ClipSpec, make_clip

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_job_page_chunk_strip_fills_to_done(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "chromium is not installed: apt-get install chromium (.ci/run does)"
    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service:
        clip = make_clip(ClipSpec("shot", width=320, height=240, frames=300, x264="keyint=25"), str(service.farm / "shot_010.mp4"))
        job = submit(service.url, None, {"source_uri": clip, "render": {"chunk_frames": 25, "screen": "green"}, "owner": "browser"})
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 760})
            page.goto(f"{service.url}/jobs/{job['id']}")
            page.wait_for_selector(".strip .cell", timeout=60_000)  # the page reloads itself once chunks exist
            seen_running = False
            deadline = time.monotonic() + 120
            while page.inner_text("#state") != "done":
                assert time.monotonic() < deadline, service.log_tail()
                seen_running |= page.locator(".strip .cell.running").count() > 0
                page.wait_for_timeout(100)
            cells = page.locator(".strip .cell")
            total = cells.count()
            assert total == 12 and page.locator(".strip .cell.done").count() == total
            widths = [cells.nth(i).locator(".fill").evaluate("e => e.style.width") for i in range(total)]
            assert widths == ["100%"] * total
            assert seen_running, "the strip showed chunks rendering, not only the end"
            page.wait_for_function("document.getElementById('finished').textContent !== '–'", timeout=10_000)
            assert page.inner_text("#fps") != "–"
            assert "disabled" not in (page.locator("#download").get_attribute("class") or "")
            page.wait_for_function("document.getElementById('preview').naturalWidth > 0", timeout=30_000)
            page.locator("details.log summary").first.click()
            page.wait_for_function("document.querySelector('details.log pre').textContent.includes('done:')", timeout=10_000)
            page.screenshot(path=str(tmp_path / "job_page.png"), full_page=True)
            page.goto(service.url)
            assert "shot_010.mp4" in page.inner_text("#jobs")
            page.screenshot(path=str(tmp_path / "jobs_page.png"))
            browser.close()
        assert httpx.get(f"{service.url}/v1/jobs/{job['id']}", timeout=10).json()["state"] == "done"
        shutil.copy(tmp_path / "job_page.png", Path(tmp_path).parent / "mattefarm_job_page.png")
