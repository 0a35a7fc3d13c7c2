"""Blanking lines at the frame's border (models.border) on the real clips: found in the screen analysis,
filled before keying, so a GRID clip's dark top row is the plate in the composite, not a dark line."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from models.border import NO_BORDER, fill_border, find_blanking
from models.keyer import Background, Keyer
from models.keyer_params import KeyerParams
from models.screen import ScreenAnalysis, estimate_screen
from models.yuv import planes_to_rgb
from tests.conftest import media
from tests.frames import decoded_planes
from tests.models.test_keyer import MATRIX
from workers.decode import decode_video


def _rgb(clip: str, every: int = 10, count: int = 6) -> list[np.ndarray]:
    frames = itertools.islice(decode_video(media(clip), "yuv420p"), 0, every * count, every)
    return [f.to_ndarray(format="rgb24") for f in frames]


@pytest.mark.parametrize(("clip", "border"), [
    ("faces/grid_bbaf2n.mpg", (2, 0, 0, 0)), ("faces/grid_swiz3n.mpg", (2, 0, 0, 0)),
    ("greenscreen/cremad_1001_DFA_HAP_XX.flv", (1, 1, 1, 0)),
    ("extra/moviepy_chaplin_2persons_noaudio.mp4", NO_BORDER), ("backgrounds/tears_of_steel_2s.webm", NO_BORDER),
])
def test_blanking_lines_are_found_on_real_clips_and_only_there(clip: str, border: tuple[int, int, int, int]) -> None:
    assert find_blanking(_rgb(clip)) == border


def test_a_grid_clips_dark_top_row_is_the_plate_in_the_composite() -> None:
    """Every GRID clip's first row has about 40 % of the luma of the picture below it and the second is
    nearly grey; keyed as foreground they stayed over the plate as a brown line (issue 18 item 5)."""
    luma, chroma = decoded_planes(media("faces/grid_bbaf2n.mpg"), 8)
    analysis = estimate_screen([planes_to_rgb(luma[i], chroma[i], MATRIX) for i in range(0, 8, 2)])
    assert analysis.border == (2, 0, 0, 0)
    assert ScreenAnalysis.from_dict(analysis.to_dict()).border == (2, 0, 0, 0)
    stored = analysis.to_dict()
    del stored["border"]  # a plan stored before borders were found
    assert ScreenAnalysis.from_dict(stored).border == NO_BORDER
    h, w = luma.shape[1:]
    rng = np.random.default_rng(3)  # a textured plate, so a copied row would not pass for the plate either
    plate_y = rng.integers(40, 200, (1, h, w), dtype=np.uint8)
    plate_c = rng.integers(100, 156, (1, 2, h // 2, w // 2), dtype=np.uint8)

    def rows_error(screen: ScreenAnalysis, rows: slice) -> float:
        keyer = Keyer(screen, KeyerParams(), w, h, MATRIX, providers="cpu")
        result = keyer.key_frames(luma, chroma, Background(plate_y, plate_c), keyer.initial_state())
        return float(np.abs(result.luma[:, rows].astype(int) - plate_y[:, rows]).mean())

    # The backdrop's top is brighter than the clean plate there (lit hard, near clipping), so the picture
    # rows below the border leak about 10 levels; the border rows must key as they do, no worse.
    before = ScreenAnalysis(analysis.screen_rgb, analysis.clean_plate, analysis.screen_fraction)  # no border known
    inside = rows_error(analysis, slice(2, 6))
    assert rows_error(before, slice(0, 1)) > inside + 30, "without the fill the dark row stays in the composite"
    assert rows_error(analysis, slice(0, 2)) < inside + 2


def test_fill_border_smears_the_picture_line_and_the_chroma_beside_it() -> None:
    luma = np.arange(2 * 8 * 10, dtype=np.uint8).reshape(2, 8, 10)
    chroma = np.arange(2 * 2 * 4 * 5, dtype=np.uint8).reshape(2, 2, 4, 5)
    filled_y, filled_c = fill_border(luma, chroma, (2, 0, 1, 0), True)
    assert (filled_y[:, 0, 1:] == luma[:, 2, 1:]).all() and (filled_y[:, 1, 1:] == luma[:, 2, 1:]).all()
    assert (filled_y[:, :2, 0] == luma[:, 2:3, 1]).all()  # the corner: the picture's corner pixel
    assert (filled_y[:, 3:, 0] == luma[:, 3:, 1]).all() and (filled_y[:, 3:, 1:] == luma[:, 3:, 1:]).all()
    assert (filled_c[:, :, 0, 1:] == chroma[:, :, 2, 1:]).all() and (filled_c[:, :, 1, 1:] == chroma[:, :, 2, 1:]).all()
    assert (filled_c[:, :, 2:, 0] == chroma[:, :, 2:, 1]).all()  # one luma column: the chroma column beside it too
    same_y, same_c = fill_border(luma, chroma, NO_BORDER, True)
    assert same_y is luma and same_c is chroma
