"""Webhooks on job end, to a real local HTTP receiver: one delivery per job end, the HMAC
signature verifies, and a receiver that is down when the job ends still gets it once up."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.api.test_service import Service, _wait_for, submit
from tests.clips import ClipSpec, make_clip

SECRET = "webhook-test-secret"


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST (path, headers, body)."""

    def __init__(self, port: int) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _attempts(database: Path, job_id: str) -> tuple[int, str | None]:
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        row = connection.execute(text("SELECT attempts, last_error FROM deliveries WHERE job_id = :j"), {"j": job_id}).first()
    engine.dispose()
    return (row[0], row[1]) if row else (0, None)


@pytest.mark.slow
def test_one_signed_delivery_per_job_end_even_when_the_receiver_was_down(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/hooks/mattefarm"
    env = {"MATTEFARM_WEBHOOK_SECRET": SECRET, "MATTEFARM_REAP_EVERY_S": "1"}
    with Service(tmp_path / "home", f"sqlite:///{tmp_path / 'service.db'}", **env) as service:
        clips = [make_clip(ClipSpec(f"hook{i}", frames=20), str(service.farm / f"hook{i}.mp4")) for i in range(2)]
        first = submit(service.url, None, {"source_uri": clips[0], "render": {"screen": "green"}, "webhook_url": url})
        _wait_for(service, first["id"], lambda j: j["state"] == "done", timeout_s=120)
        deadline = time.monotonic() + 30
        while (tries := _attempts(tmp_path / "service.db", first["id"]))[0] < 2:  # the receiver is down: it retries
            assert time.monotonic() < deadline, service.log_tail()
            time.sleep(0.5)
        assert tries[1] and "Connect" in tries[1]
        receiver = Receiver(port)
        try:
            deadline = time.monotonic() + 40
            while not receiver.calls:
                assert time.monotonic() < deadline, "the delivery arrived once the receiver was up"
                time.sleep(0.2)
            second = submit(service.url, None, {"source_uri": clips[1], "render": {"screen": "green"},
                                                "webhook_url": url})
            _wait_for(service, second["id"], lambda j: j["state"] == "done", timeout_s=120)
            deadline = time.monotonic() + 20
            while len(receiver.calls) < 2:
                assert time.monotonic() < deadline, service.log_tail()
                time.sleep(0.2)
            time.sleep(4)  # several sweeps later: still one delivery each
        finally:
            receiver.stop()
    assert len(receiver.calls) == 2
    bodies = {}
    for headers, body in receiver.calls:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-mattefarm-signature"], expected), "the signature verifies"
        assert headers["x-mattefarm-event"] == "job.ended" and headers["content-type"] == "application/json"
        event = json.loads(body)
        bodies[event["job_id"]] = event
    assert set(bodies) == {first["id"], second["id"]}
    for job_id, event in bodies.items():
        assert event["state"] == "done" and event["outputs"]["output"] == f"/v1/jobs/{job_id}/output"
        assert event["frames_done"] == event["frames_total"] == 20 and event["timings"]["seconds"] > 0
