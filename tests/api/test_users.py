"""Users, tokens and ownership: two users and an admin on every job route (the real app
in-process, SQLite, the machine's Redis), and the token commands of the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobs.db import make_engine, session_factory
from jobs.tables import Batch, Chunk, Job, Stage, State
from jobs.users import create_token
from tests.api.test_service import REDIS_URL
from tests.conftest import media

PLATE = media("backgrounds/skimage_rocket_launch.jpg")

JOB_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/v1/jobs/{id}", {}), ("GET", "/v1/jobs/{id}/events", {}), ("GET", "/v1/jobs/{id}/output", {}),
    ("GET", "/v1/jobs/{id}/matte", {}), ("GET", "/v1/jobs/{id}/preview.jpg", {}),
    ("GET", "/v1/jobs/{id}/chunks/0/log", {}), ("POST", "/v1/jobs/{id}/cancel", {}),
    ("POST", "/v1/jobs/{id}/pause", {}), ("POST", "/v1/jobs/{id}/resume", {}), ("POST", "/v1/jobs/{id}/retry", {}),
    ("PATCH", "/v1/jobs/{id}", {"json": {"priority": 60}}), ("DELETE", "/v1/jobs/{id}", {}),
    ("GET", "/jobs/{id}", {}),
]


@pytest.fixture()
def farm(tmp_path: Path) -> Iterator[tuple[Any, dict[str, str], dict[str, str]]]:
    """The app with users alice and bob and admin root; one job (and batch) each of alice and bob.

    Yields ``(client, tokens by user, job ids by owner)``.
    """
    from fastapi.testclient import TestClient

    from api.app import create_app
    from jobs.settings import Settings

    settings = Settings(home=tmp_path, redis_url=REDIS_URL)
    sessions = session_factory(make_engine(settings.resolved_database_url()))
    tokens, jobs = {}, {}
    with sessions() as session:
        for name, admin in (("alice", False), ("bob", False), ("root", True)):
            tokens[name] = create_token(session, name, admin)[1]
        for owner in ("alice", "bob"):
            output = tmp_path / f"{owner}.mp4"
            output.write_bytes(b"not really a movie")
            batch = Batch(name=f"{owner}'s reel", owner=owner)
            job = Job(input_uri=f"/farm/{owner}.mp4", output_uri=str(output), owner=owner, state=State.DONE,
                      stage=Stage.FINISHED, options={"background": PLATE}, batch=batch, frames_total=10, frames_done=10)
            job.chunks = [Chunk(index=0, frame_start=0, frame_end=10, preroll_start=0, state=State.DONE, frames_done=10)]
            session.add_all([batch, job])
            session.commit()
            jobs[owner] = job.id
            jobs[f"{owner}-batch"] = batch.id
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, tokens, jobs


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("method", "path", "extra"), JOB_ROUTES, ids=[f"{m} {p}" for m, p, _ in JOB_ROUTES])
def test_another_users_job_answers_404_on_every_route(farm, method: str, path: str, extra: dict) -> None:  # noqa: ANN001
    client, tokens, jobs = farm
    response = client.request(method, path.format(id=jobs["alice"]), headers=_as(tokens["bob"]), **extra)
    assert response.status_code == 404, response.text
    assert "alice" not in response.text
    own = client.request(method, path.format(id=jobs["bob"]), headers=_as(tokens["bob"]), **extra)
    assert own.status_code != 404 or "preview" in path or "matte" in path, own.text
    admin = client.request(method, path.format(id=jobs["alice"]), headers=_as(tokens["root"]), **extra)
    assert admin.status_code != 404 or "preview" in path or "matte" in path, admin.text


def test_lists_and_batches_show_only_ones_own(farm) -> None:  # noqa: ANN001
    client, tokens, jobs = farm
    for user, seen in (("alice", {jobs["alice"]}), ("bob", {jobs["bob"]}), ("root", {jobs["alice"], jobs["bob"]})):
        listing = client.get("/v1/jobs", headers=_as(tokens[user])).json()
        assert {j["id"] for j in listing["jobs"]} == seen and listing["total"] == len(seen)
    assert client.get(f"/v1/batches/{jobs['alice-batch']}", headers=_as(tokens["bob"])).status_code == 404
    assert client.get(f"/v1/batches/{jobs['alice-batch']}", headers=_as(tokens["alice"])).status_code == 200
    assert client.get(f"/v1/batches/{jobs['alice-batch']}", headers=_as(tokens["root"])).status_code == 200
    page = client.get("/", headers=_as(tokens["bob"]))
    assert page.status_code == 200 and "bob.mp4" in page.text and "alice.mp4" not in page.text


def test_once_users_exist_everything_but_health_needs_a_token(farm) -> None:  # noqa: ANN001
    client, tokens, jobs = farm
    for path in ("/v1/jobs", "/metrics", "/docs", "/openapi.json", f"/v1/jobs/{jobs['alice']}"):
        response = client.get(path)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer", path
        assert client.get(path, headers=_as("mf_00000000_" + "x" * 43)).status_code == 401
    assert client.get("/", headers={"Accept": "text/html"}, follow_redirects=False).headers["location"] == "/login?next=/"
    assert client.get("/healthz").json() == {"status": "ok"}
    assert "checks" in client.get("/readyz").json()
    metrics = client.get("/metrics", headers=_as(tokens["alice"]))
    assert metrics.status_code == 200 and "mattefarm_jobs" in metrics.text


def test_a_submitted_job_belongs_to_the_tokens_user_whatever_owner_it_names(farm) -> None:  # noqa: ANN001
    client, tokens, _ = farm
    with open(media("greenscreen/cremad_1001_DFA_HAP_XX.flv"), "rb") as video, open(PLATE, "rb") as plate:
        response = client.post("/v1/jobs", headers=_as(tokens["bob"]), data={"options": json.dumps({"owner": "alice"})},
                               files={"video": ("hap.flv", video), "plate": ("rocket.jpg", plate)})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["owner"] == "bob"
    assert client.delete(f"/v1/jobs/{job['id']}", headers=_as(tokens["alice"])).status_code == 404
    assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=_as(tokens["bob"])).status_code == 200


def test_dashboard_sign_in_sets_a_cookie_that_needs_the_csrf_header_for_controls(farm) -> None:  # noqa: ANN001
    client, tokens, jobs = farm
    bad = client.post("/login", data={"token": "nope"})
    assert bad.status_code == 401 and "not valid" in bad.text
    signed = client.post("/login", data={"token": tokens["alice"], "next": "//evil.example/"}, follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert client.get(f"/v1/jobs/{jobs['alice']}").status_code == 200, "the cookie signs fetches in"
    assert client.get(f"/v1/jobs/{jobs['bob']}").status_code == 404
    forged = client.patch(f"/v1/jobs/{jobs['alice']}", json={"priority": 70})
    assert forged.status_code == 403, "a cookie-signed control without the header is refused"
    ok = client.patch(f"/v1/jobs/{jobs['alice']}", json={"priority": 70}, headers={"X-Requested-With": "mattefarm"})
    assert ok.status_code == 200 and ok.json()["priority"] == 70
    client.get("/logout")
    assert client.get(f"/v1/jobs/{jobs['alice']}").status_code == 401


def test_a_revoked_token_stops_working(farm, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from api.cli import main

    client, tokens, _ = farm
    monkeypatch.setenv("MATTEFARM_HOME", str(tmp_path))
    assert main(["token", "create", "carol"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert client.get("/v1/jobs", headers=_as(token)).status_code == 200
    assert main(["token", "list"]) == 0
    assert "carol" in capsys.readouterr().err
    assert main(["token", "revoke", token.split("_")[1]]) == 0
    assert client.get("/v1/jobs", headers=_as(token)).status_code == 401
    assert main(["token", "create", "no spaces allowed"]) == 2


def test_an_open_farm_says_so(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from jobs.settings import Settings

    with TestClient(create_app(Settings(home=tmp_path, redis_url=REDIS_URL))) as client:
        assert client.get("/v1/jobs").status_code == 200
        assert "Open farm" in client.get("/").text
