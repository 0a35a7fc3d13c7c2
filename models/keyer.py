"""The screen keyer at run time: one onnxruntime session, an explicit temporal state.

Usage::

    keyer = Keyer(analysis, params, width, height, output="composite")
    state = keyer.initial_state()
    for frames, plates in batches:
        result = keyer.key_frames(frames, plates, state)
        state = result.state
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.colour import despill_vector, screen_weights
from models.errors import InputError
from models.keyer_graph import build_keyer_model
from models.keyer_params import KeyerOutput, KeyerParams
from models.providers import ProviderChoice, create_session, provider_name
from models.screen import ScreenAnalysis


@dataclass(frozen=True)
class TemporalState:
    """The matte filter's state between frames (and between batches).

    Attributes:
        alpha: ``(H, W, 1)`` float32, the last filtered matte in [0, 1].
        luma: ``(H, W, 1)`` float32, the last frame's BT.709 luma in [0, 1].
        valid: ``(1,)`` float32, 0 before the first frame, then 1.
    """

    alpha: np.ndarray
    luma: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True)
class KeyResult:
    """Output of one batch.

    Attributes:
        images: ``(N, H, W, 3)`` uint8 RGB: the composite, or the straight foreground.
        alpha: ``(N, H, W)`` uint8 matte, 255 = foreground.
        state: the temporal state after the batch's last frame.
    """

    images: np.ndarray
    alpha: np.ndarray
    state: TemporalState


@dataclass(frozen=True)
class ScreenInputs:
    """Per-shot constant inputs of the keyer graph at full frame size.

    Attributes:
        plate: ``(H, W, 3)`` float32 clean plate in [0, 1].
        key_scale: ``(H, W, 1)`` float32, ``gain / ((white - black) * d(plate))``.
        weights: ``(3,)`` float32 colour-difference weights.
        spill_vector: ``(3,)`` float32 despill direction.
    """

    plate: np.ndarray
    key_scale: np.ndarray
    weights: np.ndarray
    spill_vector: np.ndarray


def prepare_screen(analysis: ScreenAnalysis, params: KeyerParams, width: int, height: int) -> ScreenInputs:
    """Upsample the clean plate to the frame and derive the per-pixel key scale.

    The colour difference of the plate is floored at a quarter of the screen
    colour's, so a plate pixel estimated near grey cannot blow the key up.
    """
    plate = cv2.resize(analysis.clean_plate, (width, height), interpolation=cv2.INTER_LINEAR)
    plate = np.ascontiguousarray(np.clip(plate, 0.0, 1.0), dtype=np.float32)
    weights = screen_weights(analysis.screen_rgb, params.screen_balance)
    screen_diff = float(analysis.screen_rgb @ weights)
    if screen_diff < 0.02:
        raise InputError("the screen colour is almost grey, so it cannot be keyed", "pass --screen #RRGGBB")
    plate_diff = np.maximum(plate @ weights, 0.25 * screen_diff)
    scale = params.screen_gain / ((params.clip_white - params.clip_black) * plate_diff)
    return ScreenInputs(plate, scale[..., None].astype(np.float32), weights, despill_vector(analysis.screen_rgb))


class Keyer:
    """Colour-difference screen keyer run by onnxruntime.

    Args:
        analysis: the shot's screen analysis (same for every chunk).
        params: keyer controls.
        width, height: frame size in pixels.
        output: ``composite`` (needs a background per frame) or ``layer``.
        providers: execution provider choice (CUDA when it works, else CPU).
        threads: CPU threads for onnxruntime; 0 = its default.

    Raises:
        ModelError: the session cannot be created.
        InputError: the screen colour is unusable.
    """

    def __init__(
        self,
        analysis: ScreenAnalysis,
        params: KeyerParams,
        width: int,
        height: int,
        output: KeyerOutput = "composite",
        providers: ProviderChoice = "auto",
        threads: int = 0,
    ) -> None:
        self.params, self.width, self.height, self.output = params, width, height, output
        self.screen = prepare_screen(analysis, params, width, height)
        model = build_keyer_model(self.screen.weights, self.screen.spill_vector, params, output)
        self.session = create_session(model, providers, threads)

    @property
    def provider(self) -> str:
        """The execution provider that really runs (``CUDA`` or ``CPU``)."""
        return provider_name(self.session)

    def initial_state(self) -> TemporalState:
        """The state before any frame: the first frame keys without smoothing."""
        plane = np.zeros((self.height, self.width, 1), np.float32)
        return TemporalState(plane, plane.copy(), np.zeros(1, np.float32))

    def key_frames(self, frames: np.ndarray, backgrounds: np.ndarray | None, state: TemporalState) -> KeyResult:
        """Key a batch of consecutive frames.

        Args:
            frames: ``(N, H, W, 3)`` uint8 RGB, consecutive frames of the shot.
            backgrounds: ``(N, H, W, 3)`` uint8 RGB plate per frame (``composite``), else None.
            state: the state after the frame before ``frames[0]``.

        Returns:
            The keyed images, mattes and the state after ``frames[-1]``.
        """
        feeds = {
            "frames": np.ascontiguousarray(frames),
            "plate": self.screen.plate,
            "key_scale": self.screen.key_scale,
            "state_alpha": state.alpha,
            "state_luma": state.luma,
            "state_valid": state.valid,
        }
        if self.output == "composite":
            if backgrounds is None:
                raise InputError("the composite keyer needs a background plate", "pass --background")
            feeds["background"] = np.ascontiguousarray(backgrounds)
        images, alpha, next_alpha, next_luma, next_valid = self.session.run(None, feeds)
        return KeyResult(images, alpha[..., 0], TemporalState(next_alpha, next_luma, next_valid))
