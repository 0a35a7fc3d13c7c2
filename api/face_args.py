"""The face replacement options of the command line, shared by ``render`` and ``submit``."""

from __future__ import annotations

import argparse
from typing import Any

from models.choices import FACE_MODES, SWAPPERS


def add_face_args(parser: argparse.ArgumentParser) -> None:
    """``--face``, ``--face-mode``, ``--reference-frame``, ``--reference-image``, ``--reference-face``,
    ``--source-face-index``, ``--swapper``, ``--no-key``."""
    group = parser.add_argument_group("face replacement")
    group.add_argument("--face", metavar="SOURCE_IMAGE", help="replace faces with the identity in this photo")
    group.add_argument("--face-mode", choices=FACE_MODES, default="largest",
                       help="largest: the lead face; all: every face; "
                            "reference: the person picked with --reference-frame or --reference-image")
    group.add_argument("--reference-frame", type=int, default=0, metavar="N", help="frame of the reference face (default 0)")
    group.add_argument("--reference-image", metavar="STILL",
                       help="a still of the person to replace (e.g. grabbed from the footage), instead of --reference-frame")
    group.add_argument("--reference-face", type=int, default=0, metavar="K",
                       help="which face of the reference frame or image, 0 = the largest (default 0)")
    group.add_argument("--source-face-index", type=int, metavar="K", help="which face of a source photo with several, 0 = the largest")
    group.add_argument("--swapper", choices=SWAPPERS, default="builtin", help="face swapper (default builtin)")
    group.add_argument("--no-key", action="store_true", help="swap faces only, no screen key (no --background needed)")


def face_options(args: argparse.Namespace, with_path: bool = True) -> dict[str, Any]:
    """The face options of parsed arguments as :class:`jobs.options.RenderOptions` fields
    (``with_path`` False: without ``face`` and ``reference_image``, which a server fills in from the uploads)."""
    options = {"face_mode": args.face_mode, "reference_frame": args.reference_frame, "reference_face": args.reference_face,
               "source_face_index": args.source_face_index, "swapper": args.swapper, "no_key": args.no_key}
    return ({"face": args.face, "reference_image": args.reference_image} if with_path else {}) | options
