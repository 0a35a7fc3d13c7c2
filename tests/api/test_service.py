"""Service mode end to end: the API (uvicorn), a real Celery worker on the machine's Redis, local Ray.

A real clip is submitted with a plate over HTTP, its Server-Sent Events are
followed to ``done``, and the downloaded output is checked for frame count and
audio; once with SQLite and once with the machine's PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import httpx
import pytest

from tests.clips import ClipSpec, make_clip
from tests.conftest import REPO, media
from workers.probe import probe_video

REDIS_URL = os.environ.get("MATTEFARM_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
POSTGRES_URL = os.environ.get("MATTEFARM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CLIP = "greenscreen/cremad_1001_DFA_HAP_XX.flv"
PLATE = "backgrounds/skimage_rocket_launch.jpg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """An API process and a Celery worker process sharing one environment.

    Each process runs in a process group of its own, so a test can kill one with
    everything it started (its local Ray included) by group id.
    """

    def __init__(self, home: Path, database_url: str, **env: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = home / "logs"
        self.logs.mkdir(parents=True)
        self.farm = home / "farm"  # the source root: files here may be submitted by path
        self.farm.mkdir()
        self.env = {
            **os.environ, "MATTEFARM_HOME": str(home), "MATTEFARM_DATABASE_URL": database_url,
            "MATTEFARM_REDIS_URL": REDIS_URL, "MATTEFARM_STORAGE_ROOT": str(home / "storage"),
            "RAY_AUTH_MODE": "disabled", "C_FORCE_ROOT": "1", "PYTHONPATH": str(REPO),
            "MATTEFARM_SOURCE_ROOTS": str(self.farm), **env,
        }
        self.env.pop("RAY_ADDRESS", None)
        self.procs: dict[str, subprocess.Popen] = {}
        self.starts = 0

    def start(self, name: str) -> None:
        """Start (or start again) the ``api`` or a worker (any other name: ``worker``, ``worker2``...)."""
        args = ["serve", "--port", str(self.port)] if name == "api" else ["worker", "--queues", "cpu,render"]
        self.starts += 1
        log = open(self.logs / f"{name}.{self.starts}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "api.cli", *args], env=self.env, cwd=REPO, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self, *names: str) -> None:
        """kill -9 of each named process's whole process group."""
        for name in names:
            proc = self.procs.pop(name)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def wait_ready(self) -> "Service":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert all(p.poll() is None for p in self.procs.values()), self.log_tail()
            time.sleep(0.3)
        raise AssertionError(f"the API did not become ready\n{self.log_tail()}")

    def __enter__(self) -> "Service":
        self.start("worker")
        self.start("api")
        return self.wait_ready()

    def log_tail(self) -> str:
        return "\n".join(f"--- {f.name}\n{f.read_text(errors='replace')[-3000:]}" for f in sorted(self.logs.glob("*.log")))

    def worker_log(self) -> str:
        """Every worker start's log, in order."""
        return "".join(f.read_text(errors="replace") for f in sorted(self.logs.glob("worker*.log")))

    def __exit__(self, *exc: object) -> None:
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def submit(url: str, clip: str | None, options: dict) -> dict:
    """POST a clip (or, with ``clip=None``, the options' ``source_uri``) and the plate as multipart;
    returns the 202 body."""
    with open(media(PLATE), "rb") as plate:
        files = {"plate": (Path(PLATE).name, plate)}
        if clip is not None:
            files["video"] = (Path(clip).name, open(media(clip), "rb"))  # noqa: SIM115 - closed by httpx
        response = httpx.post(f"{url}/v1/jobs", files=files, data={"options": json.dumps(options)}, timeout=60)
    assert response.status_code == 202, response.text
    return response.json()


def follow(url: str, job_id: str, timeout_s: float = 240.0) -> Iterator[dict]:
    """The job's Server-Sent Events, parsed, until the stream ends."""
    deadline = time.monotonic() + timeout_s
    with httpx.stream("GET", f"{url}/v1/jobs/{job_id}/events", timeout=httpx.Timeout(30, connect=5)) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                yield json.loads(line.removeprefix("data: "))
            assert time.monotonic() < deadline, f"job {job_id} did not end within {timeout_s} s"


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_submit_follow_events_and_download(database: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'service.db'}" if database == "sqlite" else POSTGRES_URL
    with Service(tmp_path / "home", url) as service:
        job = submit(service.url, CLIP, {"render": {"chunk_frames": 25}, "owner": "test"})
        assert job["state"] == "pending" and job["links"]["events"].endswith("/events")
        events = list(follow(service.url, job["id"]))
        assert events, service.log_tail()
        assert events[0]["type"] == "snapshot"
        assert events[-1]["state"] == "done", f"{events[-1]}\n{service.log_tail()}"
        progress = [e["frames_done"] for e in events if e["type"] == "progress"]
        assert progress, "live per-chunk progress was streamed"
        chunk_done = {e["chunk"]["index"] for e in events if e["type"] == "chunk" and e["chunk"]["state"] == "done"}
        final = httpx.get(f"{service.url}/v1/jobs/{job['id']}", timeout=10).json()
        assert chunk_done == {c["index"] for c in final["chunks"]} and len(chunk_done) >= 3
        assert final["frames_done"] == final["frames_total"] > 0
        output = tmp_path / "out.mp4"
        with httpx.stream("GET", f"{service.url}/v1/jobs/{job['id']}/output", timeout=60) as response:
            assert response.status_code == 200
            with open(output, "wb") as f:
                for block in response.iter_bytes():
                    f.write(block)
        source, result = probe_video(media(CLIP)), probe_video(str(output))
        assert result.frame_count == source.frame_count == final["frames_total"]
        assert len(result.audio) == len(source.audio) == 1
        ranged = httpx.get(f"{service.url}/v1/jobs/{job['id']}/output", headers={"Range": "bytes=0-99"}, timeout=10)
        assert ranged.status_code == 206 and len(ranged.content) == 100


@pytest.mark.slow
def test_cancel_stops_a_running_job_within_seconds_and_frees_the_workers(tmp_path: Path) -> None:
    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service:
        long_clip = make_clip(ClipSpec("long", width=320, height=240, frames=900, x264="keyint=50"), str(service.farm / "long.mp4"))
        job = submit(service.url, None, {"source_uri": long_clip, "render": {"chunk_frames": 100, "screen": "green"}})
        cancelled_at = None
        for event in follow(service.url, job["id"], timeout_s=120):
            if event["type"] == "progress" and cancelled_at is None:
                response = httpx.post(f"{service.url}/v1/jobs/{job['id']}/cancel", timeout=10)
                assert response.status_code == 200 and response.json()["state"] == "cancelled"
                cancelled_at = time.monotonic()
        assert cancelled_at is not None, service.log_tail()
        assert event["state"] == "cancelled"
        # The render task notices within a second and cancels its chunks on the actors; the
        # next job then renders at once (a chunk left running would hold the only actor).
        started = time.monotonic()
        second = submit(service.url, CLIP, {"render": {"chunk_frames": 25}})
        assert list(follow(service.url, second["id"], timeout_s=120))[-1]["state"] == "done", service.log_tail()
        assert time.monotonic() - started < 60
        deadline = time.monotonic() + 15  # the cancelled render task puts its stopped chunks back as it ends
        while True:
            final = httpx.get(f"{service.url}/v1/jobs/{job['id']}", timeout=10).json()
            states = [c["state"] for c in final["chunks"]]
            if "running" not in states or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert final["state"] == "cancelled" and final["frames_done"] < final["frames_total"]
        assert "running" not in states, f"{states}\n{service.log_tail()}"


def test_bad_options_get_a_problem_json_answer(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from jobs.settings import Settings

    settings = Settings(home=tmp_path, redis_url=REDIS_URL)
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/jobs", data={"options": json.dumps({"render": {"crf": 99}})},
                               files={"video": ("a.mp4", b"not a video")})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 422 and any("crf" in e["field"] for e in body["errors"])
        keyer = client.post("/v1/jobs", data={"options": json.dumps({"render": {"codec": "prores4444", "keyer": {"clip_black": 0.9}}})},
                            files={"video": ("a.mp4", b"not a video")})
        assert keyer.status_code == 422 and "clip_black must be below" in keyer.text
        unknown = client.post("/v1/jobs", data={"options": json.dumps({"render": {"codec": "prores4444", "keyer": {"clip_blak": 0.1}}})},
                              files={"video": ("a.mp4", b"not a video")})
        assert unknown.status_code == 422 and "unknown keyer control clip_blak" in unknown.text
        assert client.get("/v1/jobs/nope").json()["status"] == 404
        outside = client.post("/v1/jobs", data={"options": json.dumps({"source_uri": "/etc/passwd"})})
        assert outside.status_code == 403 and "source root" in outside.json()["detail"]


def _cli(service: Service, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args, "--server", service.url], env=service.env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_submit_wait_shows_progress_and_cancel_stops_a_job(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Service(home, f"sqlite:///{tmp_path / 'service.db'}") as service:
        done = _cli(service, "submit", media(CLIP), "--background", media(PLATE), "--chunk-frames", "25",
                    "--keyer", "temporal_min=0.4", "--wait")  # the temporal filter on: chunks carry a pre-roll
        assert done.returncode == 0, done.stdout + done.stderr + service.log_tail()
        assert "submitted" in done.stderr and ": done" in done.stderr
        # x264's slowest preset on 640x360 holds the job running for minutes here (and long on any
        # machine), so the cancel lands on a running render whatever the machine's speed.
        long_clip = make_clip(ClipSpec("long", width=640, height=360, frames=900, x264="keyint=50"), str(tmp_path / "long.mp4"))
        submitted = _cli(service, "submit", long_clip, "--background", media(PLATE), "--screen", "green",
                         "--chunk-frames", "100", "--preset", "placebo")
        job_id = submitted.stderr.split("as job ")[1].split()[0]
        deadline = time.monotonic() + 60
        while httpx.get(f"{service.url}/v1/jobs/{job_id}", timeout=10).json()["frames_done"] == 0:
            assert time.monotonic() < deadline, service.log_tail()
            time.sleep(0.2)
        started = time.monotonic()
        cancelled = _cli(service, "cancel", job_id)
        assert cancelled.returncode == 0, cancelled.stderr
        assert time.monotonic() - started < 10, "cancel returns within seconds, with the render stopped"
        status = _cli(service, "status", job_id)
        assert "cancelled" in status.stderr and "running" not in status.stderr
        listing = _cli(service, "status")
        assert job_id[:12] in listing.stderr and "long.mp4" in listing.stderr, listing.stderr
        assert "…" not in listing.stderr, "a piped table is not cut to 80 columns"
        invalid = _cli(service, "submit", long_clip, "--background", media(PLATE), "--crf", "99", "--screen", "purple")
        assert invalid.returncode == 2 and "render.crf" in invalid.stderr and "render.screen" in invalid.stderr


JOBS = 50


@pytest.mark.slow
def test_fifty_jobs_at_once_on_two_workers_each_finish_exactly_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service:
        service.start("worker2")  # two workers race for every message: the leases let one of them have it
        shots = [make_clip(ClipSpec(f"shot{i:02d}", frames=30 + i % 20, x264="keyint=10"),
                           str(service.farm / f"shot_{i:02d}.mp4")) for i in range(JOBS)]
        options = [{"source_uri": s, "render": {"chunk_frames": 12, "screen": "green"}} for s in shots]
        with ThreadPoolExecutor(8) as pool:
            jobs = list(pool.map(lambda o: submit(service.url, None, o), options))
        deadline = time.monotonic() + 600
        while True:
            states = [httpx.get(f"{service.url}/v1/jobs/{j['id']}", timeout=10).json() for j in jobs]
            if all(s["state"] in ("done", "failed", "cancelled") for s in states):
                break
            assert time.monotonic() < deadline, service.log_tail()
            time.sleep(1)
        for i, state in enumerate(states):
            assert state["state"] == "done", state
            assert all(c["attempts"] == 1 and c["state"] == "done" for c in state["chunks"])
            output = tmp_path / f"out{i}.mp4"
            output.write_bytes(httpx.get(f"{service.url}/v1/jobs/{state['id']}/output", timeout=30).content)
            assert probe_video(str(output)).frame_count == 30 + i % 20
            logs = [httpx.get(f"{service.url}/v1/jobs/{state['id']}/chunks/{c['index']}/log", timeout=10).text
                    for c in state["chunks"]]
            assert [log.count(" done: ") for log in logs] == [1] * len(logs), "each chunk completed once"
        log = service.worker_log()
        for stage in ("ingest", "render", "assemble"):
            assert log.count(f"Task mattefarm.{stage}[") == 2 * JOBS, f"each {stage} task received and finished once"
        assert len({w for w in ("worker.1.log", "worker2.3.log") if "mattefarm.render[" in
                    (service.logs / w).read_text()}) == 2, "both workers rendered"
        listing = httpx.get(f"{service.url}/", timeout=10).text
        assert all(f"shot_{i:02d}.mp4" in listing for i in range(JOBS)), "the dashboard lists every job"
        metrics = httpx.get(f"{service.url}/metrics", timeout=10).text
        chunks = sum(len(s["chunks"]) for s in states)
        frames = sum(30 + i % 20 for i in range(JOBS))
        for line in (f'mattefarm_jobs{{state="done"}} {JOBS}.0', f"mattefarm_frames_rendered_total {frames}.0",
                     f'mattefarm_chunk_seconds_bucket{{le="+Inf"}} {chunks}.0', 'mattefarm_queue_depth{queue="render"} 0.0'):
            assert line in metrics, metrics


def _wait_for(service: Service, job_id: str, check, timeout_s: float = 60.0) -> dict:  # noqa: ANN001 - predicate
    deadline = time.monotonic() + timeout_s
    while True:
        job = httpx.get(f"{service.url}/v1/jobs/{job_id}", timeout=10).json()
        if check(job):
            return job
        assert time.monotonic() < deadline, f"{job}\n{service.log_tail()}"
        time.sleep(0.2)


@pytest.mark.slow
def test_pause_resume_and_retry_render_only_what_is_left(tmp_path: Path) -> None:
    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service:
        clip = make_clip(ClipSpec("long", width=640, height=360, frames=600, x264="keyint=50"), str(service.farm / "long.mp4"))
        options = {"source_uri": clip, "render": {"chunk_frames": 50, "screen": "green"}}
        job = submit(service.url, None, options)
        _wait_for(service, job["id"], lambda j: any(c["state"] == "done" for c in j["chunks"]))
        assert httpx.post(f"{service.url}/v1/jobs/{job['id']}/pause", timeout=10).json()["state"] == "paused"
        paused = _wait_for(service, job["id"], lambda j: all(c["state"] != "running" for c in j["chunks"]))
        kept = [c["index"] for c in paused["chunks"] if c["state"] == "done"]
        assert 0 < len(kept) < len(paused["chunks"]), "paused part way, finished chunks kept"
        time.sleep(1.5)
        assert httpx.get(f"{service.url}/v1/jobs/{job['id']}", timeout=10).json()["state"] == "paused", "nothing runs while paused"
        assert httpx.post(f"{service.url}/v1/jobs/{job['id']}/resume", timeout=10).status_code == 200
        done = _wait_for(service, job["id"], lambda j: j["state"] in ("done", "failed"), timeout_s=120)
        assert done["state"] == "done", done
        assert all(c["attempts"] == 1 for c in done["chunks"] if c["index"] in kept), "finished chunks were not rendered again"
        assert httpx.post(f"{service.url}/v1/jobs/{job['id']}/pause", timeout=10).status_code == 409

        second = submit(service.url, None, options)
        assert httpx.patch(f"{service.url}/v1/jobs/{second['id']}", json={"priority": 90}, timeout=10).json()["priority"] == 90
        assert httpx.patch(f"{service.url}/v1/jobs/{second['id']}", json={"priority": 101}, timeout=10).status_code == 422
        _wait_for(service, second["id"], lambda j: j["frames_done"] > 0)
        assert httpx.post(f"{service.url}/v1/jobs/{second['id']}/cancel", timeout=10).status_code == 200
        _wait_for(service, second["id"], lambda j: all(c["state"] != "running" for c in j["chunks"]))
        assert httpx.post(f"{service.url}/v1/jobs/{second['id']}/retry", timeout=10).json()["state"] == "pending"
        retried = _wait_for(service, second["id"], lambda j: j["state"] in ("done", "failed"), timeout_s=120)
        assert retried["state"] == "done" and retried["frames_done"] == 600, retried


@pytest.mark.slow
def test_a_batch_of_shots_shares_options_and_aggregates_state(tmp_path: Path) -> None:
    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service:
        paths = [make_clip(ClipSpec(f"b{i}", frames=20 + i, x264="keyint=10"), str(service.farm / f"reel1_{i}.mp4"))
                 for i in range(2)]
        options = {"name": "reel 1", "source_uris": paths, "render": {"chunk_frames": 10, "screen": "green"}, "priority": 70}
        with open(media(PLATE), "rb") as plate, open(media(CLIP), "rb") as video:
            response = httpx.post(f"{service.url}/v1/batches", timeout=60, data={"options": json.dumps(options)},
                                  files=[("videos", (Path(CLIP).name, video)), ("plate", (Path(PLATE).name, plate))])
        assert response.status_code == 202, response.text
        batch = response.json()
        assert len(batch["jobs"]) == 3 and batch["state"] in ("pending", "running")
        assert {j["priority"] for j in batch["jobs"]} == {70}
        deadline = time.monotonic() + 120
        while (batch := httpx.get(f"{service.url}/v1/batches/{batch['id']}", timeout=10).json())["state"] != "done":
            assert batch["state"] in ("pending", "running") and time.monotonic() < deadline, f"{batch}\n{service.log_tail()}"
            time.sleep(0.5)
        assert sorted(j["frames_total"] for j in batch["jobs"]) == [20, 21, 56]
        assert batch["frames_done"] == batch["frames_total"] == 97


@pytest.mark.slow
def test_submit_a_face_swap_with_its_source_image_and_a_reference_still(tmp_path: Path) -> None:
    with av.open(media("faces/grid_lbax4n.mpg")) as container:  # a still of the actor grabbed from the footage
        still = next(f for i, f in enumerate(container.decode(video=0)) if i == 10).to_ndarray(format="bgr24")
    cv2.imwrite(str(tmp_path / "actor.png"), still)
    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service:
        with (open(media("faces/grid_lbax4n.mpg"), "rb") as video,
              open(media("faces/wh_obama_official_portrait.jpg"), "rb") as face, open(tmp_path / "actor.png", "rb") as ref):
            files = {"video": ("grid.mpg", video), "face": ("obama.jpg", face), "reference": ("actor.png", ref)}
            options = {"render": {"no_key": True, "face_mode": "reference", "chunk_frames": 25}}
            response = httpx.post(f"{service.url}/v1/jobs", files=files, data={"options": json.dumps(options)}, timeout=60)
        assert response.status_code == 202, response.text
        events = list(follow(service.url, response.json()["id"]))
        assert events[-1]["state"] == "done", f"{events[-1]}\n{service.log_tail()}"
        final = httpx.get(f"{service.url}/v1/jobs/{response.json()['id']}", timeout=10).json()
        assert final["faces"]["stats"]["targets"] == 1 and final["faces"]["stats"]["target_frames"] == 75
        assert final["frames_done"] == 75


@pytest.mark.slow
def test_a_control_undone_at_once_still_renders_the_job_once(tmp_path: Path) -> None:
    """Cancel then retry, and pause then resume, each before the render task polls the job:
    the old run's render stops and the new run renders every frame (no stale chunk rows)."""
    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service:
        clip = make_clip(ClipSpec("undo", width=320, height=240, frames=300, x264="keyint=50"), str(service.farm / "undo.mp4"))
        options = {"source_uri": clip, "render": {"chunk_frames": 50, "screen": "green"}}
        for stop, again in (("cancel", "retry"), ("pause", "resume")):
            job = submit(service.url, None, options)
            _wait_for(service, job["id"], lambda j: j["frames_done"] > 0)
            assert httpx.post(f"{service.url}/v1/jobs/{job['id']}/{stop}", timeout=10).status_code == 200
            assert httpx.post(f"{service.url}/v1/jobs/{job['id']}/{again}", timeout=10).json()["state"] == "pending"
            done = _wait_for(service, job["id"], lambda j: j["state"] in ("done", "failed"), timeout_s=120)
            assert done["state"] == "done" and done["frames_done"] == 300, (stop, done, service.log_tail())
            output = tmp_path / f"{stop}.mp4"
            output.write_bytes(httpx.get(f"{service.url}/v1/jobs/{job['id']}/output", timeout=30).content)
            assert probe_video(str(output)).frame_count == 300
