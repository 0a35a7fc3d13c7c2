"""The portrait matte (models.portrait) on real frames: GRID speakers in front of a backdrop and the
Chaplin clip (two people outdoors, no screen). The Selfie Segmentation models come from the pinned
npm package through workers.model_files, into a folder of this test session."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from models.edge_extend import extend_foreground
from models.errors import InputError
from models.keyer import Background
from models.portrait import PortraitMatter, PortraitParams, composite_planes, unstretch
from models.registry import REGISTRY
from models.segmentation import SelfieSegmenter, prepare_frames, segmentation_model
from models.yuv import YuvMatrix, rgb_to_planes
from tests.conftest import media
from workers.model_files import fetch_onnx

GRID = "faces/grid_swwp2s.mpg"
CHAPLIN = "extra/moviepy_chaplin_2persons_noaudio.mp4"
MATRIX = YuvMatrix()


def _frames(relative: str, count: int, start: int = 0) -> np.ndarray:
    frames = []
    with av.open(media(relative)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= start:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    return np.stack(frames)


@pytest.fixture(scope="module")
def models_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    for name in ("selfie_segmentation", "selfie_segmentation_landscape"):
        fetch_onnx(name, folder)
    return folder


def _matter(models_folder: Path, width: int, height: int, params: PortraitParams = PortraitParams()) -> PortraitMatter:
    segmenter = SelfieSegmenter(models_folder / REGISTRY[segmentation_model(width, height)].onnx, "cpu")
    return PortraitMatter(segmenter, width, height, MATRIX, params)


def test_the_matte_covers_the_speaker_not_the_backdrop_full_resolution_and_soft_at_the_edge(models_folder: Path) -> None:
    rgb = _frames(GRID, 12)
    matter = _matter(models_folder, 360, 288)
    alpha, state = matter.matte_rgb(rgb, matter.initial_state())
    assert alpha.shape == (12, 288, 360) and alpha.dtype == np.uint8 and state.valid
    kernel = np.ones((9, 9), np.uint8)
    for frame, matte in zip(rgb, alpha, strict=True):
        signed = frame.astype(np.int16)
        # Backdrop: teal, kept 10 px from anything else (the hair line is partly see-through).
        backdrop = cv2.erode((signed[..., 2] - signed[..., 0] > 40).astype(np.uint8), np.ones((21, 21), np.uint8)) > 0
        person = cv2.erode((signed[..., 0] - signed[..., 2] > 25).astype(np.uint8), kernel).astype(bool)  # skin, hair
        assert backdrop.mean() > 0.25 and person.mean() > 0.1
        assert np.percentile(matte[backdrop], 99) <= 5 and np.percentile(matte[person], 1) >= 250
        # Soft: partial alpha exists, and only in a band along the person's outline (not a fog).
        partial = (matte > 12) & (matte < 243)
        outline = cv2.morphologyEx((matte > 127).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        band = cv2.dilate(outline, np.ones((13, 13), np.uint8)).astype(bool)
        assert partial.sum() > 200 and partial[band].sum() >= 0.97 * partial.sum()


def test_the_chaplin_clip_gets_a_matte_on_both_people(models_folder: Path) -> None:
    rgb = _frames(CHAPLIN, 1, start=120)  # both men standing, full figure, 640x360 (landscape model)
    matter = _matter(models_folder, 640, 360)
    alpha, _ = matter.matte_rgb(rgb, matter.initial_state())
    columns = (alpha[0] > 128).sum(axis=0)
    left, right = columns[:320], columns[320:]
    assert left.max() > 100 and right.max() > 100  # a tall figure in each half of the frame
    bars = np.hstack([alpha[0][:, :50], alpha[0][:, -50:]])  # the film's black pillarbox bars
    assert bars.max() <= 5 and (alpha[0] > 128).mean() < 0.3  # not the bars, not everything


@pytest.mark.slow
@pytest.mark.parametrize(("clip", "count", "start"), [(GRID, 40, 0), (CHAPLIN, 40, 100)])
def test_chunks_warmed_by_their_preroll_match_one_pass(clip: str, count: int, start: int, models_folder: Path) -> None:
    rgb = _frames(clip, count, start)
    height, width = rgb.shape[1:3]
    matter = _matter(models_folder, width, height)
    preroll = matter.preroll_frames
    assert preroll == PortraitParams().preroll_frames > 0
    planes = [rgb_to_planes(f, MATRIX, subsampled=True) for f in rgb]
    luma, chroma = np.stack([p[0] for p in planes]), np.stack([p[1] for p in planes])
    one, _ = matter.matte_planes(luma, chroma, matter.initial_state())
    worst = 0
    for first in range(0, count, 8):
        begin = max(0, first - preroll)
        state = matter.initial_state()
        for lo in range(begin, first + 8, 5):  # batches of 5 frames across the pre-roll and the chunk
            hi = min(lo + 5, first + 8)
            batch, state = matter.matte_planes(luma[lo:hi], chroma[lo:hi], state)
            if hi > first:  # frames of the chunk itself (the pre-roll's are discarded)
                kept = max(first, lo)
                worst = max(worst, int(np.abs(batch[kept - lo:].astype(np.int16) - one[kept:hi]).max()))
    assert worst <= 2, f"chunked vs one pass: {worst} code values"
    # Without the pre-roll a chunk's first frames would differ: the state matters.
    cold, _ = matter.matte_planes(luma[16:24], chroma[16:24], matter.initial_state())
    assert np.abs(cold.astype(np.int16) - one[16:24]).max() > 2


@pytest.mark.slow
def test_flow_fusion_reduces_edge_flicker_on_a_still_shot(models_folder: Path) -> None:
    rgb = _frames(GRID, 40)
    y = np.stack([rgb_to_planes(f, MATRIX, subsampled=False)[0] for f in rgb]).astype(np.int16)
    # Pixels whose neighbourhood did not change between the two frames: any matte change there is flicker.
    still = np.stack([cv2.dilate((np.abs(b - a) > 3).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
                      for a, b in zip(y[:-1], y[1:], strict=True)])
    flicker = {}
    for weight in (0.0, PortraitParams().flow_weight):
        matter = _matter(models_folder, 360, 288, PortraitParams(flow_weight=weight))
        alpha, _ = matter.matte_rgb(rgb, matter.initial_state())
        change = np.abs(np.diff(alpha.astype(np.float32), axis=0))
        edge = (alpha[1:] > 5) & (alpha[1:] < 250)
        flicker[weight] = float(change[still & edge].mean())
    assert flicker[0.6] <= 0.85 * flicker[0.0], flicker


def test_unstretch_inverts_the_segmentation_stretch() -> None:
    frame = np.zeros((90, 160, 3), np.uint8)
    frame[20:70, 50:110] = 255  # a bright block
    tensor = prepare_frames(frame[None], (144, 256))[0, ..., 0]
    back = unstretch(tensor, 160, 90)
    assert back.shape == (90, 160)
    plane, box = frame[..., 0], np.ones((5, 5), np.uint8)
    flat = cv2.erode(plane, box) == cv2.dilate(plane, box)  # 2 px or more from the block's edge
    assert np.abs(back - plane / 255.0)[flat].max() < 1e-5
    assert np.abs(back - plane / 255.0).max() > 0.1  # (the edge itself is resampled twice)


def test_the_composite_is_alpha_f_plus_one_minus_alpha_b() -> None:
    rng = np.random.default_rng(3)
    luma = rng.integers(16, 236, (2, 8, 12), dtype=np.uint8)
    chroma = rng.integers(16, 241, (2, 2, 4, 6), dtype=np.uint8)
    alpha = rng.integers(0, 256, (2, 8, 12), dtype=np.uint8)
    alpha[0, :4] = 255
    alpha[1, :4] = 0
    bg = Background(rng.integers(16, 236, (1, 8, 12), dtype=np.uint8), rng.integers(16, 241, (1, 2, 4, 6), dtype=np.uint8))
    out_luma, out_chroma = composite_planes(luma, chroma, alpha, bg, 16.0)
    a = alpha.astype(np.float64) / 255
    straight = np.stack([extend_foreground(luma[i].astype(np.float32)[None], a[i].astype(np.float32))[0] for i in range(2)])
    expected = a * straight + (1 - a) * bg.luma.astype(np.float64)
    assert np.abs(out_luma - expected).max() <= 0.5 + 1e-4
    assert np.array_equal(out_luma[0, :4], luma[0, :4]) and np.array_equal(out_luma[1, :4], bg.luma[0, :4])
    ac = cv2.resize(a[0].astype(np.float32), (6, 4), interpolation=cv2.INTER_AREA)
    straight_c = extend_foreground(chroma[0].astype(np.float32) - 128, ac)
    expected_c = ac * straight_c + (1 - ac) * (bg.chroma[0].astype(np.float64) - 128) + 128
    assert np.abs(out_chroma[0] - expected_c).max() <= 0.5 + 1e-4


def test_the_soft_edge_takes_the_solid_foregrounds_colour_not_the_backdrops() -> None:
    """A solid foreground (Y' 60) inside a soft band over a bright backdrop (Y' 220): the band's
    frame is the mix, but the composite over black must carry only the foreground's share."""
    alpha = np.zeros((1, 256, 256), np.uint8)
    alpha[0, 64:192, 64:192] = 255
    alpha[0, 60:64, 64:192] = 128  # a soft top edge, 4 rows (within REACH of a 256-pixel frame)
    a = alpha[0].astype(np.float64) / 255
    luma = np.rint(a * 60 + (1 - a) * 220).astype(np.uint8)[None]
    chroma = np.full((1, 2, 128, 128), 128, np.uint8)
    black = Background(np.full((1, 256, 256), 16, np.uint8), np.full((1, 2, 128, 128), 128, np.uint8))
    out_luma, _ = composite_planes(luma, chroma, alpha, black, 16.0)
    band = out_luma[0, 60:64, 70:186].astype(np.float64)
    assert np.abs(band - (16 + 128 / 255 * (60 - 16))).max() <= 1.0  # the frame as F would give 16 + 0.5 * 124 = 78


def test_key_frames_composites_over_a_plate_and_keeps_the_state_immutable(models_folder: Path) -> None:
    rgb = _frames(GRID, 3)
    matter = _matter(models_folder, 360, 288)
    planes = [rgb_to_planes(f, MATRIX, subsampled=True) for f in rgb]
    luma, chroma = np.stack([p[0] for p in planes]), np.stack([p[1] for p in planes])
    plate_luma, plate_chroma = rgb_to_planes(np.full((288, 360, 3), (200, 40, 40), np.uint8), MATRIX, subsampled=True)
    start = matter.initial_state()
    result = matter.key_frames(luma, chroma, Background(plate_luma[None], plate_chroma[None]), start)
    assert result.luma.shape == luma.shape and result.chroma.shape == chroma.shape
    person, clear = result.alpha == 255, result.alpha == 0
    assert np.array_equal(result.luma[person], luma[person])
    assert np.all(result.luma[clear] == plate_luma[0, 0])
    assert not start.valid and not start.probability.any() and result.state.valid
    again = matter.key_frames(luma, chroma, None, start)  # the same state gives the same frames
    assert np.array_equal(again.alpha, result.alpha) and again.luma is luma


def test_bad_inputs_are_refused(models_folder: Path) -> None:
    matter = _matter(models_folder, 360, 288)
    with pytest.raises(InputError):
        matter.matte_planes(np.zeros((1, 100, 100), np.uint8), np.zeros((1, 2, 50, 50), np.uint8), matter.initial_state())
    with pytest.raises(InputError):
        PortraitParams(flow_weight=1.0)
    assert PortraitParams(flow_weight=0.0).preroll_frames == 0
    params = PortraitParams()
    n = params.preroll_frames
    assert params.flow_weight ** n <= params.seam_tolerance < params.flow_weight ** (n - 1)
