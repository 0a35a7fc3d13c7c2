"""The acceptance clip of garbage mattes (issue 18 item 2): a real green-screen clip (CREMA-D) padded into a wider
frame with the studio beyond the screen's edge: a grey wall with a soft light falloff and sensor noise, a dark light
stand (pole, lamp head, tripod legs) on the left, and on the right the screen's frame, a strip of dark metal, then
wall. Lossless (FFV1, 4:2:0, BT.601 as the source), so what is keyed is what was drawn."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

from tests.conftest import media

CLIP = "greenscreen/cremad_1001_DFA_HAP_XX.flv"
PAD = 120
"""Studio pixels added on each side of the 480 x 360 clip."""
EDGE = 10
"""Width of the screen's frame (dark metal) on the right, pixels."""


@dataclass(frozen=True)
class StudioClip:
    """The padded clip and where its parts are.

    Attributes:
        path: the FFV1 file. width, height: its size. screen: ``(x0, x1)`` columns of the original clip.
        patch: ``(x0, y0, x1, y1)`` of a screen-coloured patch painted on the actor's shirt, or None.
    """

    path: str
    width: int
    height: int
    screen: tuple[int, int]
    patch: tuple[int, int, int, int] | None

    def studio(self, margin: int) -> np.ndarray:
        """``(H, W)`` bool: the studio beyond the screen, ``margin`` pixels away from the clip's edges."""
        mask = np.ones((self.height, self.width), bool)
        mask[:, self.screen[0] - margin: self.screen[1] + margin] = False
        return mask


def _studio(height: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(left, right)`` ``(height, PAD, 3)`` uint8 RGB studio strips."""
    rows = np.linspace(1.0, 0.8, height)[:, None, None]
    wall = np.clip(np.full((height, PAD, 3), (132, 128, 122), np.float32) * rows + rng.normal(0, 2.0, (height, PAD, 3)),
                   0, 255).astype(np.uint8)
    left, right = wall.copy(), wall[:, ::-1].copy()
    cv2.rectangle(left, (55, 40), (62, height - 40), (28, 28, 30), -1)  # the stand's pole
    cv2.fillConvexPoly(left, np.array([[35, 20], [85, 20], [78, 52], [42, 52]], np.int32), (22, 22, 24))  # lamp head
    for foot in (20, 58, 100):  # tripod legs
        cv2.line(left, (58, height - 40), (foot, height - 2), (30, 30, 32), 3, cv2.LINE_AA)
    right[:, :EDGE] = (72, 74, 78)  # the screen's frame, beside the green
    return left, right


def make_studio_clip(path: str, frames: int, patch: bool = False, seed: int = 5) -> StudioClip:
    """Write the first ``frames`` frames of the clip, padded into the studio, to ``path`` (FFV1 .mkv).

    ``patch``: paint a 48 x 40 patch of the screen's own green (sampled from the screen left of the
    actor in each frame) on the actor's shirt, for the core matte.
    """
    rng = np.random.default_rng(seed)
    box = (240 + PAD - 24, 290, 240 + PAD + 24, 330) if patch else None
    with av.open(media(CLIP)) as source, av.open(path, "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        for i, frame in enumerate(source.decode(video=0)):
            if i == frames:
                break
            rgb = frame.to_ndarray(format="rgb24")
            height = rgb.shape[0]
            left, right = _studio(height, rng)
            wide = np.concatenate([left, rgb, right], axis=1)
            if box is not None:
                green = rgb[150:200, 20:60].reshape(-1, 3).mean(axis=0)
                wide[box[1]:box[3], box[0]:box[2]] = green.astype(np.uint8)
            if i == 0:
                stream.width, stream.height, stream.pix_fmt = wide.shape[1], height, "yuv420p"
            yuv = av.VideoFrame.from_ndarray(wide, format="rgb24").reformat(format="yuv420p", dst_colorspace=5,
                                                                            dst_color_range=1)
            yuv.pts, yuv.time_base, yuv.colorspace, yuv.color_range = i, Fraction(1, 25), 5, 1
            for packet in stream.encode(yuv):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return StudioClip(path, PAD * 2 + 480, 360, (PAD, PAD + 480), box)
