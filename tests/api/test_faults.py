"""The fault suite: real worker and API processes killed with SIGKILL, Ray actors killed by
pid, Redis databases flushed, while a job renders. Each job must still end done, with
decoded frames identical to an unfaulted render of the same job, its audio, and no chunk
completed twice.

Leases are short here (6 s, a sweep a second, lost messages rung after 3 s) so each
recovery fits a test; the live progress (db 7) and the broker (db 8) are separate
Redis databases so each can be lost on its own. The note of each test's recovery
time is printed (``pytest -s`` shows it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest
import redis

from tests.api.test_service import PLATE, REDIS_URL, Service, _cli, _wait_for, submit
from tests.clips import ClipSpec, frame_digest, make_clip
from tests.conftest import media

BROKER_URL = os.environ.get("MATTEFARM_TEST_BROKER_URL", "redis://127.0.0.1:6379/8")
FAST_LEASES = {"MATTEFARM_LEASE_S": "6", "MATTEFARM_REAP_EVERY_S": "1", "MATTEFARM_RING_AFTER_S": "3",
               "MATTEFARM_BROKER_URL": BROKER_URL}
RENDER = {"chunk_frames": 50, "screen": "green"}
FRAMES = 600
TERMINAL = ("done", "failed", "cancelled")

pytestmark = pytest.mark.slow


def _clip(folder: Path) -> str:
    """600 frames of 640x360 in 12 chunks: long enough that a fault lands mid-render."""
    return make_clip(ClipSpec("fault", width=640, height=360, frames=FRAMES, x264="keyint=50"), str(folder / "fault.mp4"))


def _digests(path: str) -> tuple[list[str], int]:
    """``(one SHA-256 per decoded video frame, audio frames)`` of a movie, streamed."""
    digests, audio = [], 0
    with av.open(path) as container:
        for packet in container.demux():
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    digests.append(frame_digest(frame))
                else:
                    audio += 1
    return digests, audio


def _output(service: Service, job_id: str, target: Path) -> tuple[list[str], int]:
    target.write_bytes(httpx.get(f"{service.url}/v1/jobs/{job_id}/output", timeout=60).content)
    return _digests(str(target))


def _completions(service: Service, job: dict) -> list[int]:
    """How many times each chunk was recorded done, from the chunk logs."""
    logs = [httpx.get(f"{service.url}/v1/jobs/{job['id']}/chunks/{c['index']}/log", timeout=10).text for c in job["chunks"]]
    return [sum(1 for line in log.splitlines() if " done: " in line) for log in logs]


def _mid_render(job: dict) -> bool:
    """A chunk is done and another is in flight (between chunks a kill would find nothing to try again)."""
    states = [c["state"] for c in job["chunks"]]
    return "done" in states and "running" in states and job["frames_done"] < FRAMES // 2


def _finish(service: Service, job_id: str, fault_at: float, reference: tuple[list[str], int], tmp: Path,
            label: str) -> dict:
    """Wait for the job's end, then check it against the unfaulted render; prints the recovery."""
    done = _wait_for(service, job_id, lambda j: j["state"] in TERMINAL, timeout_s=120)
    recovery = time.monotonic() - fault_at
    assert done["state"] == "done", f"{done}\n{service.log_tail()}"
    frames, audio = _output(service, job_id, tmp / f"{label}.mp4")
    assert len(frames) == FRAMES and audio == reference[1] > 0
    lost = sum(a != b for a, b in zip(frames, reference[0])) + abs(len(frames) - len(reference[0]))
    assert lost == 0, f"{lost} frames differ from the unfaulted render"
    assert _completions(service, done) == [1] * len(done["chunks"]), "no chunk completed twice"
    print(f"\nfault {label}: done {recovery:.1f} s after the fault, 0 frames lost, output identical")
    return done


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], int]]:
    """The unfaulted render of the fault clip: frame digests and audio frame count."""
    home = tmp_path_factory.mktemp("reference")
    with Service(home / "home", f"sqlite:///{home / 'service.db'}", **FAST_LEASES) as service:
        job = submit(service.url, None, {"source_uri": _clip(service.farm), "render": RENDER})
        done = _wait_for(service, job["id"], lambda j: j["state"] in TERMINAL, timeout_s=180)
        assert done["state"] == "done", service.log_tail()
        result = _output(service, job["id"], home / "reference.mp4")
    yield result  # its service is stopped: no second worker takes the broker's messages


@pytest.fixture(autouse=True)
def _clean_broker() -> Iterator[None]:
    broker = redis.Redis.from_url(BROKER_URL)
    broker.flushdb()
    yield
    broker.flushdb()


def _service(tmp_path: Path, **env: str) -> Service:
    return Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}", **{**FAST_LEASES, **env})


def test_worker_killed_mid_render_then_a_new_worker_finishes_the_job(reference, tmp_path: Path) -> None:  # noqa: ANN001
    with _service(tmp_path) as service:
        job = submit(service.url, None, {"source_uri": _clip(service.farm), "render": RENDER})
        _wait_for(service, job["id"], _mid_render)
        service.kill("worker")
        fault_at = time.monotonic()
        service.start("worker")
        done = _finish(service, job["id"], fault_at, reference, tmp_path, "worker-kill")
        assert max(c["attempts"] for c in done["chunks"]) == 2, "the chunks in flight were tried again"
        assert all(c["node_id"] and c["node_host"] for c in done["chunks"]), "chunk rows name their Ray node"


def _freeze_in_assembly(service: Service, job_id: str) -> Path | None:
    """Stop the worker's process group (SIGSTOP) the moment the job's assembly file appears;
    returns that file, or None (and lets the worker go on) when the assembly was already over."""
    outputs = service.farm.parent / "storage" / "outputs" / job_id
    deadline = time.monotonic() + 120
    while not (parts := list(outputs.glob("*.part-*"))):
        assert time.monotonic() < deadline, service.log_tail()
        time.sleep(0.002)
    os.killpg(service.procs["worker"].pid, signal.SIGSTOP)
    if parts[0].exists():
        return parts[0]
    os.killpg(service.procs["worker"].pid, signal.SIGCONT)
    return None


def test_worker_killed_during_assembly_leaves_no_part_file(reference, tmp_path: Path) -> None:  # noqa: ANN001
    with _service(tmp_path) as service:
        for _ in range(3):  # each try catches the assembly unless it ends within the poll's 2 ms
            job = submit(service.url, None, {"source_uri": _clip(service.farm), "render": RENDER})
            part = _freeze_in_assembly(service, job["id"])
            if part is not None:
                break
            _wait_for(service, job["id"], lambda j: j["state"] in TERMINAL)
        assert part is not None, "the worker was caught assembling"
        service.kill("worker")  # frozen mid-assembly, now killed
        fault_at = time.monotonic()
        service.start("worker")
        _finish(service, job["id"], fault_at, reference, tmp_path, "assembly-kill")
        assert not part.exists() and not list(part.parent.glob("*.part-*")), "the stale part file is removed"


def test_api_and_worker_killed_together_then_restarted(reference, tmp_path: Path) -> None:  # noqa: ANN001
    with _service(tmp_path) as service:
        job = submit(service.url, None, {"source_uri": _clip(service.farm), "render": RENDER})
        _wait_for(service, job["id"], _mid_render)
        service.kill("worker", "api")
        fault_at = time.monotonic()
        service.start("api")
        service.start("worker")
        service.wait_ready()
        _finish(service, job["id"], fault_at, reference, tmp_path, "api-and-worker-kill")


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...), from /proc."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            found += [int(c) for c in children]
            todo += [int(c) for c in children]
    return found


def _actor_pid(service: Service, kind: str) -> int:
    """The pid of the worker's Ray actor process of class ``kind`` (one the test's worker started)."""
    for pid in _descendants(service.procs["worker"].pid):
        try:
            if kind in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                return pid
        except FileNotFoundError:
            continue
    raise AssertionError(f"no {kind} actor under the worker\n{service.log_tail()}")


def test_progress_queue_and_render_actors_killed_mid_render(reference, tmp_path: Path) -> None:  # noqa: ANN001
    with _service(tmp_path) as service:
        job = submit(service.url, None, {"source_uri": _clip(service.farm), "render": RENDER})
        _wait_for(service, job["id"], _mid_render)
        os.kill(_actor_pid(service, "_QueueActor"), signal.SIGKILL)
        fault_at = time.monotonic()
        _wait_for(service, job["id"], lambda j: sum(c["state"] == "done" for c in j["chunks"]) >= 4)
        os.kill(_actor_pid(service, "RenderActor"), signal.SIGKILL)
        done = _finish(service, job["id"], fault_at, reference, tmp_path, "actors-kill")
        assert max(c["attempts"] for c in done["chunks"]) == 2, "the killed actor's chunk was tried again"
        second = submit(service.url, None, {"source_uri": _clip(service.farm), "render": RENDER})
        _finish(service, second["id"], time.monotonic(), reference, tmp_path, "next-job-after-actors-kill")


def test_sigterm_hands_the_job_back_and_the_worker_exits_cleanly(reference, tmp_path: Path) -> None:  # noqa: ANN001
    with _service(tmp_path) as service:
        job = submit(service.url, None, {"source_uri": _clip(service.farm), "render": RENDER})
        _wait_for(service, job["id"], _mid_render)
        worker = service.procs.pop("worker")
        worker.send_signal(signal.SIGTERM)
        fault_at = time.monotonic()
        assert worker.wait(timeout=60) == 0
        stopped_in = time.monotonic() - fault_at
        handed = _wait_for(service, job["id"], lambda j: all(c["state"] != "running" for c in j["chunks"]))
        assert handed["state"] == "running" and 0 < handed["frames_done"] < FRAMES, "handed back part way"
        assert "Traceback" not in service.worker_log(), service.worker_log()[-3000:]
        service.start("worker")
        done = _finish(service, job["id"], fault_at, reference, tmp_path, "sigterm")
        assert max(c["attempts"] for c in done["chunks"]) == 1, "a hand-back is not a failed attempt"
        print(f"the worker stopped {stopped_in:.1f} s after SIGTERM")


def test_live_progress_flushed_mid_render(reference, tmp_path: Path) -> None:  # noqa: ANN001
    with _service(tmp_path, MATTEFARM_BROKER_URL=REDIS_URL) as service:  # one database, as by default: both lost
        job = submit(service.url, None, {"source_uri": _clip(service.farm), "render": RENDER})
        _wait_for(service, job["id"], _mid_render)
        redis.Redis.from_url(REDIS_URL).flushdb()
        fault_at = time.monotonic()
        running = _wait_for(service, job["id"], lambda j: True)
        assert running["frames_done"] > 0, "progress is rebuilt from SQL"
        _finish(service, job["id"], fault_at, reference, tmp_path, "live-redis-flush")


def test_broker_queue_lost_while_a_job_waits_with_default_settings(reference, tmp_path: Path) -> None:  # noqa: ANN001
    env = {"MATTEFARM_BROKER_URL": BROKER_URL}  # default lease, sweep and ring times
    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}", **env) as service:
        service.kill("worker")
        job = submit(service.url, None, {"source_uri": _clip(service.farm), "render": RENDER})
        assert redis.Redis.from_url(BROKER_URL).flushdb()
        fault_at = time.monotonic()
        service.start("worker")
        done = _wait_for(service, job["id"], lambda j: j["state"] in TERMINAL, timeout_s=150)
        assert done["state"] == "done", service.log_tail()
        frames, audio = _output(service, job["id"], tmp_path / "lost.mp4")
        assert (frames, audio) == reference
        print(f"\nfault broker-flush (default settings): done {time.monotonic() - fault_at:.1f} s after the flush")


def test_submit_wait_follows_the_job_across_an_api_restart(tmp_path: Path) -> None:
    with _service(tmp_path) as service:
        clip = _clip(service.farm)
        follower = subprocess.Popen([sys.executable, "-m", "api.cli", "submit", clip, "--background", media(PLATE),
                                     "--screen", "green", "--chunk-frames", "50", "--wait", "--server", service.url],
                                    env=service.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (jobs := httpx.get(f"{service.url}/v1/jobs", timeout=10).json()["jobs"]) or jobs[0]["frames_done"] == 0:
            assert time.monotonic() < deadline and follower.poll() is None, service.log_tail()
            time.sleep(0.2)
        service.kill("api")
        time.sleep(2)
        service.start("api")
        service.wait_ready()
        out, err = follower.communicate(timeout=180)
        assert follower.returncode == 0, out + err + service.log_tail()
        assert ": done" in err
        assert _cli(service, "status", jobs[0]["id"]).returncode == 0
