"""Keyer tuning in the browser: one frame of a job keyed with a person's controls, source | matte | result.

The frame is keyed by the render's own keyer (:func:`jobs.frame_preview.preview_image`) on
the frame's decoded planes, with the job's stored screen analysis and encoding from its plan,
so what the preview shows is what a render with those values delivers; this module holds the
controls as the tuning panel shows them and parses a person's values.
A decoded frame and its plate stay in a small cache, so moving a control only keys again.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from api.job_facts import keyer_values
from api.keyer_args import keyer_controls
from jobs.tables import Job
from models.errors import InputError
from models.keyer_params import KeyerParams


@dataclass(frozen=True)
class Control:
    """One keyer control as the tuning panel shows it: a slider from ``low`` to ``high`` by ``step``.

    ``low``/``high`` come from the range its description states (``[0, 1]``, ``(0, 1]``...),
    else 0 to four times its default; the keyer itself checks the value (an out-of-range one
    is a 422 naming the control).
    """

    name: str
    default: float
    low: float
    high: float
    step: float
    whole: bool
    help: str


_RANGE = re.compile(r"[\[(]\s*([-\d.]+|[a-z_]+)\s*,\s*([-\d.]+)\s*[\])]")


def tuning_controls() -> list[Control]:
    """Every control of :class:`models.keyer_params.KeyerParams`, in its order, with the default and
    description :func:`api.keyer_args.keyer_controls` reads from its documentation."""
    controls = []
    for name, default, text in keyer_controls():
        assert isinstance(default, (int, float))
        whole = isinstance(default, int)
        match = _RANGE.search(text)
        if match:
            low = float(match.group(1)) if re.fullmatch(r"[-\d.]+", match.group(1)) else 0.0
            high = float(match.group(2))
        else:
            low, high = 0.0, max(4.0 * float(default), 1.0 if whole else float(default))
        step = 1.0 if whole else (high - low) / 200
        controls.append(Control(name, float(default), low, high, step, whole, text))
    return controls


def parse_controls(query: dict[str, str]) -> dict[str, float]:
    """Keyer controls given as text (a query string's ``name=value`` pairs) as numbers.

    Raises:
        InputError: an unknown control, or a value that is not a finite number (the message names it).
    """
    known = {c.name for c in tuning_controls()}
    values: dict[str, float] = {}
    for name, text in query.items():
        if name not in known:
            raise InputError(f"unknown keyer control {name}: use one of {', '.join(sorted(known))}")
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"keyer control {name}: {text!r} is not a number") from None
        if not np.isfinite(value):
            raise InputError(f"keyer control {name}: {text!r} is not a finite number")
        values[name] = value
    return values


def tuned_params(job: Job, overrides: dict[str, float]) -> KeyerParams:
    """The job's keyer controls with ``overrides`` applied, checked.

    Raises:
        InputError: a control out of its range (the message names it).
    """
    return KeyerParams.from_overrides({**keyer_values(job), **overrides})


Value = TypeVar("Value")


class PreviewCache:
    """The last few decoded frames (with their plates), by ``(job id, run, frame)``; thread-safe.

    Args:
        size: how many frames are kept (about 3 MB each at 1080p).
    """

    def __init__(self, size: int = 12) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int, int], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int], make: Callable[[], Value]) -> Value:
        """The cached value of ``key``, else ``make()`` (kept, the oldest entry dropped past ``size``)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value
