"""MatteKeyer (models.matte_keyer): a matter with the keyer's outputs, on real GRID frames and a
small MODNet-signature model (tests/models/tiny_matting.py)."""

from __future__ import annotations

import numpy as np
import pytest

from models.errors import InputError
from models.keyer import Background
from models.matte_keyer import MatteKeyer
from models.neural_matting import ModnetMatter
from models.yuv import YuvMatrix
from tests.models.test_neural_matting import GRID, _planes
from tests.models.tiny_matting import tiny_modnet

MATRIX = YuvMatrix()


def _keyer(output: str) -> MatteKeyer[None]:
    return MatteKeyer(ModnetMatter(tiny_modnet(), 360, 288, MATRIX, "cpu"), 360, 288, MATRIX, output, subsampled=True)  # type: ignore[arg-type]


def test_the_layer_is_the_frame_with_full_size_chroma_and_the_matte_as_alpha() -> None:
    luma, chroma = _planes(GRID, 3)
    keyer = _keyer("layer")
    result = keyer.key_frames(luma, chroma, None, keyer.initial_state())
    alone, _ = keyer.matter.matte_planes(luma, chroma, None)
    assert np.array_equal(result.alpha, alone)
    own = (alone == 0) | (alone >= 230)  # clear or solid: the frame's own colour (edge: models.edge_extend)
    assert result.chroma.shape == (3, 2, 288, 360) and np.array_equal(result.luma[own], luma[own])
    assert own.any() and not own.all()
    assert np.abs(result.chroma[:, :, ::2, ::2].astype(np.int16) - chroma).mean() < 2  # upsampled, not changed


def test_the_composite_shows_the_plate_where_the_matte_is_clear_and_needs_a_plate() -> None:
    luma, chroma = _planes(GRID, 2)
    keyer = _keyer("composite")
    with pytest.raises(InputError, match="background plate"):
        keyer.key_frames(luma, chroma, None, None)
    plate = Background(np.full((1, 288, 360), 200, np.uint8), np.full((1, 2, 144, 180), 128, np.uint8))
    result = keyer.key_frames(luma, chroma, plate, None)
    clear, solid = result.alpha == 0, result.alpha == 255
    assert clear.any() and solid.any()
    assert np.abs(result.luma[clear].astype(np.int16) - 200).max() <= 1
    assert np.abs(result.luma[solid].astype(np.int16) - luma[solid]).max() <= 1


def test_a_held_face_stays_in_the_matte() -> None:
    luma, chroma = _planes(GRID, 2)
    keyer = _keyer("layer")
    hold = np.zeros((2, 144, 180), np.float32)
    hold[:, 40:80, 60:120] = 1.0
    free = keyer.key_frames(luma, chroma, None, None).alpha
    held = keyer.key_frames(luma, chroma, None, None, hold).alpha
    assert free[:, 82:158, 122:238].min() < 255 and held[:, 82:158, 122:238].min() == 255
    assert np.array_equal(held[:, :60], free[:, :60])  # nothing changes away from the hold
