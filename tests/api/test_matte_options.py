"""The garbage and core matte options on each surface: the command line's flags, the API's upload parts and
field, and the errors each names its own way (no server, no Redis: the options and the OpenAPI schema only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from api.cli import _options, build_parser
from api.schemas import JobCreate
from jobs.options import RenderOptions, option_errors
from jobs.settings import Settings


def test_render_flags_become_the_options(tmp_path: Path) -> None:
    args = build_parser().parse_args(["render", "in.mp4", "-o", str(tmp_path / "o.mp4"), "--background", "p.jpg",
                                      "--garbage-matte", "g.json", "--core-matte", "c.png", "--garbage", "auto"])
    options = _options(args)
    assert (options.garbage_matte, options.core_matte, options.garbage) == ("g.json", "c.png", "auto")
    plain = _options(build_parser().parse_args(["render", "in.mp4", "-o", str(tmp_path / "o.mp4"), "--background", "p"]))
    assert (plain.garbage_matte, plain.core_matte, plain.garbage) == (None, None, "none")


def test_the_api_takes_the_files_as_parts_and_auto_as_a_field() -> None:
    request = JobCreate(render={"garbage": "auto", "garbage_matte": "/etc/passwd", "core_matte": "/x"})
    options = request.render_options({"plate": "plate.png", "garbage": "/farm/uploads/g.png"}, None)
    assert (options.garbage, options.garbage_matte, options.core_matte) == ("auto", "/farm/uploads/g.png", None), \
        "a client never names a server path"
    from api.app import create_app

    schema = create_app(Settings()).openapi()
    body = schema["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    parts = schema["components"]["schemas"][body.rsplit("/", 1)[-1]]["properties"]
    assert {"garbage", "core"} <= set(parts)


def test_mattes_with_no_key_are_refused_in_each_surfaces_words() -> None:
    with pytest.raises(ValidationError) as caught:
        RenderOptions(no_key=True, face="f.jpg", garbage="auto", garbage_matte="g.png")
    (where, cli), = option_errors(caught.value, "cli")
    (_, api), = option_errors(caught.value, "api")
    assert "--garbage-matte, --core-matte and --garbage shape the key" in cli and "--no-key" in cli
    assert "the 'garbage' part, the 'core' part and 'render.garbage'" in api
    with pytest.raises(ValidationError, match="garbage"):
        RenderOptions(background="p.png", garbage="sometimes")  # type: ignore[arg-type]


def test_submit_refuses_a_matte_it_cannot_upload_before_anything_is_sent(tmp_path: Path) -> None:
    from api.service_cli import _check_upload
    from models.errors import InputError

    with pytest.raises(InputError, match="image sequence, which cannot be uploaded"):
        _check_upload("--garbage-matte", str(tmp_path / "m.%04d.png"))
    with pytest.raises(InputError, match="--core-matte gone.png does not exist"):
        _check_upload("--core-matte", str(tmp_path / "gone.png"))
    (tmp_path / "g.json").write_text("{}")
    _check_upload("--garbage-matte", str(tmp_path / "g.json"))


def test_garbage_auto_needs_a_screen_and_matte_files_work_with_any_matte() -> None:
    with pytest.raises(ValidationError) as caught:
        RenderOptions(background="p.png", matte="portrait", garbage="auto")
    (_, cli), = option_errors(caught.value, "cli")
    assert "--garbage auto keeps the screen" in cli and "--matte portrait is for a shot without a screen" in cli
    assert "pass a --garbage-matte file" in cli
    RenderOptions(background="p.png", matte="rvm", core_matte="c.png")
    RenderOptions(background="p.png", matte="portrait", garbage_matte="g.json")
    RenderOptions(background="p.png", matte="screen", core_matte="c.png")


def test_submit_sends_the_matte_source_and_the_farm_checks_it() -> None:
    from api.service_cli import submit_render

    parser = build_parser()
    args = parser.parse_args(["submit", "shot.mp4", "--background", "p.jpg", "--matte-source", "portrait", "--matte"])
    render = submit_render(args)
    assert render["matte"] == "portrait" and args.matte is True  # --matte still asks for the matte pass
    options = JobCreate(render=render).render_options({"plate": "plate.png"}, None)
    assert options.matte == "portrait"
    assert "matte" not in submit_render(parser.parse_args(["submit", "shot.mp4", "--background", "p.jpg"]))
    with pytest.raises(ValidationError, match="keyer"):
        JobCreate(render=submit_render(parser.parse_args(["submit", "s.mp4", "--matte-source", "rvm", "--keyer",
                                                          "despill=0.5"]))).render_options({"plate": "plate.png"}, None)
