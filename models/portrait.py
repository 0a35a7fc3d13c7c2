"""Portrait matting for shots without a screen: person segmentation refined by a guided filter on
luma and held steady over time by optical flow, with an explicit temporal state.

Per frame (``--matte portrait``, issue 18 item 3):

1. **Working resolution.** Luma and chroma are reduced (``cv2.INTER_AREA``) to the working
   size, the longest side at most :attr:`PortraitParams.working_size` pixels (1080p: 480 x 270,
   an integer factor of 4), where the coarse matte's information lives.
2. **Segmentation.** The working-size frame, in RGB (:func:`models.yuv.planes_to_rgb`), goes
   through MediaPipe Selfie Segmentation (:class:`models.segmentation.SelfieSegmenter`: the
   whole frame stretched onto 256 x 256 or 144 x 256), and its person probability is warped
   back onto the working grid by the inverse of that stretch (:func:`unstretch`).
3. **Temporal fusion** (motion-compensated, motion-adaptive). OpenCV's DIS optical flow
   (Kroeger et al., "Fast Optical Flow using Dense Inverse Search", ECCV 2016;
   ``cv2.DISOpticalFlow.create``, preset ``FAST``) from this frame's working luma to the
   previous one's gives, for each pixel, where it was; the previous fused probability is
   sampled there (``cv2.remap``, bilinear), and so is the previous luma. The photometric error
   ``e = |Y - Y_prev(x + flow)|`` (0-1 scale, box-averaged over 5 x 5) says whether the flow
   is right: the warped matte gets the weight ``w = flow_weight * exp(-(e / photometric_sigma)^2 / 2)``
   and the fused probability is ``p = p_now + w (p_warped - p_now)``. Where the flow explains
   the picture (still or tracked), the matte keeps up to ``flow_weight`` of its history and
   the segmentation's frame-to-frame flicker is averaged out; where it does not (occlusion,
   fast motion, a cut), ``w`` falls to 0 and the current segmentation is taken as is. The
   weight depends on the frames only, never on the mattes, so the map from the previous
   state to the next is a contraction by at most ``flow_weight`` (remap is non-expansive):
   this is what bounds the pre-roll (:attr:`PortraitParams.preroll_frames`).
4. **Guided filter** (He, Sun & Tang, "Guided Image Filtering", TPAMI 2013, eqs. 5-6, the
   coefficients by :func:`models.keyer_formulas.guided_coefficients`; the fast form of He & Sun,
   "Fast Guided Filter", arXiv:1505.00996): the linear model ``alpha = a Y + b`` is fitted
   to the fused probability over windows of radius ``radius_cells`` segmentation cells on the
   working grid, its window-averaged coefficients are resized bilinearly to the full frame and
   applied to full-resolution luma. The matte is soft where luma does not separate person
   and background, and follows luma edges at full resolution where it does.

Output: ``(N, H, W)`` uint8 alpha, 255 = person. With a background plate,
:meth:`PortraitMatter.key_frames` also composites the planes over it, with the keyer's own
over formulas (:func:`models.keyer_formulas.over_luma`, :func:`models.keyer_formulas.over_chroma`;
with no screen, the premultiplied foreground is ``alpha (Y - black)`` and ``alpha C``).

Usage, as the keyer (:class:`models.keyer.Keyer`)::

    matter = PortraitMatter(SelfieSegmenter(path), width, height, matrix)
    state = matter.initial_state()
    for luma, chroma, background in batches:       # pre-roll frames first, then the chunk's own
        result = matter.key_frames(luma, chroma, background, state)
        state = result.state
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from models.edge_extend import extend_foreground
from models.errors import InputError
from models.keyer import Background
from models.keyer_formulas import CENTRE, ONE, ZERO, guided_coefficients, over_chroma, over_luma, to_code
from models.segmentation import SelfieSegmenter
from models.yuv import YuvMatrix, planes_to_rgb

FLOW_PRESET = cv2.DISOPTICAL_FLOW_PRESET_FAST
"""DIS preset (``FAST``: coarse-to-fine patches of 8 px, 3 gradient-descent iterations, variational refinement)."""
ERROR_WINDOW = 5
"""Side (working pixels) of the box that averages the photometric error before it weighs the flow."""


@dataclass(frozen=True)
class PortraitParams:
    """Controls of the portrait matte.

    Attributes:
        working_size: longest side (pixels) of the working grid; the frame is reduced by the
            smallest integer factor that brings it there (1080p: 4, 480 x 270).
        radius_cells: guided filter window radius, in segmentation cells (a cell is the frame
            height over the model's 144 or 256 rows): how far the matte may move to meet a
            luma edge.
        eps: guided filter regulariser, in (0-1 luma)^2: edges whose luma variance over the
            window is well under ``eps`` are smoothed over rather than followed.
        flow_weight: largest weight of the flow-warped previous matte in the fusion, in [0, 1);
            0 turns the temporal fusion off.
        photometric_sigma: photometric error (0-1 luma) at which the warped matte's weight has
            fallen to ``exp(-1/2)`` of ``flow_weight``.
        seam_tolerance: largest difference (0-1 scale) of the fused probability that the
            pre-roll leaves between a chunk and the same frames in one pass.
    """

    working_size: int = 512
    radius_cells: float = 2.0
    eps: float = 2e-3
    flow_weight: float = 0.6
    photometric_sigma: float = 0.03
    seam_tolerance: float = 0.05 / 255

    def __post_init__(self) -> None:
        if not 0.0 <= self.flow_weight < 1.0:
            raise InputError("flow_weight must be in [0, 1)", "pass a value such as 0.6, or 0 for no temporal fusion")
        if self.working_size < 32 or self.radius_cells <= 0 or self.eps <= 0 or self.photometric_sigma <= 0:
            raise InputError("working_size must be at least 32 and radius_cells, eps, photometric_sigma positive",
                             "use the defaults")

    @property
    def preroll_frames(self) -> int:
        """Frames a chunk decodes before its first frame to warm the temporal state.

        A chunk starts from no state: its first pre-roll frame takes the segmentation as
        is, where one pass would have fused it with the frame before. Each later frame
        multiplies that difference by at most ``flow_weight`` (the fusion weight depends
        on the frames only, and the warp is non-expansive), so after ``n`` frames the fused
        probabilities differ by at most ``flow_weight ** n``; ``n`` is the smallest count
        that brings this under ``seam_tolerance``. The guided filter maps that to the matte
        with a gain of a few (0.05/255 of probability -> well under one code value; the
        test measures the chunked matte against one pass). 0 when the fusion is off.
        """
        if self.flow_weight <= 0.0:
            return 0
        return math.ceil(math.log(self.seam_tolerance) / math.log(self.flow_weight))


@dataclass(frozen=True)
class PortraitState:
    """The temporal state between frames (and batches), on the working grid. Never modified in
    place: each frame makes new arrays.

    Attributes:
        luma: ``(h, w)`` uint8, the last frame's working-size luma (code values).
        probability: ``(h, w)`` float32, its fused person probability in [0, 1].
        valid: False before the first frame (the first frame is not fused).
    """

    luma: np.ndarray
    probability: np.ndarray
    valid: bool


@dataclass(frozen=True)
class PortraitResult:
    """Output of one batch (the fields of :class:`models.keyer.KeyResult`).

    Attributes:
        luma: ``(N, H, W)`` uint8 Y' of the composite, or the source's when no background was given.
        chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr of the composite, or the source's.
        alpha: ``(N, H, W)`` uint8 matte, 255 = person.
        state: the temporal state after the batch's last frame.
    """

    luma: np.ndarray
    chroma: np.ndarray
    alpha: np.ndarray
    state: PortraitState


def working_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """``(w, h)`` of the working grid: the frame divided by the smallest integer factor that
    brings its longest side to at most ``longest`` (rounded, at least 1 pixel)."""
    factor = max(1, math.ceil(max(width, height) / longest))
    return max(1, round(width / factor)), max(1, round(height / factor))


def unstretch(probability: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inverse of MediaPipe's stretch (:func:`models.segmentation.prepare_frames`): ``(h, w)``
    float32 on the model's grid -> ``(height, width)`` float32 on the frame's.

    The stretch samples the frame at ``x_frame = x_tensor * W / w``; here frame pixel ``x``
    samples the model's grid at ``x * w / W`` (bilinear, edges repeated), the same mapping
    run backwards.
    """
    h, w = probability.shape
    matrix = np.array([[w / width, 0, 0], [0, h / height, 0]], np.float64)
    return cv2.warpAffine(probability, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def guided_alpha(guide_small: np.ndarray, probability: np.ndarray, luma: np.ndarray, radius: int, eps: float,
                 luma_scale: float) -> np.ndarray:
    """Fast guided filter: fit on the working grid, apply at full resolution.

    Args:
        guide_small: ``(h, w)`` float32 working luma on the 0-1 scale (code values over ``luma_scale``).
        probability: ``(h, w)`` float32 the matte to refine, in [0, 1].
        luma: ``(H, W)`` uint8 full-resolution Y' (code values).
        radius: window radius in working pixels (box of ``2 radius + 1``).
        eps: regulariser in (0-1 luma)^2.
        luma_scale: code values per unit of Y' (219 limited range, 255 full).

    Returns:
        ``(H, W)`` uint8 alpha ``255 clip(A Y / luma_scale + B)`` (rounded half to even), ``A``,
        ``B`` the window means of the coefficients resized bilinearly to the frame.
    """
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)

    m_i, m_p = box(guide_small), box(probability)
    m_ip, m_ii = box(guide_small * probability), box(guide_small * guide_small)
    a, b = guided_coefficients(m_i, m_p, m_ip, m_ii, np.float32(eps))
    height, width = luma.shape
    scale_a = np.float32(255.0 / luma_scale)
    big_a = cv2.resize(box(a) * scale_a, (width, height), interpolation=cv2.INTER_LINEAR)
    big_b = cv2.resize(box(b) * np.float32(255.0), (width, height), interpolation=cv2.INTER_LINEAR)
    product = cv2.multiply(big_a, luma.astype(np.float32))
    return cv2.add(product, big_b, dtype=cv2.CV_8U)  # saturate_cast: rounded, clamped to 0..255


class PortraitMatter:
    """Portrait matte of Y'CbCr planes (or RGB frames): segmentation, temporal fusion along DIS
    flow, guided filter on luma (the module docstring gives the method).

    Args:
        segmenter: the Selfie Segmentation session (either variant; pick it with
            :func:`models.segmentation.segmentation_model`).
        width, height: frame size in pixels.
        matrix: the footage's Y'CbCr matrix and range.
        params: controls; :attr:`PortraitParams.preroll_frames` is the pre-roll a chunk needs.
    """

    def __init__(self, segmenter: SelfieSegmenter, width: int, height: int, matrix: YuvMatrix,
                 params: PortraitParams = PortraitParams()) -> None:
        self.segmenter, self.width, self.height, self.matrix, self.params = segmenter, width, height, matrix, params
        self.small = working_size(width, height, params.working_size)
        cell = height / segmenter.size[0]  # frame pixels per segmentation row
        self.radius = max(1, round(params.radius_cells * cell * self.small[1] / height))
        self.flow = cv2.DISOpticalFlow.create(FLOW_PRESET)
        w, h = self.small
        self._grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), axis=-1)

    @property
    def preroll_frames(self) -> int:
        """Frames a chunk decodes before its first frame (:attr:`PortraitParams.preroll_frames`)."""
        return self.params.preroll_frames

    @property
    def provider(self) -> str:
        """The execution provider that runs the segmentation (``CPU``, ``CUDA``)."""
        from models.providers import provider_name

        return provider_name(self.segmenter.session)

    def initial_state(self) -> PortraitState:
        """The state before any frame: the first frame is not fused."""
        w, h = self.small
        return PortraitState(np.zeros((h, w), np.uint8), np.zeros((h, w), np.float32), False)

    def probabilities(self, luma: np.ndarray, chroma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The per-frame (unfused) person probability on the working grid.

        Args:
            luma: ``(N, H, W)`` uint8 Y'. chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr (any chroma size).

        Returns:
            ``(N, h, w)`` uint8 working luma and ``(N, h, w)`` float32 probability in [0, 1].
        """
        w, h = self.small
        n = len(luma)
        small_luma = np.empty((n, h, w), np.uint8)
        rgb = np.empty((n, h, w, 3), np.uint8)
        for i in range(n):
            small_luma[i] = cv2.resize(luma[i], (w, h), interpolation=cv2.INTER_AREA)
            small_chroma = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA) for c in chroma[i]])
            rgb[i] = planes_to_rgb(small_luma[i], small_chroma, self.matrix)
        coarse = self.segmenter.person_probability(rgb)
        return small_luma, np.stack([unstretch(p, w, h) for p in coarse])

    def fuse(self, small_luma: np.ndarray, probability: np.ndarray, state: PortraitState) -> PortraitState:
        """One frame of the temporal fusion: the state after this frame.

        Args:
            small_luma: ``(h, w)`` uint8 this frame's working luma.
            probability: ``(h, w)`` float32 its segmentation on the working grid.
            state: the state after the previous frame.
        """
        if not state.valid or self.params.flow_weight <= 0.0:
            return PortraitState(small_luma, probability, True)
        # This frame -> the previous one, Y(x) ~ Y_prev(x + flow) (no initial flow: DIS ignores the buffer's contents).
        flow = self.flow.calc(small_luma, state.luma, np.zeros((*small_luma.shape, 2), np.float32))
        where = self._grid + flow
        warped = cv2.remap(state.probability, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        before = cv2.remap(state.luma, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        error = cv2.absdiff(small_luma, before).astype(np.float32) * np.float32(1.0 / self.matrix.luma_scale)
        mean_error = cv2.boxFilter(error, cv2.CV_32F, (ERROR_WINDOW, ERROR_WINDOW), borderType=cv2.BORDER_REFLECT)
        ratio = mean_error * np.float32(1.0 / self.params.photometric_sigma)
        weight = np.exp(np.float32(-0.5) * ratio * ratio) * np.float32(self.params.flow_weight)
        fused = probability + weight * (warped - probability)
        return PortraitState(small_luma, fused.astype(np.float32, copy=False), True)

    def matte_planes(self, luma: np.ndarray, chroma: np.ndarray, state: PortraitState) -> tuple[np.ndarray, PortraitState]:
        """Mattes of a batch of consecutive frames.

        Args:
            luma: ``(N, H, W)`` uint8 Y'. chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr.
            state: the state after the frame before ``luma[0]``.

        Returns:
            ``(N, H, W)`` uint8 alpha (255 = person) and the state after the last frame.
        """
        if luma.ndim != 3 or luma.shape[1:] != (self.height, self.width):
            raise InputError(f"luma planes of shape {luma.shape}", f"pass (N, {self.height}, {self.width}) uint8")
        small_luma, probability = self.probabilities(luma, chroma)
        alpha = np.empty(luma.shape, np.uint8)
        scale = np.float32(1.0 / self.matrix.luma_scale)
        for i in range(len(luma)):
            state = self.fuse(small_luma[i], probability[i], state)
            alpha[i] = guided_alpha(small_luma[i].astype(np.float32) * scale, state.probability, luma[i], self.radius,
                                    self.params.eps, self.matrix.luma_scale)
        return alpha, state

    def matte_rgb(self, frames: np.ndarray, state: PortraitState) -> tuple[np.ndarray, PortraitState]:
        """:meth:`matte_planes` of ``(N, H, W, 3)`` uint8 RGB frames (converted to 4:4:4 planes of ``matrix``)."""
        from models.yuv import rgb_to_planes

        planes = [rgb_to_planes(f, self.matrix, subsampled=False) for f in frames]
        return self.matte_planes(np.stack([p[0] for p in planes]), np.stack([p[1] for p in planes]), state)

    def key_frames(self, luma: np.ndarray, chroma: np.ndarray, background: Background | None,
                   state: PortraitState) -> PortraitResult:
        """Matte a batch and composite it over ``background`` (the keyer's entry point).

        Args:
            luma: ``(N, H, W)`` uint8 Y'. chroma: ``(N, 2, Hc, Wc)`` uint8 Cb, Cr.
            background: the plate in plane layout (:class:`models.keyer.Background`, ``B`` = 1 or
                N frames, chroma of the same size as ``chroma``), or None for the matte alone
                (the straight foreground is then the source itself: there is no screen to unmix).
            state: the state after the frame before ``luma[0]``.
        """
        alpha, state = self.matte_planes(luma, chroma, state)
        if background is None:
            return PortraitResult(luma, chroma, alpha, state)
        out_luma, out_chroma = composite_planes(luma, chroma, alpha, background, self.matrix.luma_offset)
        return PortraitResult(out_luma, out_chroma, alpha, state)


def composite_planes(luma: np.ndarray, chroma: np.ndarray, alpha: np.ndarray, background: Background,
                     luma_offset: float) -> tuple[np.ndarray, np.ndarray]:
    """``alpha F + (1 - alpha) B`` on Y'CbCr planes with the keyer's over formulas.

    With no screen the straight foreground is the frame, its soft edge coloured from the solid
    foreground near it (:func:`models.edge_extend.extend_foreground`: the frame there still holds
    the shot's own background), so its premultiplied form is ``alpha (F - black)`` and ``alpha C``:
    :func:`models.keyer_formulas.over_luma` with the "plate" set to ``F`` (``F - t (F - black)``), and
    :func:`models.keyer_formulas.over_chroma`; transparency ``t = 1 - alpha``, at chroma
    resolution the area mean of the matte.

    Args:
        luma: ``(N, H, W)`` uint8. chroma: ``(N, 2, Hc, Wc)`` uint8. alpha: ``(N, H, W)`` uint8.
        background: plate planes, ``B`` = 1 or N.
        luma_offset: black in code values (16 limited range, 0 full).

    Returns:
        ``(N, H, W)`` uint8 Y' and ``(N, 2, Hc, Wc)`` uint8 Cb, Cr.
    """
    n, height, width = luma.shape
    hc, wc = chroma.shape[2:]
    black = np.float32(luma_offset)
    out_luma = np.empty_like(luma)
    out_chroma = np.empty_like(chroma)
    for i in range(n):
        j = i if len(background.luma) > 1 else 0
        a = alpha[i].astype(np.float32) * np.float32(1 / 255)
        t = ONE - a
        y = extend_foreground(luma[i].astype(np.float32)[None], a)[0]
        value = over_luma(y, t, y - black, background.luma[j].astype(np.float32), black)
        out_luma[i] = to_code(value, ZERO, ONE).astype(np.uint8)
        tc = t if (hc, wc) == (height, width) else cv2.resize(t, (wc, hc), interpolation=cv2.INTER_AREA)
        c = extend_foreground(chroma[i].astype(np.float32) - CENTRE, ONE - tc)
        for q in range(2):
            bg = background.chroma[j, q].astype(np.float32) - CENTRE
            out_chroma[i, q] = to_code(over_chroma((ONE - tc) * c[q], tc, bg), CENTRE, ONE).astype(np.uint8)
    return out_luma, out_chroma
