"""Options of a keying job, validated once (CLI and, later, the API share them)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.choices import (
    ALLOWED_SUFFIXES,
    LAYER_CODECS,
    NEURAL_MATTES,
    SCREEN_HELP,
    SEQUENCE_CODECS,
    FaceMode,
    GarbageChoice,
    MatteSource,
    OutputCodec,
    ProviderChoice,
    Swapper,
    X264Preset,
    is_sequence_name,
    parse_frame_rate,
)
from models.errors import InputError
from models.keyer_params import KeyerParams

OptionStyle = Literal["cli", "api"]
API_PARTS = {"background": "the 'plate' part", "face": "the 'face' part", "reference_image": "the 'reference' part",
             "matte_out": "'matte'", "garbage_matte": "the 'garbage' part", "core_matte": "the 'core' part"}
"""Options the API takes as upload parts or top-level fields instead of ``render`` fields."""
_MARKED = re.compile(r"`([a-z_]+)`")



def option_text(message: str, style: OptionStyle) -> str:
    """A message about the options for one surface: each option written `like_this` becomes
    a CLI flag (``--like-this``) or the API's field (``'render.like_this'``, or the upload part)."""
    if style == "cli":
        return _MARKED.sub(lambda m: "--" + m.group(1).replace("_", "-"), message)
    return _MARKED.sub(lambda m: API_PARTS.get(m.group(1), f"'render.{m.group(1)}'"), message)


class RenderOptions(BaseModel):
    """What a user asks of a keying render.

    Attributes:
        background: plate image or video (required except for ``prores4444``,
            which delivers the keyed layer with alpha).
        matte_out: optional path of a separate matte video.
        codec: ``h264`` (MP4), ``prores4444`` (MOV, with alpha), ``ffv1`` (MKV, lossless).
        crf, preset: libx264 quality (0-51, lower is better) and speed preset.
        chunk_frames / chunk_seconds: chunk length (one of them; default about 10 s).
        workers: render actors on CPU (GPUs: one per GPU).
        screen: screen colour: ``auto``, ``green``, ``blue`` or ``#RRGGBB``.
        providers: onnxruntime execution provider choice.
        batch_frames: frames per model call.
        keyer: overrides of :class:`models.keyer_params.KeyerParams` fields.
        face: source identity image for face replacement (None: keying only).
        face_mode: which faces are replaced (:mod:`models.face_solve`): ``largest``,
            ``all``, or ``reference`` (the person whose face is face
            ``reference_face`` of frame ``reference_frame``, 0 = the largest; or,
            with ``reference_image``, the person who looks most like face
            ``reference_face`` of that image, e.g. a still grabbed from the footage).
        source_face_index: which face of a source image with several (0 = largest).
        swapper: ``builtin`` (mesh warp) or ``inswapper_128``.
        no_key: swap only, no screen key (footage without a screen; no plate needed).
        preview_first: key a few frames spread over the shot before the chunks and keep them as
            a first look (:func:`jobs.frame_preview.first_look`; Royal Render's preview mode).
        frame_rate: an image sequence's frames per second (``"24"``, ``"24000/1001"``; default 24).
        input_colorspace, output_colorspace: OpenColorIO colour spaces of an image sequence
            source and of an image sequence output (default: the format's,
            :data:`models.colour_management.DEFAULT_COLOURSPACE`).
        premultiplied: write an image sequence layer premultiplied (default straight).
        audio: a sound file muxed into a movie output in place of the source's sound.
        garbage_matte: a matte file outside which alpha is forced to 0; core_matte: one inside
            which alpha is forced to 1. Each a still, a video, an image sequence (white =
            inside) or roto shapes as JSON (:mod:`models.roto`), numbered as
            :mod:`workers.matte_source` says.
        garbage: ``auto`` cuts what is neither screen nor near a person (:mod:`models.auto_garbage`);
            with ``garbage_matte`` too, both cut.
        matte: where the matte comes from: ``screen`` (the screen keyer), or for a shot without a
            screen ``portrait`` (:mod:`models.portrait`), ``modnet``, ``birefnet`` or ``rvm``
            (:mod:`models.neural_matting`); no screen analysis runs for those.
        matte_model: the ONNX file of ``modnet``, ``birefnet`` or ``rvm`` (default: the registry's
            file in the models directory); a path every render machine sees.
    """

    model_config = ConfigDict(extra="forbid")

    background: str | None = None
    matte_out: str | None = None
    codec: OutputCodec = "h264"
    crf: int = Field(18, ge=0, le=51)
    preset: X264Preset = "veryfast"
    chunk_frames: int | None = Field(None, ge=1)
    chunk_seconds: float | None = Field(None, gt=0)
    workers: int | None = Field(None, ge=1)
    screen: str = "auto"
    providers: ProviderChoice = "auto"
    batch_frames: int = Field(8, ge=1, le=256)
    preview_first: bool = False
    keyer: dict[str, Any] = Field(default_factory=dict)
    face: str | None = None
    face_mode: FaceMode = "largest"
    reference_frame: int = Field(0, ge=0)
    reference_face: int = Field(0, ge=0)
    reference_image: str | None = None
    source_face_index: int | None = Field(None, ge=0)
    swapper: Swapper = "builtin"
    no_key: bool = False
    frame_rate: str | None = None
    input_colorspace: str | None = None
    output_colorspace: str | None = None
    premultiplied: bool = False
    audio: str | None = None
    garbage_matte: str | None = None
    core_matte: str | None = None
    garbage: GarbageChoice = "none"
    matte: MatteSource = "screen"
    matte_model: str | None = None

    @field_validator("frame_rate")
    @classmethod
    def _rate_is_positive(cls, value: str | None) -> str | None:
        return None if value is None else str(parse_frame_rate(value))

    @field_validator("input_colorspace", "output_colorspace")
    @classmethod
    def _colourspace_is_known(cls, value: str | None) -> str | None:
        from models.colour_management import check_colourspace

        return None if value is None else check_colourspace(value, "the colour space")

    @field_validator("screen")
    @classmethod
    def _screen_is_known(cls, value: str) -> str:
        if value in ("auto", "green", "blue"):
            return value
        digits = value.removeprefix("#")
        if value.startswith("#") and len(digits) == 6 and all(c in "0123456789abcdefABCDEF" for c in digits):
            return value
        raise ValueError(f"{value!r} is not {SCREEN_HELP}")

    @model_validator(mode="after")
    def _consistent(self) -> "RenderOptions":
        if self.chunk_frames is not None and self.chunk_seconds is not None:
            raise ValueError("pass only one of `chunk_frames` and `chunk_seconds`")
        if self.reference_image is not None and (self.face is None or self.face_mode != "reference"):
            raise ValueError("`reference_image` picks the person to replace: pass it with `face` (the source "
                             "identity) and `face_mode` reference")
        if self.no_key and self.shapes_matte:
            raise ValueError("`garbage_matte`, `core_matte` and `garbage` shape the key, and `no_key` keys nothing: "
                             "drop them, or drop `no_key`")
        if self.no_key:
            if self.face is None:
                raise ValueError("`no_key` renders a face replacement only: pass `face` (the source identity)")
            if self.matte_out is not None or self.codec in LAYER_CODECS:
                raise ValueError("`no_key` makes no matte: drop `matte_out` and use `codec` h264, ffv1 or dpx")
        elif self.background is None and self.codec not in LAYER_CODECS:
            raise ValueError("a background plate is required: pass `background` (or use `codec` prores4444, or an "
                             "EXR, PNG or TIFF sequence, for a keyed layer with alpha, or `no_key` with `face` for a "
                             "swap only)")
        if self.premultiplied and self.codec not in LAYER_CODECS[1:]:
            raise ValueError("`premultiplied` applies to an image sequence layer: use it with `codec` exr, png or tiff")
        if self.audio is not None and self.codec in SEQUENCE_CODECS:
            raise ValueError("`audio` goes into a movie: an image sequence output has no sound")
        self._matte_consistent()
        KeyerParams.from_overrides(self.keyer)
        return self

    @property
    def analyses_screen(self) -> bool:
        """The job keys a screen, so its ingest analyses one: not ``no_key``, and no screenless
        ``--matte`` (portrait, a neural matte) stands in for the key."""
        return not self.no_key and self.matte == "screen"

    @property
    def shapes_matte(self) -> bool:
        """A garbage or core matte shapes the matte (``garbage_matte``, ``core_matte``, ``garbage`` auto)."""
        return bool(self.garbage_matte or self.core_matte or self.garbage != "none")

    def _matte_consistent(self) -> None:
        """A matte that is not the screen's leaves no screen to name, no keyer to tune, and keys the shot."""
        if self.matte_model is not None and self.matte not in NEURAL_MATTES:
            raise ValueError(f"`matte_model` is the weights of `matte` {', '.join(NEURAL_MATTES)}: pass one of them "
                             "with it, or drop it")
        if self.matte == "screen":
            return
        if self.no_key:
            raise ValueError(f"`no_key` swaps faces only, and `matte` {self.matte} keys the shot: drop one of them")
        if self.screen != "auto":
            raise ValueError(f"`screen` names the screen to key, and `matte` {self.matte} is for a shot without one: "
                             "drop `screen`, or use `matte` screen")
        if self.garbage == "auto":
            raise ValueError(f"`garbage` auto keeps the screen and the people on it, and `matte` {self.matte} is for a "
                             "shot without a screen: pass a `garbage_matte` file, or use `matte` screen")
        if self.keyer:
            raise ValueError(f"`keyer` controls tune the screen keyer, which `matte` {self.matte} does not use: drop them")
        if self.preview_first:
            raise ValueError(f"`preview_first` keys a first look with the screen keyer, which `matte` {self.matte} does "
                             "not use: drop it")

    def check_output(self, output: str) -> None:
        """Check, before anything renders, that the outputs' suffixes fit the codec and that
        they can be written (their folder exists or can be made, and is writable).

        Raises:
            InputError: a suffix that does not fit, a folder given as the output, or a
                folder that cannot be written.
        """
        for path in filter(None, (output, self.matte_out)):
            check_writable(path)
            suffix = Path(path).suffix.lower()
            if suffix not in ALLOWED_SUFFIXES[self.codec]:
                allowed = ", ".join(ALLOWED_SUFFIXES[self.codec])
                raise InputError(option_text(f"{path}: `codec` {self.codec} is written as {allowed}, "
                                             f"not {suffix or 'no suffix'}", "cli"))
            if self.codec in SEQUENCE_CODECS and not is_sequence_name(path):
                raise InputError(f"{path}: {self.codec} is written one file per frame, and the name has no "
                                 "frame-number field", f"name it like out.%04d{suffix} or out.####{suffix}")


def check_writable(path: str) -> None:
    """Check that a file can be written at ``path``: not a folder, and its nearest existing
    parent folder is writable (missing folders below it are made when the output is written).

    Raises:
        InputError: the path is a folder, or lies in a folder that cannot be written.
    """
    target = Path(path).expanduser()
    if target.is_dir():
        raise InputError(f"the output {path} is a folder", "pass a file name, e.g. out/shot.mp4")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"the output {path} cannot be written: {folder} is not a writable folder",
                         "pass an output path in a folder you can write to")


def option_errors(error: ValidationError, style: OptionStyle) -> list[tuple[str, str]]:
    """``(where, message)`` of each problem in a validation error of the options, for one surface.

    ``where`` is the CLI flag (``--screen``) or the API field (``render.screen``, or the
    upload part for the plate and stills); empty for a problem of several options.
    """
    problems = []
    for item in error.errors():
        loc = [str(part) for part in item.get("loc", ())]
        message = option_text(str(item.get("msg", "")).removeprefix("Value error, "), style)
        if not loc:
            where = ""
        elif error.title != RenderOptions.__name__:
            where = ".".join(loc)
        elif style == "cli":
            where = "--" + loc[0].replace("_", "-")
        else:
            where = API_PARTS.get(loc[0], "render." + ".".join(loc))
        problems.append((where, message))
    return problems
