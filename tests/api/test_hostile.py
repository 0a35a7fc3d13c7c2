"""Hostile input over the API and the CLI: each case has its expected status (or exit code)
and message; never a 5xx, never a traceback, and a refused request leaves no upload behind.

The API runs in-process (the real app on the machine's Redis, SQLite); the CLI runs its
real entry point in-process with its own home.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_service import REDIS_URL
from tests.conftest import media

PLATE = media("backgrounds/skimage_rocket_launch.jpg")
CLIP = media("greenscreen/cremad_1001_DFA_HAP_XX.flv")
JUNK = b"these are not frames\n"


@dataclass(frozen=True)
class Case:
    """One request: method, path, query, JSON body, multipart options and files; what must come back."""

    name: str
    method: str
    path: str
    status: int
    says: str
    params: dict[str, Any] = field(default_factory=dict)
    options: Any = None
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    body: Any = None


def _submit(name: str, status: int, says: str, options: Any = None, **files: tuple[str, bytes]) -> Case:
    sent = {"video": ("clip.flv", Path(CLIP).read_bytes()), "plate": ("plate.jpg", Path(PLATE).read_bytes())}
    sent.update(files)
    return Case(name, "POST", "/v1/jobs", status, says, options=options if options is not None else {},
                files={k: v for k, v in sent.items() if v is not None})


LONG = "x" * 300
API_CASES = [
    Case("offset 2^63", "GET", "/v1/jobs", 422, "offset", params={"offset": 2**63}),
    Case("negative offset", "GET", "/v1/jobs", 422, "offset", params={"offset": -1}),
    Case("limit 0", "GET", "/v1/jobs", 422, "limit", params={"limit": 0}),
    Case("limit 10^6", "GET", "/v1/jobs", 422, "limit", params={"limit": 10**6}),
    Case("unknown state", "GET", "/v1/jobs", 422, "state", params={"state": "bogus"}),
    Case("NUL in job id", "GET", "/v1/jobs/ab%00cd", 404, "no such job"),
    Case("300-character job id", "GET", f"/v1/jobs/{LONG}", 404, "no such job"),
    Case("job id with spaces", "GET", "/v1/jobs/a%20b", 404, "no such job"),
    Case("unknown job", "GET", "/v1/jobs/0123456789abcdef0123456789abcdef", 404, "there is no job"),
    Case("output of unknown job", "GET", "/v1/jobs/nope/output", 404, "there is no job"),
    Case("matte of NUL id", "GET", "/v1/jobs/%00/matte", 404, "no such job"),
    Case("preview of unknown job", "GET", "/v1/jobs/nope/preview.jpg", 404, "there is no job"),
    Case("events of NUL id", "GET", "/v1/jobs/a%00/events", 404, "no such job"),
    Case("huge chunk index", "GET", "/v1/jobs/nope/chunks/99999999999999999999999/log", 404, "there is no job"),
    Case("log lines 0", "GET", "/v1/jobs/nope/chunks/0/log", 422, "lines", params={"lines": 0}),
    Case("cancel unknown", "POST", "/v1/jobs/nope/cancel", 404, "there is no job"),
    Case("retry NUL id", "POST", "/v1/jobs/%00/retry", 404, "no such job"),
    Case("patch unknown", "PATCH", "/v1/jobs/nope", 404, "there is no job", body={"priority": 5}),
    Case("patch priority -1", "PATCH", "/v1/jobs/nope", 422, "priority", body={"priority": -1}),
    Case("patch extra field", "PATCH", "/v1/jobs/nope", 422, "owner", body={"priority": 5, "owner": "x"}),
    Case("delete unknown", "DELETE", "/v1/jobs/nope", 404, "there is no job"),
    Case("batch NUL id", "GET", "/v1/batches/%00", 404, "no such batch"),
    Case("no footage", "POST", "/v1/jobs", 422, "send the footage", options={}),
    Case("options not JSON", "POST", "/v1/jobs", 422, "not JSON", options="{nope"),
    Case("options a list", "POST", "/v1/jobs", 422, "not valid", options=[1, 2]),
    Case("options nested deep", "POST", "/v1/jobs", 422, "options", options="[" * 100_000),
    Case("NUL in source_uri", "POST", "/v1/jobs", 422, "NUL", options={"source_uri": "/tmp/a\x00b.mp4"}),
    Case("5000-character source_uri", "POST", "/v1/jobs", 422, "source_uri", options={"source_uri": "/" + "a" * 5000}),
    Case("source_uri outside the roots", "POST", "/v1/jobs", 403, "source root", options={"source_uri": "/etc/passwd"}),
    Case("NUL in owner", "POST", "/v1/jobs", 422, "owner contains a NUL", options={"owner": "a\x00"}),
    Case("NUL in a render key", "POST", "/v1/jobs", 422, "NUL", options={"render": {"scr\x00een": "green"}}),
    Case("owner too long", "POST", "/v1/jobs", 422, "owner", options={"owner": "o" * 200}),
    Case("priority 101", "POST", "/v1/jobs", 422, "priority", options={"priority": 101}),
    Case("webhook not http", "POST", "/v1/jobs", 422, "webhook_url", options={"webhook_url": "file:///etc/passwd"}),
    Case("webhook with a newline", "POST", "/v1/jobs", 422, "webhook_url",
         options={"webhook_url": "http://x/\r\nHost: evil"}),
    Case("priority text", "POST", "/v1/jobs", 422, "priority", options={"priority": "high"}),
    _submit("crf 99", 422, "render.crf", {"render": {"crf": 99}}),
    _submit("preset bogus", 422, "render.preset", {"render": {"preset": "bogus"}}),
    _submit("codec divx", 422, "render.codec", {"render": {"codec": "divx"}}),
    _submit("screen purple", 422, "render.screen", {"render": {"screen": "purple"}}),
    _submit("unknown render option", 422, "render.bogus", {"render": {"bogus": 1}}),
    _submit("misspelt keyer control", 422, "unknown keyer control clip_blak", {"render": {"keyer": {"clip_blak": 0.1}}}),
    _submit("keyer clip_black 0.9", 422, "clip_black must be below", {"render": {"keyer": {"clip_black": 0.9}}}),
    _submit("no plate for h264", 422, "the 'plate' part", {}, plate=None),
    _submit("plate a text file", 422, "background plate plate.jpg", {}, plate=("plate.jpg", JUNK)),
    _submit("plate empty", 422, "background plate empty.png", {}, plate=("empty.png", b"")),
    _submit("300-character file names", 422, "background plate", {}, video=(LONG + ".mp4", JUNK),
            plate=(LONG + ".jpg", JUNK)),
    _submit("NUL in a file name", 422, "background plate", {}, video=("a\x00b.mp4", JUNK), plate=("p\x00.jpg", JUNK)),
    _submit("chunk_frames and chunk_seconds", 422, "'render.chunk_frames'",
            {"render": {"chunk_frames": 10, "chunk_seconds": 1.0}}),
    _submit("no_key without a face", 422, "'render.no_key'", {"render": {"no_key": True}}),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from jobs.settings import Settings

    home = tmp_path_factory.mktemp("hostile")
    roots = home / "roots"
    roots.mkdir()
    settings = Settings(home=home, redis_url=REDIS_URL, source_roots=[str(roots)], upload_limit_mb=1)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, home


def _uploads(home: Path) -> list[Path]:
    return [p for p in (home / "storage" / "uploads").rglob("*") if p.is_file()] if (home / "storage").exists() else []


@pytest.mark.parametrize("case", API_CASES, ids=[c.name for c in API_CASES])
def test_hostile_request_gets_its_status_and_message(api, case: Case) -> None:  # noqa: ANN001
    client, home = api
    kwargs: dict[str, Any] = {"params": case.params}
    if case.body is not None:
        kwargs["json"] = case.body
    if case.options is not None:
        options = case.options if isinstance(case.options, str) else json.dumps(case.options)
        kwargs["data"] = {"options": options}
    if case.files:
        kwargs["files"] = case.files
    response = client.request(case.method, case.path, **kwargs)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == case.status and case.says in body["detail"], body
    assert "/tmp" not in body["detail"] and str(home) not in response.text, "no server path is shown"
    assert "--" not in body["detail"], "no CLI flag in an API message"
    assert _uploads(home) == [], "a refused request leaves no upload behind"


def test_roots_folder_and_missing_file_under_a_source_root(api) -> None:  # noqa: ANN001
    client, home = api
    roots = home / "roots"
    (roots / "shots").mkdir(exist_ok=True)
    for uri, status, says in ((roots / "shots", 422, "folder"), (roots / "gone.mp4", 404, "gone.mp4 does not exist")):
        response = client.post("/v1/jobs", data={"options": json.dumps({"source_uri": str(uri)})})
        assert response.status_code == status and says in response.json()["detail"], response.text
        assert str(roots) not in response.json()["detail"]


def test_an_upload_over_the_limit_is_refused_and_removed(api) -> None:  # noqa: ANN001
    client, home = api
    response = client.post("/v1/jobs", data={"options": "{}"},
                           files={"video": ("big.mp4", b"\0" * (2 << 20)), "plate": ("p.jpg", Path(PLATE).read_bytes())})
    assert response.status_code == 413 and "upload limit" in response.json()["detail"]
    assert _uploads(home) == []


def _truncated_header(tmp: Path) -> str:
    path = tmp / "header.flv"
    path.write_bytes(Path(CLIP).read_bytes()[:64])
    return str(path)


CLI_CASES: list[tuple[str, list[str], int, str]] = [
    ("missing input", ["render", "{tmp}/gone.mp4", "-o", "{tmp}/o.mp4", "--background", PLATE], 2, "gone.mp4 does not exist"),
    ("input a folder", ["render", "{tmp}", "-o", "{tmp}/o.mp4", "--background", PLATE], 2, "is a folder"),
    ("input a text file", ["render", "{junk}", "-o", "{tmp}/o.mp4", "--background", PLATE], 2, "cannot be read as a video"),
    ("truncated header", ["render", "{header}", "-o", "{tmp}/o.mp4", "--background", PLATE], 2, "header.flv"),
    ("database URL not a URL", ["render", CLIP, "-o", "{tmp}/o.mp4", "--background", PLATE, "--db", "notaurl://x"], 2,
     "database URL notaurl://x is not valid"),
    ("screen purple", ["render", CLIP, "-o", "{tmp}/o.mp4", "--background", PLATE, "--screen", "purple"], 2, "--screen"),
    ("keyer not a pair", ["render", CLIP, "-o", "{tmp}/o.mp4", "--background", PLATE, "--keyer", "clip"], 2, "NAME=VALUE"),
    ("keyer not a number", ["render", CLIP, "-o", "{tmp}/o.mp4", "--background", PLATE, "--keyer", "clip_black=hi"], 2,
     "not a number"),
    ("output suffix", ["render", CLIP, "-o", "{tmp}/o.avi", "--background", PLATE], 2, "is written as"),
    ("output a folder", ["render", CLIP, "-o", "{tmp}", "--background", PLATE], 2, "is a folder"),
    ("output under a file", ["render", CLIP, "-o", "{junk}/o.mp4", "--background", PLATE], 2, "not a writable folder"),
    ("plate a text file", ["render", CLIP, "-o", "{tmp}/o.mp4", "--background", "{junk}"], 2, "background plate"),
    ("plate missing", ["render", CLIP, "-o", "{tmp}/o.mp4", "--background", "{tmp}/nope.jpg"], 2, "nope.jpg does not exist"),
    ("no plate", ["render", CLIP, "-o", "{tmp}/o.mp4"], 2, "--background"),
    ("chunk frames 0", ["render", CLIP, "-o", "{tmp}/o.mp4", "--background", PLATE, "--chunk-frames", "0"], 2,
     "--chunk-frames"),
    ("crf 99", ["render", CLIP, "-o", "{tmp}/o.mp4", "--background", PLATE, "--crf", "99"], 2, "--crf"),
    ("probe a folder", ["probe", "{tmp}"], 2, "is a folder"),
    ("server down", ["status", "--server", "http://127.0.0.1:9"], 1, "cannot reach the Mattefarm API"),
    ("server URL without a scheme", ["status", "--server", "render-head:8000"], 2, "not an http:// or https:// URL"),
    ("server URL broken", ["cancel", "abc", "--server", "http://[::1"], 2, "is not valid"),
    ("token for a bad name", ["token", "create", "two words"], 2, "is not a user name"),
    ("revoke an unknown token", ["token", "revoke", "feedface"], 2, "there is no token feedface"),
]


@pytest.mark.parametrize(("name", "argv", "code", "says"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_hostile_command_line_gets_one_line_and_its_exit_code(name: str, argv: list[str], code: int, says: str,
                                                               tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from api.cli import main

    monkeypatch.setenv("MATTEFARM_HOME", str(tmp_path / "home"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(JUNK)
    values = {"tmp": str(tmp_path), "junk": str(junk), "header": _truncated_header(tmp_path)}
    status = main([arg.format(**values) for arg in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == code, err
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], err
    assert not (tmp_path / "o.mp4").exists()
