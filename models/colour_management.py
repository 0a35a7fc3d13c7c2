"""Colour management of image sequences with OpenColorIO: the colour spaces a frame is read in and
written in, converted to and from the display-referred Rec.709 the keyer works in.

The keyer is designed for display-referred Y'CbCr (video code values), so every image
sequence is converted on the way in from its colour space to :data:`WORKING` (Rec.709
primaries, 2.4 gamma: what a Rec.709 video carries, BT.1886) and on the way out from
:data:`WORKING` to the output's colour space. Colour spaces are named as in OpenColorIO's
built-in studio config (``ocio://studio-config-latest``: the ACES studio config, with
camera log spaces and ``ADX10`` for Cineon-style DPX scans). Defaults by format follow the
formats' own conventions: OpenEXR is scene-linear (Rec.709 primaries), DPX from a video pipeline
is Rec.709 video, PNG and TIFF are sRGB.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from models.choices import OutputCodec
from models.errors import InputError

if TYPE_CHECKING:
    import PyOpenColorIO

CONFIG = "ocio://studio-config-latest"
"""The OpenColorIO config every colour space name refers to (built into the library)."""
WORKING = "Gamma 2.4 Encoded Rec.709"
"""The display-referred colour space the keyer works in (Rec.709 primaries, BT.1886 2.4 gamma)."""
DEFAULT_COLOURSPACE: dict[OutputCodec, str] = {
    "exr": "Linear Rec.709 (sRGB)",
    "dpx": WORKING,
    "png": "sRGB Encoded Rec.709 (sRGB)",
    "tiff": "sRGB Encoded Rec.709 (sRGB)",
}
"""The colour space an image format is read or written in unless the job names another."""


@functools.cache
def _config() -> PyOpenColorIO.Config:
    import PyOpenColorIO as ocio

    return ocio.Config.CreateFromFile(CONFIG)


def colourspace_names() -> tuple[str, ...]:
    """Every colour space of :data:`CONFIG`, by name."""
    return tuple(cs.getName() for cs in _config().getColorSpaces())


def check_colourspace(name: str, where: str) -> str:
    """``name`` if :data:`CONFIG` has such a colour space (or an alias of one).

    Raises:
        InputError: an unknown colour space; the message names ``where`` it was given and a few known ones.
    """
    if _config().getColorSpace(name) is None:
        known = ", ".join(repr(n) for n in colourspace_names()[:12])
        raise InputError(f"{where}: {name!r} is not a colour space of OpenColorIO's studio config",
                         f"pass one of its names, e.g. {known}, ...")
    return name


@functools.cache
def _processor(source: str, target: str) -> PyOpenColorIO.CPUProcessor:
    return _config().getProcessor(source, target).getDefaultCPUProcessor()


def convert(rgb: np.ndarray, source: str, target: str) -> np.ndarray:
    """Convert RGB pixels from one colour space of :data:`CONFIG` to another.

    Args:
        rgb: ``(H, W, 3)`` float32 RGB (any range; scene-linear values above 1 are kept).
        source, target: colour space names (:func:`check_colourspace`).

    Returns:
        ``(H, W, 3)`` float32 RGB, a new array (``rgb`` is not changed).
    """
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    if source != target:
        _processor(source, target).applyRGB(out)
    return out
