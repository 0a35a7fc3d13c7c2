"""Colour-difference arithmetic shared by the keyer graph, its analysis and its tests.

A colour-difference key (the IBK / Keylight family: Jeff Hodgson's IBK in Nuke,
Keylight by Framestore) measures how much a pixel looks like the screen with
one linear form of its RGB values::

    d(C) = C[p] - (balance * C[a] + (1 - balance) * C[b])

where ``p`` is the screen's dominant channel and ``a``, ``b`` the other two
(``a`` the larger of them in the screen colour). The weights sum to zero, so
grey (and any neutral foreground) gives ``d = 0`` whatever its brightness.
Choosing ``p, a, b`` from the measured screen colour instead of fixing "green"
or "blue" is what makes a cyan backdrop (blue ~ green >> red) key: with
``p = blue, a = green`` and balance 0.5, cyan is still far from neutral, where
the fixed blue key ``B - max(R, G)`` is about zero.
"""

from __future__ import annotations

import numpy as np

# Rec. ITU-R BT.709 luma weights (R, G, B): used to keep luminance when spill is removed.
REC709_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def screen_weights(screen_rgb: np.ndarray, balance: float) -> np.ndarray:
    """Weights ``w`` of the colour difference ``d(C) = w . C`` for a screen colour.

    Args:
        screen_rgb: ``(3,)`` float, the screen colour as RGB in [0, 1].
        balance: screen balance in [0, 1]; the weight of the screen's second
            channel against its weakest one (0.5 = their average, as IBK).

    Returns:
        ``(3,)`` float32 weights summing to zero, ``+1`` on the dominant channel.
    """
    order = np.argsort(-np.asarray(screen_rgb, dtype=np.float64), kind="stable")
    p, a, b = (int(i) for i in order)
    w = np.zeros(3, dtype=np.float32)
    w[p], w[a], w[b] = 1.0, -balance, -(1.0 - balance)
    return w


def despill_vector(screen_rgb: np.ndarray, luma: np.ndarray = REC709_LUMA) -> np.ndarray:
    """Direction along which spill is removed, ``(3,)`` float32.

    Removing spill ``s`` lowers the dominant channel by ``s`` and gives the
    lost luma back to all three channels (``luma``: the footage's ``(Kr, Kg,
    Kb)``, BT.709 by default), so despill changes hue, not brightness:
    ``v = e_p - luma[p] * (1, 1, 1)``. With weights from :func:`screen_weights`,
    ``w . v = 1``, so ``C - (w . C) v`` has ``d = 0``.
    """
    p = int(np.argmax(np.asarray(screen_rgb, dtype=np.float64)))
    v = -np.full(3, float(luma[p]), dtype=np.float32)
    v[p] += 1.0
    return v


def rgb_to_hex(rgb: np.ndarray) -> str:
    """``(3,)`` RGB in [0, 1] as ``#RRGGBB``."""
    return "#" + "".join(f"{int(round(float(c) * 255)):02X}" for c in np.clip(rgb, 0, 1))


def hex_to_rgb(text: str) -> np.ndarray:
    """``#RRGGBB`` as ``(3,)`` float32 RGB in [0, 1].

    Raises:
        ValueError: not six hexadecimal digits after ``#``.
    """
    digits = text.strip().removeprefix("#")
    if len(digits) != 6:
        raise ValueError(f"{text!r} is not a colour of the form #RRGGBB")
    return np.array([int(digits[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float32) / 255.0
