"""Every option's choices, defined once as ``Literal`` types (FaceFusion's ``choices.py`` habit).

A light module (typing only): the command line builds its ``--help`` and argument checks
from it without importing Ray, onnxruntime, PyAV or numpy, and the options, the encoder,
the providers and the face solve take their types from it.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Literal, get_args

from models.errors import InputError

OutputCodec = Literal["h264", "prores4444", "ffv1", "exr", "dpx", "png", "tiff"]
"""Movies: ``h264`` (MP4), ``prores4444`` (MOV, the keyed layer with alpha), ``ffv1`` (MKV, lossless).
Image sequences (``out.%04d.exr``): ``exr`` (the keyed layer: straight colour and alpha, half float,
scene-linear by default), ``dpx`` (the composite, 10-bit, display-referred), ``png`` and ``tiff``
(the keyed layer, 16-bit RGBA)."""
OUTPUT_CODECS: tuple[OutputCodec, ...] = get_args(OutputCodec)
SEQUENCE_CODECS: tuple[OutputCodec, ...] = ("exr", "dpx", "png", "tiff")
"""The codecs written as one image file per frame."""
LAYER_CODECS: tuple[OutputCodec, ...] = ("prores4444", "exr", "png", "tiff")
"""The codecs that deliver the keyed layer with alpha (no plate) rather than a composite."""

# The container each codec is delivered in, and the suffixes accepted for it.
DEFAULT_SUFFIX: dict[OutputCodec, str] = {"h264": ".mp4", "prores4444": ".mov", "ffv1": ".mkv", "exr": ".exr",
                                          "dpx": ".dpx", "png": ".png", "tiff": ".tif"}
ALLOWED_SUFFIXES: dict[OutputCodec, tuple[str, ...]] = {
    "h264": (".mp4", ".mov", ".mkv"),
    "prores4444": (".mov", ".mkv"),
    "ffv1": (".mkv",),
    "exr": (".exr",),
    "dpx": (".dpx",),
    "png": (".png",),
    "tiff": (".tif", ".tiff"),
}
IMAGE_SUFFIXES: dict[str, OutputCodec] = {suffix: codec for codec in SEQUENCE_CODECS for suffix in ALLOWED_SUFFIXES[codec]}
"""Image file suffixes an image sequence (input or output) may have, and their codec."""


FRAME_FIELD = re.compile(r"%0?\d*d|#+")
"""A frame-number field in an image sequence's file name (``%04d``, ``####``)."""


def is_sequence_name(path: str) -> bool:
    """Whether ``path`` names an image sequence: an image suffix and a frame-number field in the file name."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    return suffix in IMAGE_SUFFIXES and FRAME_FIELD.search(name) is not None


def default_codec(output: str) -> OutputCodec:
    """The codec an output path implies when none is asked: its image format for an image
    file name (``out.%04d.exr``: ``exr``), else ``h264``."""
    suffix = output[output.rfind("."):].lower() if "." in output else ""
    return IMAGE_SUFFIXES.get(suffix, "h264")
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

GarbageChoice = Literal["none", "auto"]
"""``--garbage``: ``none``, or ``auto``: cut what is neither screen nor near a person (:mod:`models.auto_garbage`)."""
GARBAGE_CHOICES: tuple[GarbageChoice, ...] = get_args(GarbageChoice)
MatteSource = Literal["screen", "portrait", "modnet", "birefnet", "rvm"]
"""Where the matte comes from: ``screen`` (the colour-difference keyer, :mod:`models.keyer`);
for a shot without a screen, ``portrait`` (person segmentation refined by a guided filter and held
by optical flow, :mod:`models.portrait`) or a neural matting model a studio brings
(:mod:`models.neural_matting`): ``modnet`` and ``birefnet`` per frame, ``rvm`` recurrent."""
MATTE_SOURCES: tuple[MatteSource, ...] = get_args(MatteSource)
NEURAL_MATTES: tuple[MatteSource, ...] = ("modnet", "birefnet", "rvm")
"""The matte sources that run a neural matting model's weights (``--matte-model FILE``, or the registry's file)."""

SCREEN_HELP = "auto, green, blue or #RRGGBB"
"""The screen colour choices, in words (``#RRGGBB`` is any colour)."""


def parse_frame_rate(text: str) -> Fraction:
    """A frame rate given in words (``24``, ``23.976``, ``24000/1001``), frames per second.

    Raises:
        InputError: not a number, or not between 0 and 1000.
    """
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"{text!r} is not a frame rate", "pass frames per second, e.g. 24, 25 or 24000/1001") from None
    if not 0 < rate <= 1000:
        raise InputError(f"frame rate {text!r} is not between 0 and 1000 frames per second", "pass e.g. 24") from None
    return rate
