"""The screen keyer at run time: an onnxruntime session of the keyer graph, or on the CPU the
same steps as fused numba loops; an explicit temporal state.

The keyer works on the decoded Y'CbCr planes (see :mod:`models.keyer_graph`,
:mod:`models.fused_matte`, :mod:`models.fused_composite`).

Usage::

    keyer = Keyer(analysis, params, width, height, matrix, output="composite")
    state = keyer.initial_state()
    for luma, chroma, background in batches:
        result = keyer.key_frames(luma, chroma, background, state)
        state = result.state
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from models.border import fill_border
from models.choices import ProviderChoice
from models.colour import despill_vector, screen_weights
from models.errors import InputError
from models.fused_composite import CompositeConstants, fused_composite, fused_layer, luma_guide
from models.fused_light_wrap import fused_light_wrap
from models.fused_matte import MatteConstants, fused_matte
from models.keyer_formulas import line_contrast
from models.keyer_params import KeyerOutput, KeyerParams
from models.providers import create_session, cuda_runs, provider_name
from models.screen import ScreenAnalysis
from models.yuv import YuvMatrix

if TYPE_CHECKING:
    import onnxruntime as ort


@dataclass(frozen=True)
class TemporalState:
    """The matte filter's state between frames (and between batches), at chroma resolution.

    Attributes:
        alpha: ``(1, Hc, Wc)`` float32, the last filtered chroma-resolution matte in [0, 1].
        luma: ``(1, Hc, Wc)`` float32, the last frame's luma (0-1 scale, 2x2 averaged for 4:2:0).
        valid: ``(1,)`` float32, 0 before the first frame, then 1.
    """

    alpha: np.ndarray
    luma: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True)
class Background:
    """A background plate in the keyer's plane layout (one frame, or one per frame of a batch).

    Attributes:
        luma: ``(B, H, W)`` uint8. chroma: ``(B, 2, Hc, Wc)`` uint8 (Cb, Cr); ``B`` is 1 or N.
    """

    luma: np.ndarray
    chroma: np.ndarray


@dataclass(frozen=True)
class KeyResult:
    """Output of one batch.

    Attributes:
        luma: ``(N, H, W)`` uint8 Y' of the composite, or of the straight foreground.
        chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr of the composite (``layer``: ``(N, 2, H, W)``).
        alpha: ``(N, H, W)`` uint8 matte, 255 = foreground; None from a keyer built without ``matte``.
        state: the temporal state after the batch's last frame.
    """

    luma: np.ndarray
    chroma: np.ndarray
    alpha: np.ndarray | None
    state: TemporalState


@dataclass(frozen=True)
class ScreenInputs:
    """Per-shot constant inputs of the keyer graph.

    Attributes:
        plate_above: ``(1, 1, H, W)`` float32 Y' of the clean plate minus black, code values.
        plate_chroma: ``(1, 2, Hc, Wc)`` float32 centred Cb, Cr code values of the clean plate.
        key_scale: ``(1, 1, Hc, Wc)`` float32, ``gain / ((white - black) * d(plate))``.
        chroma_form: ``(2,)`` colour difference per centred chroma code value.
        spill_chroma: ``(2,)`` despill direction in centred chroma code values.
        screen_maps: ``(1, 4, Hq, Wq)`` float32 at half the chroma resolution, for the
            illumination estimate (:mod:`models.keyer_graph`): ``1 / d(plate)``,
            ``1 / Y'(plate)`` (0-1 scale, black at 0) and the two weights that give the
            chroma component orthogonal to the plate's, in units of the plate's chroma.
        plate_across: ``(1, 2, Hc, Wc)`` float32, those two weights at chroma
            resolution (:func:`across_weights`) times ``off_axis / (clip_white - clip_black)``,
            for the off-axis alpha floor (:func:`models.keyer_formulas.raw_alpha`).
        plate_luma_ratio: ``(1, 1, Hc, Wc)`` float32, the plate's ``Y' / d`` (Y' on
            the 0-1 scale above black, ``d`` floored as in ``key_scale``), for the
            luma-excess alpha floor (:func:`models.keyer_formulas.raw_alpha`).
        plate_guide: ``(1, 1, Hc, Wc)`` float32, the plate's Y' above black on the 0-1
            scale at chroma resolution, for the edge's luma line (:func:`models.keyer_formulas.luma_line`).
        line_contrast: ``(1, 1, 1, 1)`` float32, the luma gap from which that line trusts luma,
            from the screen's noise (:func:`models.keyer_formulas.line_contrast`).
    """

    plate_above: np.ndarray
    plate_chroma: np.ndarray
    key_scale: np.ndarray
    chroma_form: np.ndarray
    spill_chroma: np.ndarray
    screen_maps: np.ndarray
    plate_across: np.ndarray
    plate_luma_ratio: np.ndarray
    plate_guide: np.ndarray
    line_contrast: np.ndarray


def across_weights(codes: np.ndarray) -> np.ndarray:
    """``(..., 2)`` float32 weights ``(w_b, w_r)`` with ``w_b Cb + w_r Cr`` the chroma component
    orthogonal to the plate's, in units of the plate's chroma (the plate's own is 0).

    Args:
        codes: ``(..., 3)`` Y'CbCr code values of the clean plate, chroma centred
            (:meth:`models.yuv.YuvMatrix.rgb_to_codes`).
    """
    pb, pr = codes[..., 1], codes[..., 2]
    norm2 = np.maximum(pb * pb + pr * pr, 1.0)
    return np.stack([-pr / norm2, pb / norm2], axis=-1).astype(np.float32)


def chroma_size(width: int, height: int, subsampled: bool) -> tuple[int, int]:
    """``(Wc, Hc)``: the chroma plane size for 4:2:0 (even sizes) or 4:4:4."""
    return (width // 2, height // 2) if subsampled else (width, height)


def prepare_screen(
    analysis: ScreenAnalysis, params: KeyerParams, width: int, height: int, matrix: YuvMatrix, subsampled: bool
) -> ScreenInputs:
    """Resize the clean plate to the planes, convert it to code values, derive the key scale.

    The colour difference of the plate is floored at a quarter of the screen
    colour's, so a plate pixel estimated near grey cannot blow the key up.

    Raises:
        InputError: the screen colour is almost grey.
    """
    weights = screen_weights(analysis.screen_rgb, params.screen_balance)
    screen_diff = float(analysis.screen_rgb @ weights)
    if screen_diff < 0.02:
        raise InputError("the screen colour is almost grey, so it cannot be keyed", "pass --screen #RRGGBB")
    plate = np.clip(analysis.clean_plate, 0.0, 1.0).astype(np.float32)
    full = matrix.rgb_to_codes(cv2.resize(plate, (width, height), interpolation=cv2.INTER_LINEAR))
    low = cv2.resize(plate, chroma_size(width, height, subsampled), interpolation=cv2.INTER_AREA)
    low_codes = matrix.rgb_to_codes(low)
    plate_diff = np.maximum(low @ weights, 0.25 * screen_diff)
    scale = params.screen_gain / ((params.clip_white - params.clip_black) * plate_diff)
    spill = matrix.rgb_to_codes(despill_vector(analysis.screen_rgb, matrix.luma_weights))[1:]
    wc, hc = chroma_size(width, height, subsampled)
    maps = screen_maps(plate, weights, matrix, ((wc + 1) // 2, (hc + 1) // 2), 0.25 * screen_diff)
    across = np.moveaxis(across_weights(low_codes), -1, 0)[None] * (params.off_axis / (params.clip_white - params.clip_black))
    low_luma = np.maximum(low_codes[..., 0] - matrix.luma_offset, 0.0) / matrix.luma_scale
    return ScreenInputs(
        plate_above=(full[None, None, :, :, 0] - matrix.luma_offset).astype(np.float32),
        plate_chroma=np.ascontiguousarray(np.moveaxis(low_codes[..., 1:], -1, 0)[None], dtype=np.float32),
        key_scale=scale[None, None].astype(np.float32),
        chroma_form=matrix.chroma_form(weights),
        spill_chroma=spill,
        screen_maps=maps,
        plate_across=np.ascontiguousarray(across, dtype=np.float32),
        plate_luma_ratio=(low_luma / plate_diff)[None, None].astype(np.float32),
        plate_guide=low_luma[None, None].astype(np.float32),
        line_contrast=np.full((1, 1, 1, 1), line_contrast(analysis.luma_noise), np.float32),
    )


def screen_maps(plate: np.ndarray, weights: np.ndarray, matrix: YuvMatrix, size: tuple[int, int],
                diff_floor: float) -> np.ndarray:
    """The clean plate's maps for the illumination estimate, at ``size`` = ``(Wq, Hq)``.

    Args:
        plate: ``(h, w, 3)`` float32 RGB clean plate in [0, 1]. weights: the colour difference's RGB weights.
        diff_floor: smallest plate colour difference used (keeps ``1 / d`` bounded).

    Returns:
        ``(1, 4, Hq, Wq)`` float32: ``1 / d(plate)``, ``1 / Y'(plate)``, ``w_b``, ``w_r`` with
        ``w_b Cb + w_r Cr`` the chroma component orthogonal to the plate's, divided by its length.
    """
    low = cv2.resize(plate, size, interpolation=cv2.INTER_AREA)
    codes = matrix.rgb_to_codes(low)
    luma = np.maximum((codes[..., 0] - matrix.luma_offset) / matrix.luma_scale, 0.02)
    across = across_weights(codes)
    maps = [1.0 / np.maximum(low @ weights, diff_floor), 1.0 / luma, across[..., 0], across[..., 1]]
    return np.stack(maps)[None].astype(np.float32)


def matte_constants(screen: ScreenInputs, params: KeyerParams, matrix: YuvMatrix) -> MatteConstants:
    """The shot's constants for :func:`models.fused_matte.fused_matte`."""
    return MatteConstants(
        key_scale=np.ascontiguousarray(screen.key_scale[0, 0]),
        screen_maps=np.ascontiguousarray(screen.screen_maps[0]),
        across=np.ascontiguousarray(screen.plate_across[0], dtype=np.float32),
        form=screen.chroma_form.astype(np.float32),
        black=matrix.luma_offset / matrix.luma_scale,
        luma_scale=matrix.luma_scale,
        luma_ratio=np.ascontiguousarray(screen.plate_luma_ratio[0, 0]),
        plate_guide=np.ascontiguousarray(screen.plate_guide[0, 0]),
        line_contrast=float(screen.line_contrast.flat[0]),
    )


def composite_constants(screen: ScreenInputs, params: KeyerParams, matrix: YuvMatrix) -> CompositeConstants:
    """The shot's constants for :func:`models.fused_composite.fused_composite`."""
    form = screen.chroma_form.astype(np.float32)
    plate_diff = form[0] * screen.plate_chroma[0, 0] + form[1] * screen.plate_chroma[0, 1]
    return CompositeConstants(
        plate_above=np.ascontiguousarray(screen.plate_above[0, 0]),
        plate_chroma=np.ascontiguousarray(screen.plate_chroma[0]),
        plate_diff=np.ascontiguousarray(plate_diff, dtype=np.float32),
        form=form,
        spill=(params.despill * screen.spill_chroma).astype(np.float32),
    )


class Keyer:
    """Colour-difference screen keyer on Y'CbCr planes: an onnxruntime graph, or fused loops on the CPU.

    Args:
        analysis: the shot's screen analysis (same for every chunk).
        params: keyer controls (:attr:`params` holds them as used, fitted to the
            frame by :meth:`models.keyer_params.KeyerParams.for_frame`).
        width, height: frame size in pixels.
        matrix: the footage's Y'CbCr matrix and range.
        output: ``composite`` (needs a background) or ``layer``.
        subsampled: 4:2:0 planes (needs even sizes); None = 4:2:0 when the size is even.
        providers: execution provider choice (CUDA when it works, else CPU).
        threads: CPU threads for onnxruntime; 0 = its default.
        hold: take a holdout matte per frame (:meth:`key_frames` ``hold``).
        garbage, core: take a garbage matte and a core matte per frame (:meth:`key_frames`).
        matte: compute the matte (``KeyResult.alpha``); a plain composite does not need it.
        fused: key with the fused CPU loops (:mod:`models.fused_matte`,
            :mod:`models.fused_composite`) instead of the onnxruntime graph; None:
            unless CUDA is asked for (``cuda``, or ``auto`` where CUDA runs:
            :func:`models.providers.cuda_runs`).

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
        matrix: YuvMatrix,
        output: KeyerOutput = "composite",
        subsampled: bool | None = None,
        providers: ProviderChoice = "auto",
        threads: int = 0,
        hold: bool = False,
        matte: bool = True,
        fused: bool | None = None,
        garbage: bool = False,
        core: bool = False,
    ) -> None:
        self.subsampled = (width % 2 == 0 and height % 2 == 0) if subsampled is None else subsampled
        params = params.for_frame(chroma_size(width, height, self.subsampled)[1])
        self.params, self.width, self.height, self.output, self.matrix = params, width, height, output, matrix
        self.screen = prepare_screen(analysis, params, width, height, matrix, self.subsampled)
        self.border = analysis.border
        self._plate_luma = self._blocks(self.screen.plate_above[:, 0])
        self.hold, self.matte = hold, matte
        self.garbage, self.core = garbage, core
        self.session: ort.InferenceSession | None = None
        wants_cuda = providers == "cuda" or (providers == "auto" and cuda_runs())
        self.fused = not wants_cuda if fused is None else fused
        if not self.fused:
            from models.keyer_graph import build_keyer_model  # onnx loads only for the graph (0.5-2 s)

            model = build_keyer_model(self.screen.chroma_form, self.screen.spill_chroma, params, output,
                                      self.subsampled, matrix.luma_scale, matrix.luma_offset, hold, matte, garbage, core)
            self.session = create_session(model, providers, threads)
        else:  # the fused loops' per-shot planes, built only for them
            self._matte_constants = matte_constants(self.screen, params, matrix)
            self._constants = composite_constants(self.screen, params, matrix)
            self._warm_up()

    def _warm_up(self) -> None:
        """Key one black frame: numba compiles the fused loops (or loads them from its cache) on
        their first call in a process, which would otherwise land on a chunk's first batch."""
        wc, hc = chroma_size(self.width, self.height, self.subsampled)
        luma = np.zeros((1, self.height, self.width), np.uint8)
        chroma = np.full((1, 2, hc, wc), 128, np.uint8)
        hold = np.zeros((1, hc, wc), np.float32) if self.hold else None
        background = Background(luma, chroma) if self.output == "composite" else None
        self._key_fused(luma, chroma, background, self.initial_state(), hold, *self._limits(1, None, None))

    @property
    def provider(self) -> str:
        """What really keys: the execution provider (``CUDA`` or ``CPU``) of the graph, ``CPU`` when fused."""
        return "CPU" if self.session is None else provider_name(self.session)

    def initial_state(self) -> TemporalState:
        """The state before any frame: the first frame keys without smoothing."""
        wc, hc = chroma_size(self.width, self.height, self.subsampled)
        plane = np.zeros((1, hc, wc), np.float32)
        return TemporalState(plane, plane.copy(), np.zeros(1, np.float32))

    def key_frames(
        self, luma: np.ndarray, chroma: np.ndarray, background: Background | None, state: TemporalState,
        hold: np.ndarray | None = None, garbage: np.ndarray | None = None, core: np.ndarray | None = None,
    ) -> KeyResult:
        """Key a batch of consecutive frames.

        Args:
            luma: ``(N, H, W)`` uint8 Y'. chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr.
            background: the plate in plane layout (``composite``), else None.
            state: the state after the frame before ``luma[0]``.
            hold: ``(N, Hc, Wc)`` float32 holdout matte in [0, 1] (a keyer built with
                ``hold``; None: nothing held).
            garbage: ``(N, Hc, Wc)`` float32 garbage matte in [0, 1]: the matte is cut to it,
                ``min(alpha, garbage)`` (a keyer built with ``garbage``; None: nothing cut).
            core: ``(N, Hc, Wc)`` float32 core matte in [0, 1]: the matte is raised to it,
                ``max(alpha, core)`` (a keyer built with ``core``; None: nothing raised).
                Both apply after the temporal filter and before the guided filter, the core
                first; the temporal state never holds them, so a roto shape moving over still
                luma does not lag, and a chunk's state does not depend on them.

        Returns:
            The keyed planes, mattes and the state after the last frame.

        Raises:
            InputError: a composite keyer was given no background.
        """
        if self.output == "composite" and background is None:
            raise InputError("the composite keyer needs a background plate", "pass --background")
        luma, chroma = fill_border(luma, chroma, self.border, self.subsampled)  # blanking lines (models.border)
        garbage, core = self._limits(len(luma), garbage, core)
        if self.fused:
            return self._key_fused(luma, chroma, background if self.output == "composite" else None, state, hold,
                                   garbage, core)
        feeds = {
            "luma": self._blocks(luma),
            "chroma": np.ascontiguousarray(chroma),
            "key_scale": self.screen.key_scale,
            "plate_luma": self._plate_luma,
            "plate_chroma": self.screen.plate_chroma,
            "screen_maps": self.screen.screen_maps,
            "plate_across": self.screen.plate_across,
            "plate_luma_ratio": self.screen.plate_luma_ratio,
            "plate_guide": self.screen.plate_guide,
            "line_contrast": self.screen.line_contrast,
            "state_alpha": state.alpha,
            "state_luma": state.luma,
            "state_valid": state.valid,
        }
        if self.hold:
            wc, hc = chroma_size(self.width, self.height, self.subsampled)
            held = np.zeros((len(luma), hc, wc), np.float32) if hold is None else hold
            feeds["hold"] = np.ascontiguousarray(held, dtype=np.float32)[:, None]
        for name, limit in (("garbage", garbage), ("core", core)):
            if limit is not None:
                feeds[name] = limit[:, None]
        if background is not None:
            feeds.update(bg_luma=self._blocks(background.luma), bg_chroma=np.ascontiguousarray(background.chroma))
        outputs = self._outputs(len(luma))
        binding = self.session.io_binding()  # type: ignore[union-attr]
        for name, array in feeds.items():
            binding.bind_cpu_input(name, array)
        for name, array in outputs.items():
            binding.bind_output(name, "cpu", 0, array.dtype, array.shape, array.ctypes.data)
        self.session.run_with_iobinding(binding)  # type: ignore[union-attr]
        n, size = len(luma), (self.height, self.width)
        chroma_out = outputs["image_chroma"]
        if self.output == "layer":
            chroma_out = chroma_out.reshape(n, 2, *size)
        state = TemporalState(outputs["next_alpha"], outputs["next_luma"], outputs["next_valid"])
        alpha = outputs["alpha"].reshape(n, *size) if self.matte else None
        return KeyResult(outputs["image_luma"].reshape(n, *size), chroma_out, alpha, state)

    def _limits(self, n: int, garbage: np.ndarray | None,
                core: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The garbage and core mattes as the keyer takes them: ``(N, Hc, Wc)`` float32, contiguous,
        for a keyer built with them (one not given: all 1 for the garbage, all 0 for the core);
        None for a keyer built without."""
        wc, hc = chroma_size(self.width, self.height, self.subsampled)
        out: list[np.ndarray | None] = []
        for wanted, given, fill in ((self.garbage, garbage, 1.0), (self.core, core, 0.0)):
            if not wanted:
                out.append(None)
            elif given is None:
                out.append(np.full((n, hc, wc), fill, np.float32))
            else:
                out.append(np.ascontiguousarray(given, dtype=np.float32))
        return out[0], out[1]

    def _key_fused(self, luma: np.ndarray, chroma: np.ndarray, background: Background | None,
                   state: TemporalState, hold: np.ndarray | None, garbage: np.ndarray | None = None,
                   core: np.ndarray | None = None) -> KeyResult:
        """:meth:`key_frames` by the fused CPU loops (a composite over ``background``, or a layer when None)."""
        guide = luma_guide(luma, self.subsampled, self.matrix.luma_scale)
        held = np.ascontiguousarray(hold, dtype=np.float32) if self.hold and hold is not None else None
        transp_a, transp_b, after = fused_matte(chroma, guide, held, self._matte_constants, self.params,
                                                (state.alpha, state.luma, state.valid), garbage, core)
        m = self.matrix
        if background is None:
            image = fused_layer(luma, chroma, transp_a, transp_b, guide, self._constants, m.luma_offset, m.luma_scale,
                                self.subsampled, self.matte)
        else:
            image = fused_composite(luma, chroma, transp_a, transp_b, guide, self._constants, background.luma,
                                    background.chroma, m.luma_offset, m.luma_scale, self.subsampled, self.matte)
            if self.params.light_wrap > 0:
                fused_light_wrap(image[0], image[1], transp_a, transp_b, guide, background.luma, background.chroma,
                                 m.luma_scale, self.subsampled, self.params.light_wrap, self.params.light_wrap_radius)
        return KeyResult(*image, TemporalState(*after))

    def _outputs(self, n: int) -> dict[str, np.ndarray]:
        """Fresh arrays the session writes its outputs into (I/O binding: no copy out of onnxruntime)."""
        wc, hc = chroma_size(self.width, self.height, self.subsampled)
        blocks = (hc, 2 if self.subsampled else 1, self.width)
        chroma = (n, 2, *blocks) if self.output == "layer" else (n, 2, hc, wc)
        outputs: dict[str, np.ndarray] = {
            "image_luma": np.empty((n, 1, *blocks), np.uint8),
            "image_chroma": np.empty(chroma, np.uint8),
            "next_alpha": np.empty((1, hc, wc), np.float32),
            "next_luma": np.empty((1, hc, wc), np.float32),
            "next_valid": np.empty(1, np.float32),
        }
        if self.matte:
            outputs["alpha"] = np.empty((n, 1, *blocks), np.uint8)
        return outputs

    def _blocks(self, planes: np.ndarray) -> np.ndarray:
        """``(N, H, W)`` -> ``(N, 1, Hc, s, W)``, the graph's row-pair form (a view, no copy)."""
        s = 2 if self.subsampled else 1
        planes = np.ascontiguousarray(planes)
        return planes.reshape(len(planes), 1, self.height // s, s, self.width)
