"""The matte source options of ``mattefarm render``: ``--matte`` (the screen keyer, or a matter for
a shot without a screen) and ``--matte-model``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from models.choices import MATTE_SOURCES
from models.errors import InputError


def add_matte_args(parser: argparse.ArgumentParser) -> None:
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


def matte_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`jobs.options.RenderOptions` fields of :func:`add_matte_args`'s options (the
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
