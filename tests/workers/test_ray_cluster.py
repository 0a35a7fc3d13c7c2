"""Ray addressing: a private local Ray beside someone else's cluster, and a pool spread over
the nodes of a joined cluster. Real ``ray start`` clusters on this machine, killed by
process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.api.test_service import Service, _wait_for, submit
from tests.clips import ClipSpec, make_clip
from tests.conftest import REPO, media
from workers.probe import probe_video

RAY = str(Path(sys.executable).parent / "ray")
PLATE = media("backgrounds/skimage_rocket_launch.jpg")
CURRENT_CLUSTER = Path("/tmp/ray/ray_current_cluster")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayNode:
    """One ``ray start --block`` process (a head, or a node joining ``address``) in its own group."""

    def __init__(self, log: Path, cpus: int, port: int | None = None, address: str | None = None) -> None:
        args = [RAY, "start", "--block", f"--num-cpus={cpus}", "--disable-usage-stats"]
        args += [f"--address={address}"] if address else ["--head", f"--port={port}", "--include-dashboard=false"]
        # Nodes sharing one machine each need their own agent ports (the defaults are fixed numbers).
        args += [f"--{name}={_free_port()}" for name in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                                        "runtime-env-agent-port", "metrics-export-port")]
        env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
        env.pop("RAY_ADDRESS", None)
        self.proc = subprocess.Popen(args, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env,  # noqa: SIM115
                                     start_new_session=True)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def _wait_nodes(address: str, count: int, timeout_s: float = 90.0) -> None:
    """Wait until the cluster at ``address`` lists ``count`` alive nodes (asked from a child process)."""
    probe = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
             "print(sum(1 for n in ray.nodes() if n['Alive']))")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = subprocess.run([sys.executable, "-c", probe, address], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "RAY_AUTH_MODE": "disabled"})
        if result.returncode == 0 and result.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(1)
    raise AssertionError(f"the cluster at {address} did not reach {count} nodes")


@pytest.fixture()
def foreign_cluster(tmp_path: Path) -> Iterator[RayNode]:
    """A cluster someone else started with ``ray start --head`` (it writes Ray's current-cluster file)."""
    before = CURRENT_CLUSTER.read_text() if CURRENT_CLUSTER.exists() else None
    port = _free_port()
    head = RayNode(tmp_path / "foreign.log", cpus=1, port=port)
    _wait_nodes(f"127.0.0.1:{port}", 1)
    yield head
    head.kill()
    if before is None:  # the killed cluster's stale file would make any ray.init() with no address hang
        CURRENT_CLUSTER.unlink(missing_ok=True)
    else:
        CURRENT_CLUSTER.write_text(before)


def test_render_and_worker_never_join_a_foreign_cluster(foreign_cluster: RayNode, tmp_path: Path) -> None:
    clip = make_clip(ClipSpec("beside", width=640, height=360, frames=300, x264="keyint=50"), str(tmp_path / "beside.mp4"))
    env = {**os.environ, "MATTEFARM_HOME": str(tmp_path / "cli"), "RAY_AUTH_MODE": "disabled"}
    env.pop("MATTEFARM_RAY_ADDRESS", None)
    render = subprocess.Popen([sys.executable, "-m", "api.cli", "render", clip, "-o", str(tmp_path / "out.mp4"),
                               "--background", PLATE, "--screen", "green", "--chunk-frames", "50"],
                              env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}") as service:
        job = submit(service.url, None, {"source_uri": make_clip(ClipSpec("svc", width=640, height=360, frames=300,
                                                                           x264="keyint=50"), str(service.farm / "s.mp4")),
                                         "render": {"chunk_frames": 50, "screen": "green"}})
        _wait_for(service, job["id"], lambda j: j["frames_done"] > 0)
        foreign_cluster.kill()  # mid-render of both
        done = _wait_for(service, job["id"], lambda j: j["state"] in ("done", "failed"), timeout_s=180)
        assert done["state"] == "done", f"{done}\n{service.log_tail()}"
    out, err = render.communicate(timeout=300)
    assert render.returncode == 0, err
    assert probe_video(str(tmp_path / "out.mp4")).frame_count == 300


def test_the_default_pool_renders_on_every_node_of_a_joined_cluster(tmp_path: Path) -> None:
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = RayNode(tmp_path / "head.log", cpus=1, port=port)
    nodes = [head]
    try:
        _wait_nodes(address, 1)
        nodes.append(RayNode(tmp_path / "node.log", cpus=1, address=address))
        _wait_nodes(address, 2)
        clip = make_clip(ClipSpec("spread", width=320, height=240, frames=240, x264="keyint=20"), str(tmp_path / "s.mp4"))
        env = {**os.environ, "MATTEFARM_HOME": str(tmp_path / "cli"), "RAY_AUTH_MODE": "disabled"}
        result = subprocess.run([sys.executable, "-m", "api.cli", "render", clip, "-o", str(tmp_path / "out.mp4"),
                                 "--background", PLATE, "--screen", "green", "--chunk-frames", "20",
                                 "--ray-address", address], env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        engine = create_engine(f"sqlite:///{tmp_path / 'cli' / 'mattefarm.db'}")
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT node_id, node_host, state FROM chunks")).all()
        assert len(rows) == 12 and {state for _, _, state in rows} == {"done"}, rows
        assert len({node for node, _, _ in rows}) == 2, "chunks ran on both nodes"
        assert all(host for _, host, _ in rows)
    finally:
        for node in reversed(nodes):
            node.kill()
