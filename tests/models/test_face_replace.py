"""The multi-task order on known cases: the hold keeps the face solid, the paste keeps the key's edges."""

from __future__ import annotations

import numpy as np

from models.face_replace import FramePlanes, hold_matte, replace_faces
from models.face_swap import FACE_OVAL
from models.keyer import Keyer
from models.keyer_params import KeyerParams
from models.screen import ScreenAnalysis
from models.yuv import YuvMatrix, planes_to_rgb, rgb_to_planes

MATRIX = YuvMatrix.from_sws(5)
SCREEN = np.float32([0.15, 0.62, 0.25])


def _oval_face(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """``(468, 2)`` landmarks whose face oval is an ellipse (the other points at its centre)."""
    points = np.tile(np.float32([cx, cy]), (468, 1))
    angles = np.linspace(0, 2 * np.pi, len(FACE_OVAL), endpoint=False)
    points[list(FACE_OVAL)] = np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)
    return points


class _Flat:
    """A swapper that paints the whole region one colour through a full mask."""

    name = "flat"

    def __init__(self, colour: tuple[float, float, float]) -> None:
        self.colour = np.float32(colour)

    def paste(self, target: np.ndarray, target_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        face = np.broadcast_to(self.colour, target.shape).astype(np.float32)
        return face, np.ones(target.shape[:2], np.float32)


def test_hold_matte_keeps_screen_coloured_skin_in_the_key() -> None:
    width, height = 128, 96
    frame = np.broadcast_to(np.round(SCREEN * 255).astype(np.uint8), (height, width, 3)).copy()
    luma, chroma = rgb_to_planes(frame, MATRIX, True)
    analysis = ScreenAnalysis(SCREEN, np.broadcast_to(SCREEN, (24, 32, 3)).copy(), 1.0)
    keyer = Keyer(analysis, KeyerParams(), width, height, MATRIX, output="layer", providers="cpu", hold=True)
    face = _oval_face(64, 48, 20, 26)
    hold = hold_matte([face], (width // 2, height // 2), 0.5)[None]
    held = keyer.key_frames(luma[None], chroma[None], None, keyer.initial_state(), hold).alpha[0]
    free = keyer.key_frames(luma[None], chroma[None], None, keyer.initial_state()).alpha[0]
    assert free.max() <= 8, "without the hold the screen-coloured 'skin' keys out"
    assert held[40:56, 56:72].min() >= 250, "inside the held face the matte is solid"
    assert held[:, :20].max() <= 8, "outside the face the key is untouched"


def test_paste_uses_the_key_alpha_over_the_plate_and_touches_nothing_else() -> None:
    width, height = 96, 96
    plate = np.zeros((height, width, 3), np.uint8)
    plate[..., 2] = 200  # blue plate
    alpha = np.zeros((height, width), np.uint8)
    alpha[:, : width // 2] = 255  # the actor fills the left half; the screen (now the plate) the right
    composite = np.where(alpha[..., None] > 0, np.uint8([90, 90, 90]), plate)
    luma, chroma = rgb_to_planes(composite, MATRIX, True)
    original_luma = luma.copy()
    face = _oval_face(48, 48, 16, 20)  # straddles the matte edge
    replace_faces(FramePlanes(luma, chroma, alpha, plate), [face], _Flat((250.0, 30.0, 30.0)), MATRIX)
    out = planes_to_rgb(luma, chroma, MATRIX).astype(int)
    assert abs(out[48, 36] - [250, 30, 30]).max() <= 6, "inside the matte: the new face"
    assert abs(out[48, 60] - [0, 0, 200]).max() <= 6, "outside the matte: still the plate, as the key said"
    assert np.array_equal(luma[:10], original_luma[:10]), "far from the face nothing changes"
