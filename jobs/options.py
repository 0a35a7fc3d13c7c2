"""Options of a keying job, validated once (CLI and, later, the API share them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from models.face_solve import FaceMode
from models.keyer_params import KeyerParams
from models.providers import ProviderChoice
from workers.encode import ALLOWED_SUFFIXES, OutputCodec

SCREEN_HELP = "auto, green, blue or #RRGGBB"


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
    """

    background: str | None = None
    matte_out: str | None = None
    codec: OutputCodec = "h264"
    crf: int = Field(18, ge=0, le=51)
    preset: str = "veryfast"
    chunk_frames: int | None = Field(None, ge=1)
    chunk_seconds: float | None = Field(None, gt=0)
    workers: int | None = Field(None, ge=1)
    screen: str = "auto"
    providers: ProviderChoice = "auto"
    batch_frames: int = Field(8, ge=1, le=256)
    keyer: dict[str, Any] = Field(default_factory=dict)
    face: str | None = None
    face_mode: FaceMode = "largest"
    reference_frame: int = Field(0, ge=0)
    reference_face: int = Field(0, ge=0)
    reference_image: str | None = None
    source_face_index: int | None = Field(None, ge=0)
    swapper: Literal["builtin", "inswapper_128"] = "builtin"
    no_key: bool = False

    @field_validator("screen")
    @classmethod
    def _screen_is_known(cls, value: str) -> str:
        if value in ("auto", "green", "blue"):
            return value
        digits = value.removeprefix("#")
        if value.startswith("#") and len(digits) == 6 and all(c in "0123456789abcdefABCDEF" for c in digits):
            return value
        raise ValueError(f"--screen {value!r} is not {SCREEN_HELP}")

    @model_validator(mode="after")
    def _consistent(self) -> "RenderOptions":
        if self.chunk_frames is not None and self.chunk_seconds is not None:
            raise ValueError("pass only one of --chunk-frames and --chunk-seconds")
        if self.reference_image is not None and (self.face is None or self.face_mode != "reference"):
            raise ValueError("--reference-image picks the person to replace: pass it with --face SOURCE_IMAGE "
                             "and --face-mode reference")
        if self.no_key:
            if self.face is None:
                raise ValueError("--no-key renders a face replacement only: pass --face SOURCE_IMAGE")
            if self.matte_out is not None or self.codec == "prores4444":
                raise ValueError("--no-key makes no matte: drop --matte-out and use --codec h264 or ffv1")
        elif self.background is None and self.codec != "prores4444":
            raise ValueError("--background PLATE is required (or use --codec prores4444 for a keyed layer with alpha, "
                             "or --no-key with --face for a swap only)")
        KeyerParams.from_overrides(self.keyer)
        return self

    def check_output(self, output: str) -> None:
        """Raise ValueError if the output's suffix does not fit the codec."""
        for path in filter(None, (output, self.matte_out)):
            suffix = Path(path).suffix.lower()
            if suffix not in ALLOWED_SUFFIXES[self.codec]:
                allowed = ", ".join(ALLOWED_SUFFIXES[self.codec])
                raise ValueError(f"{path}: --codec {self.codec} is written as {allowed}, not {suffix or 'no suffix'}")
