"""The image sequence and colour options of ``mattefarm render`` (and ``probe``)."""

from __future__ import annotations

import argparse
from typing import Any


def add_sequence_args(parser: argparse.ArgumentParser) -> None:
    """``--frame-rate``, ``--input-colorspace``, ``--output-colorspace``, ``--premultiplied``, ``--audio``."""
    group = parser.add_argument_group(
        "image sequences", "an input or output named like shot.%04d.exr or shot.####.exr (EXR, DPX, TIFF, PNG) is an "
                           "image sequence; its output keeps the source's frame numbers (from 1001 for a movie)")
    group.add_argument("--frame-rate", metavar="FPS", help="a sequence source's frames per second, e.g. 24 or "
                                                           "24000/1001 (default 24)")
    group.add_argument("--input-colorspace", metavar="NAME",
                       help="OpenColorIO colour space of a sequence source (studio config; default: linear Rec.709 "
                            "for EXR, Rec.709 video for DPX, sRGB for PNG and TIFF)")
    group.add_argument("--output-colorspace", metavar="NAME",
                       help="OpenColorIO colour space of a sequence output (defaults as --input-colorspace)")
    group.add_argument("--premultiplied", action="store_true",
                       help="write an EXR, PNG or TIFF layer premultiplied by its alpha (default straight)")
    group.add_argument("--audio", metavar="FILE", help="sound for a movie output (replaces the source's; a sequence "
                                                       "has none)")


def sequence_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`jobs.options.RenderOptions` fields of :func:`add_sequence_args`'s options."""
    return {"frame_rate": args.frame_rate, "input_colorspace": args.input_colorspace,
            "output_colorspace": args.output_colorspace, "premultiplied": args.premultiplied, "audio": args.audio}
