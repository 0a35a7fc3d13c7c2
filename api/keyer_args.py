"""The ``--keyer NAME=VALUE`` option of ``mattefarm render`` and ``mattefarm submit``."""

from __future__ import annotations

import argparse
import inspect
import re
import textwrap
from dataclasses import fields

from models.errors import InputError
from models.keyer_params import KeyerParams


def add_keyer_arg(parser: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--keyer NAME=VALUE`` option (parsed by :func:`keyer_overrides`)."""
    parser.add_argument("--keyer", action="append", default=[], metavar="NAME=VALUE",
                        help="a keyer control, repeatable, e.g. --keyer clip_black=0.08 --keyer temporal_min=0.4 "
                             "(every control is listed below)")


def add_preview_first_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--preview-first`` (:attr:`jobs.options.RenderOptions.preview_first`)."""
    parser.add_argument("--preview-first", action="store_true",
                        help="key a few frames spread over the shot before the rest and keep them as a first look")


def keyer_controls() -> list[tuple[str, object, str]]:
    """``(name, default, what it does)`` of every keyer control, read from the documentation of
    :class:`models.keyer_params.KeyerParams` (its *Attributes*), the one place they are described."""
    doc = inspect.getdoc(KeyerParams) or ""
    text = doc.split("Attributes:", 1)[1].split("\nRaises:", 1)[0] if "Attributes:" in doc else ""
    described: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        match = re.match(r"\s{4}([a-z_]+(?:, [a-z_]+)*): (.*)", line)
        if match:
            names, first = match.group(1).split(", "), match.group(2)
            for name in names:
                described[name] = first
        elif name and line.strip():
            for key in [k for k, v in described.items() if v == described[name]]:
                described[key] += " " + line.strip()
    plain = lambda text: re.sub(r"``([^`]+)``", r"\1", re.sub(r":\w+:`~?([^`]+)`", r"\1", text))  # noqa: E731
    return [(f.name, f.default, plain(described.get(f.name, ""))) for f in fields(KeyerParams)]


def keyer_controls_help() -> str:
    """The ``--help`` epilog listing every keyer control with its default and description."""
    lines = ["keyer controls (--keyer NAME=VALUE):"]
    for name, default, text in keyer_controls():
        lines += textwrap.wrap(f"{name} (default {default:g}): {text}" if isinstance(default, float)
                               else f"{name} (default {default}): {text}", width=100, initial_indent="  ",
                               subsequent_indent="      ")
    return "\n".join(lines)


def keyer_overrides(items: list[str]) -> dict[str, float]:
    """``NAME=VALUE`` pairs of ``--keyer`` as a dict of numbers; the names and ranges are
    checked with the rest of the options (:meth:`models.keyer_params.KeyerParams.from_overrides`).

    Raises:
        InputError: a pair is not ``NAME=VALUE`` or its value is not a number.
    """
    overrides: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"--keyer {item!r} is not NAME=VALUE", "e.g. --keyer clip_black=0.08")
        try:
            overrides[name] = float(value)
        except ValueError:
            raise InputError(f"--keyer {item!r}: {value!r} is not a number") from None
    return overrides
