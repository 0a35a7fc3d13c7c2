"""The ``--keyer NAME=VALUE`` option of ``mattefarm render`` and ``mattefarm submit``."""

from __future__ import annotations

import argparse

from models.errors import InputError


def add_keyer_arg(parser: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--keyer NAME=VALUE`` option (parsed by :func:`keyer_overrides`)."""
    parser.add_argument("--keyer", action="append", default=[], metavar="NAME=VALUE",
                        help="a keyer control, repeatable, e.g. --keyer clip_black=0.08 --keyer temporal_min=0.4 "
                             "(names and defaults: models/keyer_params.py)")


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
