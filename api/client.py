"""A small HTTP client of the Mattefarm API, used by ``mattefarm submit``, ``status`` and ``cancel``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from models.errors import InputError, MattefarmError

TERMINAL_STATES = ("done", "failed", "cancelled")


class ApiError(MattefarmError):
    """The API answered with a problem, or could not be reached."""


class MattefarmClient:
    """Talks to one Mattefarm API.

    Args:
        server: base URL, e.g. ``http://render-head:8000``. token: API token, if the server needs one.
    """

    def __init__(self, server: str, token: str | None = None, timeout_s: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.server = server.rstrip("/")
        hint = "pass --server http://HOST:PORT (or set MATTEFARM_SERVER)"
        if not self.server.startswith(("http://", "https://")):
            raise InputError(f"the server URL {server!r} is not an http:// or https:// URL", hint)
        try:
            self.http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout_s)
        except httpx.InvalidURL as exc:
            raise InputError(f"the server URL {server!r} is not valid ({exc})", hint) from exc

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach the Mattefarm API at {self.server} ({exc})",
                           "start it with 'mattefarm serve' or pass --server URL") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except json.JSONDecodeError:
                detail = response.text
            error = ApiError(f"{method} {path} failed ({response.status_code}): {detail}")
            error.exit_code = 2 if response.status_code < 500 else 1  # the request's fault, or the server's
            raise error
        return response.json() if response.content else None

    def submit(self, video: str, plate: str | None, options: dict[str, Any], face: str | None = None,
               reference: str | None = None, garbage: str | None = None, core: str | None = None) -> dict[str, Any]:
        """Upload a video (and plate, source face image, reference image, garbage and core mattes) with
        options; returns the job."""
        with ExitStack() as stack:
            files = {"video": (Path(video).name, stack.enter_context(open(video, "rb")))}
            for part, path in (("plate", plate), ("face", face), ("reference", reference), ("garbage", garbage),
                               ("core", core)):
                if path:
                    files[part] = (Path(path).name, stack.enter_context(open(path, "rb")))
            return self._call("POST", "/v1/jobs", files=files, data={"options": json.dumps(options)})

    def job(self, job_id: str) -> dict[str, Any]:
        """One job with its chunks."""
        return self._call("GET", f"/v1/jobs/{job_id}")

    def jobs(self, state: str | None = None, limit: int = 50) -> dict[str, Any]:
        """The newest jobs."""
        params: dict[str, Any] = {"limit": limit} | ({"state": state} if state else {})
        return self._call("GET", "/v1/jobs", params=params)

    def action(self, job_id: str, verb: str) -> dict[str, Any]:
        """``cancel``, ``pause``, ``resume`` or ``retry``; returns the job."""
        return self._call("POST", f"/v1/jobs/{job_id}/{verb}")

    def download(self, job_id: str, target: str) -> None:
        """Save the job's output to ``target``."""
        with self.http.stream("GET", f"/v1/jobs/{job_id}/output") as response:
            if response.status_code != 200:
                raise ApiError(f"downloading job {job_id} failed ({response.status_code})")
            with open(target, "wb") as out:
                for block in response.iter_bytes():
                    out.write(block)

    def events(self, job_id: str, reconnect_s: float = 120.0) -> Iterator[dict[str, Any]]:
        """The job's Server-Sent Events until it ends (the last event is its end state).

        A stream cut short (the API restarted, the network dropped) is opened again,
        once a second, and its first event is a fresh snapshot, so the end reported is
        the job's true one.

        Raises:
            ApiError: the API answered with a client error (no such job, no access), or
                could not be reached for ``reconnect_s`` seconds in a row.
        """
        lost_since: float | None = None
        while True:
            try:
                with self.http.stream("GET", f"/v1/jobs/{job_id}/events", timeout=httpx.Timeout(60, connect=10)) as stream:
                    if 400 <= stream.status_code < 500:
                        stream.read()
                        raise ApiError(f"following job {job_id} failed ({stream.status_code}): {stream.text}")
                    for line in stream.iter_lines() if stream.status_code == 200 else ():
                        if not line.startswith("data: "):
                            continue
                        lost_since = None
                        event = json.loads(line.removeprefix("data: "))
                        yield event
                        if event["type"] in ("state", "snapshot") and event["state"] in TERMINAL_STATES:
                            return
            except httpx.TransportError as exc:
                cause = str(exc)
            else:
                cause = "the stream ended early"
            lost_since = lost_since or time.monotonic()
            if time.monotonic() - lost_since > reconnect_s:
                raise ApiError(f"lost the event stream of job {job_id} for {reconnect_s:.0f} s ({cause})",
                               "run 'mattefarm status JOB'")
            time.sleep(1.0)

