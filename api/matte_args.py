"""The garbage and core matte options of the command line, shared by ``render`` and ``submit``."""

from __future__ import annotations

import argparse
from typing import Any

from models.choices import GARBAGE_CHOICES

MATTE_FILE_HELP = ("a still, a video or an image sequence (matte.%04d.png; white = inside), or roto shapes as .json "
                   "(polygons with keyframes); its k-th frame is the shot's k-th, roto keyframes use the source's frame "
                   "numbers (a movie's index from 0, a sequence's file numbers)")


def add_matte_args(parser: argparse.ArgumentParser) -> None:
    """``--garbage-matte``, ``--core-matte``, ``--garbage``."""
    group = parser.add_argument_group("garbage and core mattes", MATTE_FILE_HELP)
    group.add_argument("--garbage-matte", metavar="FILE", help="alpha is forced to 0 outside this matte")
    group.add_argument("--core-matte", metavar="FILE", help="alpha is forced to 1 inside this matte")
    group.add_argument("--garbage", choices=GARBAGE_CHOICES, default="none",
                       help="auto: cut what is neither screen nor near a person (stands, walls beyond the screen's "
                            "edge); with --garbage-matte too, both cut (default none)")


def matte_options(args: argparse.Namespace, with_path: bool = True) -> dict[str, Any]:
    """The :class:`jobs.options.RenderOptions` fields of :func:`add_matte_args`'s options (``with_path``
    False: without the files, which a server fills in from the uploads)."""
    paths = {"garbage_matte": args.garbage_matte, "core_matte": args.core_matte} if with_path else {}
    return paths | {"garbage": args.garbage}
