"""The keyer's edge controls where a person sets them: the dashboard's submit form (rendered with
FastAPI's TestClient), the API's job creation and the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models.keyer_params import EDGE_RANGES, KeyerParams
from tests.conftest import media

CLIP, PLATE = "faces/grid_bbaf2n.mpg", "backgrounds/skimage_rocket_launch.jpg"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    """The API and dashboard of an empty, open farm (Redis at a closed port: these pages need none)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from jobs.settings import Settings

    with TestClient(create_app(Settings(home=tmp_path, redis_url="redis://127.0.0.1:1/0"))) as test_client:
        yield test_client


def test_the_submit_form_offers_every_edge_control_with_its_default_and_range(client: Any) -> None:
    page = client.get("/").text
    form = page[page.index('<form id="submit-form"'):page.index("</form>")]
    defaults = KeyerParams()
    for name, low, high in EDGE_RANGES:
        match = re.search(rf'<input type="number" name="{name}" data-keyer="{name}" data-default="([^"]+)"\s+'
                          rf'min="([^"]+)" max="([^"]+)"', form)
        assert match, f"{name} is not in the submit form"
        assert float(match.group(1)) == getattr(defaults, name)
        assert (float(match.group(2)), float(match.group(3))) == (low, high)


@pytest.mark.parametrize(("controls", "says"), [({"shrink_grow": 40}, "shrink_grow is 40, out of its range [-16, 16]"),
                                                ({"softness": 1.5}, "softness takes a whole number"),
                                                ({"light_wrap": 2}, "light_wrap is 2, out of its range [0, 1]")])
def test_the_api_refuses_an_edge_control_out_of_range(client: Any, controls: dict[str, float], says: str) -> None:
    files = {"video": ("shot.mpg", Path(media(CLIP)).read_bytes()), "plate": ("plate.jpg", Path(media(PLATE)).read_bytes())}
    response = client.post("/v1/jobs", data={"options": json.dumps({"render": {"keyer": controls}})}, files=files)
    assert response.status_code == 422 and says in response.json()["detail"]


def test_the_cli_lists_and_checks_the_edge_controls(tmp_path: Path) -> None:
    env = {**os.environ, "MATTEFARM_HOME": str(tmp_path)}
    help_text = subprocess.run([sys.executable, "-m", "api.cli", "render", "--help"], capture_output=True, text=True,
                               env=env, check=True).stdout
    for name, _, _ in EDGE_RANGES:
        assert f"  {name} (default " in help_text
    bad = subprocess.run([sys.executable, "-m", "api.cli", "render", media(CLIP), "-o", str(tmp_path / "out.mp4"),
                          "--background", media(PLATE), "--keyer", "despot_white=-1"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "despot_white is -1, out of its range [0, 16]" in bad.stderr
    assert not (tmp_path / "out.mp4").exists()
