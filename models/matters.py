"""Matters: what makes the matte of a shot without a screen, behind one interface.

A matter turns a batch of consecutive frames (Y'CbCr planes) into mattes, carrying whatever it
remembers between frames as an explicit state, like the keyer's temporal filter
(:class:`models.keyer.TemporalState`): the render path builds one, asks it for its
:attr:`Matter.preroll_frames`, starts each chunk from :meth:`Matter.initial_state`, runs the
pre-roll frames through it and discards their output, so chunks meet without a seam. It never
needs to know which matter it holds (:class:`models.matte_keyer.MatteKeyer` composites any of them).

Implementations: :class:`models.portrait.PortraitMatter` (``--matte portrait``), and
:class:`models.neural_matting.ModnetMatter`, :class:`models.neural_matting.BiRefNetMatter`,
:class:`models.neural_matting.RvmMatter` (``--matte modnet|birefnet|rvm``).
"""

from __future__ import annotations

from typing import Protocol, TypeVar

import cv2
import numpy as np

from models.choices import MatteSource
from models.keyer_params import KeyerParams

StateT = TypeVar("StateT")


class Matter(Protocol[StateT]):
    """What the render path needs of a matter.

    Attributes:
        preroll_frames: frames a chunk runs before its first delivered frame so that its state
            has forgotten the cold start (0 for a matter without memory).
        provider: the onnxruntime execution provider that really runs its model (``CPU``, ``CUDA``).
    """

    @property
    def preroll_frames(self) -> int: ...

    @property
    def provider(self) -> str: ...

    def initial_state(self) -> StateT:
        """The state before the first frame of a chunk (its pre-roll's first frame)."""
        ...

    def matte_planes(self, luma: np.ndarray, chroma: np.ndarray, state: StateT) -> tuple[np.ndarray, StateT]:
        """``(N, H, W)`` uint8 Y' and ``(N, 2, Hc, Wc)`` uint8 Cb, Cr of consecutive frames, and the
        state after the frame before ``luma[0]`` -> ``(N, H, W)`` uint8 alpha (255 = person) and the
        state after the last frame."""
        ...


def matte_preroll(source: MatteSource) -> int:
    """Frames of pre-roll a job whose matte comes from ``source`` plans for each chunk, known
    before any model is loaded (the chunk plan is made at ingest).

    ``screen``: the keyer's own (:attr:`models.keyer_params.KeyerParams.preroll_frames`, asked
    by the caller with the job's controls), so 0 here; ``portrait``:
    :attr:`models.portrait.PortraitParams.preroll_frames` (17); ``modnet`` and ``birefnet``
    matte each frame alone: 0; ``rvm``: :data:`models.neural_matting.RVM_PREROLL_FRAMES`.
    """
    if source == "portrait":
        from models.portrait import PortraitParams

        return PortraitParams().preroll_frames
    if source == "rvm":
        from models.neural_matting import RVM_PREROLL_FRAMES

        return RVM_PREROLL_FRAMES
    return 0


def chunk_preroll(source: MatteSource, keyer: KeyerParams) -> int:
    """Frames of pre-roll each chunk of a job gets: the keyer's
    (:attr:`models.keyer_params.KeyerParams.preroll_frames` of the job's controls) for ``screen``,
    else :func:`matte_preroll`. Ingest plans the chunks with it; ``mattefarm probe`` shows the same plan."""
    return keyer.preroll_frames if source == "screen" else matte_preroll(source)


def matte_codes(matte: np.ndarray, width: int, height: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """A matte as the pipeline carries it: ``(h, w)`` float in [0, 1] -> ``(height, width)`` uint8
    ``255 alpha``, resized with OpenCV's ``interpolation`` (none when it is that size), clipped, rounded
    half to even."""
    full = matte if matte.shape == (height, width) else cv2.resize(matte, (width, height), interpolation=interpolation)
    return np.rint(np.clip(full, 0.0, 1.0) * 255.0).astype(np.uint8)
