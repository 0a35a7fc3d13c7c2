"""Every option's choices, defined once as ``Literal`` types (FaceFusion's ``choices.py`` habit).

A light module (typing only): the command line builds its ``--help`` and argument checks
from it without importing Ray, onnxruntime, PyAV or numpy, and the options, the encoder,
the providers and the face solve take their types from it.
"""

from __future__ import annotations

from typing import Literal, get_args

OutputCodec = Literal["h264", "prores4444", "ffv1"]
"""``h264`` (MP4), ``prores4444`` (MOV, the keyed layer with alpha), ``ffv1`` (MKV, lossless)."""
OUTPUT_CODECS: tuple[OutputCodec, ...] = get_args(OutputCodec)

# The container each codec is delivered in, and the suffixes accepted for it.
DEFAULT_SUFFIX: dict[OutputCodec, str] = {"h264": ".mp4", "prores4444": ".mov", "ffv1": ".mkv"}
ALLOWED_SUFFIXES: dict[OutputCodec, tuple[str, ...]] = {
    "h264": (".mp4", ".mov", ".mkv"),
    "prores4444": (".mov", ".mkv"),
    "ffv1": (".mkv",),
}
X264Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                     "placebo"]
"""libx264's speed presets (``x264_preset_names`` in x264.h)."""
X264_PRESETS: tuple[X264Preset, ...] = get_args(X264Preset)

ProviderChoice = Literal["auto", "cuda", "cpu"]
"""onnxruntime execution providers: ``auto`` (CUDA when it works, else CPU), ``cuda``, ``cpu``."""
PROVIDER_CHOICES: tuple[ProviderChoice, ...] = get_args(ProviderChoice)

FaceMode = Literal["reference", "largest", "all"]
"""Which faces are replaced (:mod:`models.face_solve`)."""
FACE_MODES: tuple[FaceMode, ...] = get_args(FaceMode)

Swapper = Literal["builtin", "inswapper_128"]
"""Face swappers: the mesh warp, or FaceFusion's neural swapper."""
SWAPPERS: tuple[Swapper, ...] = get_args(Swapper)

SCREEN_HELP = "auto, green, blue or #RRGGBB"
"""The screen colour choices, in words (``#RRGGBB`` is any colour)."""
