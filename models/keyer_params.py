"""Parameters of the screen keyer, and the pre-roll its temporal filter needs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from models.errors import InputError

KeyerOutput = Literal["composite", "layer"]
"""``composite``: the keyed foreground over a background plate, RGB.
``layer``: the despilled foreground with straight (unpremultiplied) alpha, for
an editor to lay over its own plate (what ProRes 4444 carries)."""


LIGHT_EPS = 1e-3
"""Added to the trusted light's numerator and denominator: with no trusted screen nearby the light is the plate's (1)."""
LIGHT_TRUST = 0.1
"""Mean trust of the illumination window below which the light blends toward the wider window's
(:attr:`KeyerParams.light_reach`); 0.05-0.2 measured alike on the benchmark."""


EDGE_RANGES: tuple[tuple[str, float, float], ...] = (
    ("despot_black", 0, 16), ("despot_white", 0, 16), ("shrink_grow", -16, 16), ("softness", 0, 16),
    ("light_wrap", 0.0, 1.0), ("light_wrap_radius", 1, 64), ("edge_luma", 0.0, 1.0), ("edge_luma_radius", 1, 8),
)
"""The edge controls of :class:`KeyerParams` with their ranges ``(name, lowest, highest)``; the
dashboard's submit form offers these (:mod:`api.routes.dashboard`)."""


@dataclass(frozen=True)
class KeyerParams:
    """Controls of the colour-difference keyer (names as in Keylight / IBK).

    The edge controls (despot, shrink/grow, softness) act on the screen matte at
    chroma resolution, after the holdout matte and before the temporal and guided
    filters, so the guided filter still fits the moved or softened edge to luma;
    they reach only within a frame, so chunks need no more pre-roll.

    Attributes:
        screen_gain: multiplies the colour difference before it is divided by
            the clean plate's; above 1 keys more of the screen away.
        screen_balance: weight of the screen's second channel against its
            weakest one in the colour difference, [0, 1] (IBK's 0.5 default).
        clip_black: raw alpha at or below this becomes 0 (crushes what remains
            of the screen: folds, noise), [0, 1).
        clip_white: raw alpha at or above this becomes 1 (solidifies the
            foreground), (clip_black, 1].
        despill: strength of spill removal on the foreground, [0, 1].
        temporal_min: the smallest per-frame update of the temporal matte
            filter, used on static pixels, (0, 1]; 1 (the default) disables it:
            on the benchmark's ground truth it raised MAD and dtSSD, and on the
            real clips it changed edge flicker by under 10 %.
        motion_threshold: luma change (0-1 scale) at which a pixel counts as
            moving and its matte follows the new frame at once.
        seam_tolerance: largest matte difference (0-1 scale) the pre-roll
            leaves between a chunked and an unchunked render.
        guide_radius: box radius, in chroma pixels, of the guided filter that
            refines the chroma-resolution matte with full-resolution luma.
        guide_eps: its regularisation (luma variance, 0-1 scale squared);
            larger keeps the matte smoother where luma varies little.
        light_luma_tolerance: how far (relative) a pixel's luma may be from the
            plate's, scaled by its light ratio, and still count as lit screen.
        light_hue_tolerance: how far its chroma may turn from the plate's
            (in units of the plate's chroma) and still count as screen.
        light_radius: radius of the illumination estimate's window, in blocks
            of ``light_block`` chroma pixels, narrowed to fit small frames
            (:meth:`for_frame`). 1 (3 x 3 blocks): dark strands and motion blur
            beside the actor, which read like shadow, weigh less in it than in
            one block (benchmark mean dtSSD 3.30 -> 2.92, MAD 6.36 -> 6.18; 2 let
            the moving shadow's edge through: background MAD x3).
        light_block: side of the illumination estimate's blocks, in chroma pixels.
        light_reach: radius, in blocks, of the wider window the illumination is
            taken from where the window of ``light_radius`` holds little trusted
            screen (under and beside the actor): 4 reaches the actor's shadow
            beside a motion-blurred edge, which the plate's light (the fallback
            when 0) reads as partial foreground (benchmark mean dtSSD 2.92 -> 2.87).
        off_axis: weight of the alpha bound from chroma off the screen's axis
            (:func:`models.keyer_formulas.raw_alpha`): the inverse of how much more
            saturated than the screen the foreground may be; 0 disables it.
        off_axis_black: that bound's own clip black, [0, 1) (a real screen's hue
            drifts more than its colour difference does).
        luma_excess: weight of the alpha bound from luma above what the colour
            difference implies (:func:`models.keyer_formulas.raw_alpha`):
            1 assumes a foreground no brighter than white; 0 disables it.
        luma_excess_black: that bound's own clip black, on the 0-1 luma scale, [0, 1):
            the floor's noise floor (a bare screen's excess is 0 plus luma and
            chroma noise; the guide averages 8 luma samples). 0.025 against 0.03:
            benchmark mean dtSSD 2.83 -> 2.81, MAD 6.06 -> 5.96; screen corners of
            a GRID clip keyed above 4 levels 9.7 -> 10.3 %, CREMA-D's still none.
        despot_black: radius, in matte pixels (chroma pixels: two luma pixels for
            4:2:0), of a morphological closing of the screen matte: black specks
            (holes in the foreground) up to ``2 r + 1`` pixels across are filled, [0, 16];
            0 (the default) is off. Keylight's Screen Despot Black.
        despot_white: radius, in matte pixels, of a morphological opening of the
            screen matte: white specks (screen pixels keyed as foreground) up to
            ``2 r + 1`` pixels across are removed, [0, 16]; 0 is off. Keylight's Screen Despot White.
        shrink_grow: matte pixels the screen matte's edge moves, after the despot:
            negative shrinks the foreground (a minimum over a ``(2 |n| + 1)^2``
            window), positive grows it (a maximum), [-16, 16]; 0 is off.
            Keylight's Screen Shrink/Grow (Silhouette's Matte Repair and Blender's
            Keying node, dilate_distance, the same).
        softness: radius, in matte pixels, of a box blur of the screen matte after
            the shrink/grow (a softer, wider edge), [0, 16]; 0 is off. Keylight's Screen
            Softness (Blender's Keying node blurs after its dilate/erode too, blur_post).
        light_wrap: strength of the light wrap, [0, 1]: at the foreground's edge
            the composite is mixed toward the plate's blurred light, by
            ``light_wrap alpha blur(1 - alpha)`` (the plate's light bleeds into the
            edge); 0 (the default) is off. Composites only (a layer has no plate).
            Nuke's LightWrap (Intensity, Diffuse).
        light_wrap_radius: radius, in matte pixels, of the box blurs of the plate
            and of the matte that the light wrap takes, [1, 64] (Nuke's Diffuse).
        edge_luma: how far the key moves toward the alpha that luma gives at an edge,
            [0, 1]; 0 is off. Where a pixel has both solid foreground and bare screen
            within ``edge_luma_radius``, its alpha is also read from its luma's place
            between theirs (the nearby solid foreground's mean luma, the clean plate's
            times the screen's light), a colour line on luma
            (:func:`models.keyer_formulas.luma_line`), trusted as far as the two
            lumas differ beyond the screen's measured noise
            (:func:`models.keyer_formulas.line_contrast`). Chroma alone sets an edge too
            wide where the codec's chroma bleeds past it (4:2:0, MPEG-1): on three GRID
            clips the light rim round the ears (mean composite luma 2-4 px outside the
            chroma-only key's face, over a dark plate) fell from 22.5, 29.5 and 27.7
            levels to 9.1, 18.6 and 16.8, with both benchmark suites no worse.
        edge_luma_radius: radius, in matte pixels, of the windows that find the
            nearby solid foreground and bare screen for ``edge_luma``, [1, 8].

    Raises:
        InputError: a control out of its range (checked on construction).
    """

    screen_gain: float = 1.05
    screen_balance: float = 0.5
    clip_black: float = 0.05
    clip_white: float = 0.6
    despill: float = 1.0
    temporal_min: float = 1.0
    motion_threshold: float = 0.04
    seam_tolerance: float = 0.25 / 255
    guide_radius: int = 1
    guide_eps: float = 1e-4
    light_luma_tolerance: float = 0.06
    light_hue_tolerance: float = 0.1
    light_radius: int = 1
    light_block: int = 8
    light_reach: int = 4
    off_axis: float = 0.6
    off_axis_black: float = 0.1
    luma_excess: float = 1.0
    luma_excess_black: float = 0.025
    despot_black: int = 0
    despot_white: int = 0
    shrink_grow: int = 0
    softness: int = 0
    light_wrap: float = 0.0
    light_wrap_radius: int = 8
    edge_luma: float = 1.0
    edge_luma_radius: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.clip_black < self.clip_white <= 1.0:
            raise InputError("clip_black must be below clip_white, both in [0, 1]")
        if not 0.0 < self.temporal_min <= 1.0:
            raise InputError("temporal_min must be in (0, 1]")
        if not 0.0 <= self.screen_balance <= 1.0:
            raise InputError("screen_balance must be in [0, 1]")
        if self.guide_radius < 1 or self.guide_eps <= 0.0:
            raise InputError("guide_radius must be at least 1 and guide_eps positive")
        if self.light_block < 2 or self.light_radius < 0 or self.light_reach < 0:
            raise InputError("light_block must be at least 2, light_radius and light_reach at least 0")
        positive = ("screen_gain", "motion_threshold", "light_luma_tolerance", "light_hue_tolerance", "seam_tolerance")
        for name in positive:
            if getattr(self, name) <= 0.0:
                raise InputError(f"{name} must be positive")
        if not 0.0 <= self.despill <= 1.0 or self.off_axis < 0.0 or not 0.0 <= self.off_axis_black < 1.0:
            raise InputError("despill must be in [0, 1], off_axis at least 0 and off_axis_black in [0, 1)")
        if self.luma_excess < 0.0 or not 0.0 <= self.luma_excess_black < 1.0:
            raise InputError("luma_excess must be at least 0 and luma_excess_black in [0, 1)")
        self._check_edges()

    def _check_edges(self) -> None:
        """The edge controls' ranges (:attr:`despot_black` ... :attr:`light_wrap_radius`)."""
        for name, low, high in EDGE_RANGES:
            value = getattr(self, name)
            if not low <= value <= high:
                raise InputError(f"keyer control {name} is {value:g}, out of its range [{low:g}, {high:g}]",
                                 f"pass --keyer {name}=VALUE with a value from {low:g} to {high:g}")

    @property
    def edge_matte(self) -> bool:
        """Whether any of the screen matte's edge controls (despot, shrink/grow, softness) is on."""
        return bool(self.despot_black or self.despot_white or self.shrink_grow or self.softness)

    def for_frame(self, chroma_height: int) -> "KeyerParams":
        """These controls for frames whose chroma planes have ``chroma_height`` rows.

        The illumination window, ``(2 light_radius + 1) light_block`` chroma rows,
        is narrowed to at most a tenth of the frame's height: a shadow's softness
        scales with the picture, the window does not, and a window of a fifth of
        a 320 x 240 frame let a soft shadow's edge through as 12 % alpha.
        """
        fit = max(0, int((chroma_height / (10 * self.light_block) - 1) // 2))
        radius = min(self.light_radius, fit)
        return self if radius == self.light_radius else replace(self, light_radius=radius)

    @property
    def preroll_frames(self) -> int:
        """Frames a chunk decodes before its first frame to warm the temporal state.

        The filter updates the matte by at least ``temporal_min`` of the error
        each frame, so a state that starts anywhere in [0, 1] is within
        ``(1 - temporal_min) ** n`` of the unchunked one after ``n`` frames;
        ``n`` is the smallest count that brings this under ``seam_tolerance``.
        """
        if self.temporal_min >= 1.0:
            return 0
        return math.ceil(math.log(self.seam_tolerance) / math.log(1.0 - self.temporal_min))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the parameters."""
        return asdict(self)

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any]) -> "KeyerParams":
        """The defaults with a user's ``overrides`` applied, checked (``--keyer``, the API's ``keyer``).

        Raises:
            InputError: an unknown name, a value that is not a number, a fraction
                for a whole-number control, or a value out of range.
        """
        fields = cls.__dataclass_fields__
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise InputError(f"unknown keyer control {', '.join(unknown)}: use one of {', '.join(sorted(fields))}")
        values: dict[str, Any] = {}
        for name, value in overrides.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"keyer control {name}: {value!r} is not a number")
            if isinstance(fields[name].default, int):
                if not float(value).is_integer():
                    raise InputError(f"keyer control {name} takes a whole number, not {value}")
                value = int(value)
            values[name] = value
        return cls(**values)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "KeyerParams":
        """Inverse of :meth:`to_dict`; unknown keys are ignored (a plan stored by another version)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
