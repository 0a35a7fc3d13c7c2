"""The keyer's interface around a matter: composite over a plate, or the layer with alpha, for a
shot without a screen.

:class:`MatteKeyer` answers the render path as :class:`models.keyer.Keyer` does (``output``,
``width``, ``height``, ``matrix``, ``subsampled``, ``provider``, :meth:`MatteKeyer.initial_state`,
:meth:`MatteKeyer.key_frames`), whatever :class:`models.matters.Matter` makes the matte. With no
screen there is nothing to unmix or despill: the straight foreground is the frame itself, its soft
edge coloured from the solid foreground near it (:mod:`models.edge_extend`), so the composite is
:func:`models.portrait.composite_planes` (the keyer's over formulas) and the layer is those planes,
chroma brought to full resolution as the keyer's layer has it, with the matte as alpha.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic

import cv2
import numpy as np

from models.edge_extend import extend_foreground
from models.errors import InputError
from models.keyer import Background
from models.keyer_params import KeyerOutput
from models.matters import Matter, StateT, matte_codes
from models.portrait import composite_planes
from models.yuv import YuvMatrix


@dataclass(frozen=True)
class MatteKeyResult(Generic[StateT]):
    """Output of one batch (the fields of :class:`models.keyer.KeyResult`).

    Attributes:
        luma: ``(N, H, W)`` uint8 Y' of the composite, or of the frame (``layer``).
        chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr of the composite (``layer``: ``(N, 2, H, W)``).
        alpha: ``(N, H, W)`` uint8 matte, 255 = person.
        state: the matter's state after the batch's last frame.
    """

    luma: np.ndarray
    chroma: np.ndarray
    alpha: np.ndarray
    state: StateT


class MatteKeyer(Generic[StateT]):
    """A matter with the keyer's outputs.

    Args:
        matter: makes the mattes (:class:`models.matters.Matter`).
        width, height: frame size in pixels. matrix: the footage's Y'CbCr matrix and range.
        output: ``composite`` (needs a background) or ``layer`` (the frame with the matte as alpha).
        subsampled: the planes are 4:2:0 (chroma half size each way), else 4:4:4.
    """

    def __init__(self, matter: Matter[StateT], width: int, height: int, matrix: YuvMatrix,
                 output: KeyerOutput = "composite", subsampled: bool = True) -> None:
        self.matter, self.width, self.height, self.matrix = matter, width, height, matrix
        self.output, self.subsampled = output, subsampled

    @property
    def provider(self) -> str:
        """The execution provider that runs the matter's model."""
        return self.matter.provider

    @property
    def preroll_frames(self) -> int:
        """The matter's pre-roll (:attr:`models.matters.Matter.preroll_frames`)."""
        return self.matter.preroll_frames

    def initial_state(self) -> StateT:
        """The matter's state before a chunk's first frame."""
        return self.matter.initial_state()

    def key_frames(self, luma: np.ndarray, chroma: np.ndarray, background: Background | None, state: StateT,
                   hold: np.ndarray | None = None, garbage: np.ndarray | None = None,
                   core: np.ndarray | None = None) -> MatteKeyResult[StateT]:
        """Matte a batch of consecutive frames and composite it (or make the layer).

        Args:
            luma: ``(N, H, W)`` uint8 Y'. chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr.
            background: the plate in plane layout (``composite``), else None.
            state: the matter's state after the frame before ``luma[0]``.
            hold: ``(N, Hc, Wc)`` float32 holdout in [0, 1] (a face held in the matte): the
                matte is at least the holdout.
            garbage, core: ``(N, Hc, Wc)`` float32 garbage and core mattes in [0, 1], or None
                (:func:`workers.matte_source.chunk_mattes`): the matte is raised to the holdout and
                the core, then cut to the garbage (:func:`models.keyer_formulas.held`,
                :func:`models.keyer_formulas.garbage_cut`, as the screen keyer orders them). Each is
                resized bilinearly to full resolution; the matter's state never holds them.

        Raises:
            InputError: a composite was asked with no background.
        """
        if self.output == "composite" and background is None:
            raise InputError("the composite needs a background plate", "pass --background")
        alpha, state = self.matter.matte_planes(luma, chroma, state)
        for limits, cut in ((hold, False), (core, False), (garbage, True)):
            for i, plane in enumerate(limits if limits is not None else ()):
                codes = matte_codes(np.ascontiguousarray(plane, np.float32), self.width, self.height)
                (np.minimum if cut else np.maximum)(alpha[i], codes, out=alpha[i])
        if self.output == "layer":
            return MatteKeyResult(*layer_planes(luma, chroma, alpha), alpha, state)
        assert background is not None
        out_luma, out_chroma = composite_planes(luma, chroma, alpha, background, self.matrix.luma_offset)
        return MatteKeyResult(out_luma, out_chroma, alpha, state)


def layer_planes(luma: np.ndarray, chroma: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The straight foreground of a layer: the frame, its soft edge coloured from the solid foreground
    near it (:func:`models.edge_extend.extend_foreground`), chroma at full resolution.

    Args:
        luma: ``(N, H, W)`` uint8. chroma: ``(N, 2, Hc, Wc)`` uint8. alpha: ``(N, H, W)`` uint8 matte.

    Returns:
        ``(N, H, W)`` uint8 Y' and ``(N, 2, H, W)`` uint8 Cb, Cr.
    """
    n, height, width = luma.shape
    chroma = full_chroma(chroma, width, height)
    out_luma, out_chroma = np.empty_like(luma), np.empty_like(chroma)
    for i in range(n):
        a = alpha[i].astype(np.float32) * np.float32(1 / 255)
        planes = np.concatenate([luma[i][None], chroma[i]]).astype(np.float32)
        extended = np.rint(extend_foreground(planes, a))
        out_luma[i] = np.clip(extended[0], 0, 255).astype(np.uint8)
        out_chroma[i] = np.clip(extended[1:], 0, 255).astype(np.uint8)
    return out_luma, out_chroma


def full_chroma(chroma: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(N, 2, Hc, Wc)`` uint8 -> ``(N, 2, height, width)`` uint8, upsampled bilinearly (unchanged at 4:4:4)."""
    if chroma.shape[2:] == (height, width):
        return chroma
    out = np.empty((len(chroma), 2, height, width), np.uint8)
    for i, planes in enumerate(chroma):
        for q in range(2):
            out[i, q] = cv2.resize(planes[q], (width, height), interpolation=cv2.INTER_LINEAR)
    return out
