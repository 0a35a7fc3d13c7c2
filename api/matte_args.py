"""The matte options of the command line: the garbage and core mattes (shared by ``render`` and
``submit``) and the matte source of ``render`` (``--matte``: the screen keyer, or a matter for a shot
without a screen; ``--matte-model``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from models.choices import GARBAGE_CHOICES, MATTE_SOURCES
from models.errors import InputError

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


def add_matte_source_args(parser: argparse.ArgumentParser) -> None:
    """``--matte`` and ``--matte-model``."""
    group = parser.add_argument_group(
        "shots without a screen", "--matte portrait mattes the people in the shot (person segmentation, a guided filter "
                                  "on luma, optical-flow fusion over time); modnet, birefnet and rvm run a neural "
                                  "matting model's ONNX weights. No screen analysis runs; the composite, the layer "
                                  "codecs, --matte-out and --face work as with a screen")
    group.add_argument("--matte", choices=MATTE_SOURCES, default="screen",
                       help="where the matte comes from: screen (the keyer, default), portrait, modnet, birefnet, rvm")
    group.add_argument("--matte-model", metavar="FILE",
                       help="the ONNX weights of --matte modnet, birefnet or rvm (default: the registry's file in "
                            "MATTEFARM_MODELS_DIR)")


def matte_source_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`jobs.options.RenderOptions` fields of :func:`add_matte_source_args`'s options (the
    model file as an absolute path, so render actors in other folders find it).

    Raises:
        InputError: ``--matte-model`` names no file.
    """
    model = args.matte_model
    if model is not None:
        path = Path(model).expanduser()
        if not path.is_file():
            raise InputError(f"--matte-model: {model} is not a file", "pass the ONNX file of the matting model")
        model = str(path.resolve())
    return {"matte": args.matte, "matte_model": model}
