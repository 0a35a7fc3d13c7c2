"""The neural matting loaders (models.neural_matting) on real frames (GRID, the Chaplin clip), with
small ONNX models of the same signatures (tests/models/tiny_matting.py): preprocessing, the
recurrent state carried across chunks after the pre-roll, and wrong signatures refused."""

from __future__ import annotations

import av
import numpy as np
import pytest

from models.errors import ModelError
from models.neural_matting import (
    RVM_PREROLL_FRAMES,
    BiRefNetMatter,
    ModnetMatter,
    RvmMatter,
    modnet_size,
    rgb_frames,
    rvm_downsample_ratio,
)
from models.yuv import YuvMatrix, rgb_to_planes
from tests.conftest import media
from tests.models.tiny_matting import red_channel, tiny_birefnet, tiny_modnet, tiny_rvm

GRID = "faces/grid_swwp2s.mpg"
CHAPLIN = "extra/moviepy_chaplin_2persons_noaudio.mp4"
MATRIX = YuvMatrix()


def _planes(relative: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` frames as 4:2:0 planes (Y, CbCr), as the render path hands them over."""
    planes = []
    with av.open(media(relative)) as container:
        for frame in container.decode(video=0):
            planes.append(rgb_to_planes(frame.to_ndarray(format="rgb24"), MATRIX, subsampled=True))
            if len(planes) == count:
                break
    return np.stack([p[0] for p in planes]), np.stack([p[1] for p in planes])


def test_modnet_sizes_follow_its_inference_script() -> None:
    # get_scale_factor of onnx/inference_onnx.py, worked by hand: both sides over 512 -> shorter side 512;
    # both under -> shorter side 512; straddling -> kept; then multiples of 32.
    assert modnet_size(1920, 1080) == (896, 512)  # int(1920 / 1080 * 512) = 910 -> 896
    assert modnet_size(360, 288) == (640, 512)
    assert modnet_size(640, 360) == (640, 352)
    assert modnet_size(1080, 1920) == (512, 896)


def test_modnet_input_is_rgb_in_minus_one_to_one_and_the_matte_comes_back_at_full_size() -> None:
    luma, chroma = _planes(GRID, 4)
    matter = ModnetMatter(tiny_modnet(), 360, 288, MATRIX, "cpu")
    rgb = rgb_frames(luma, chroma, MATRIX)
    tensor = matter.prepare_frames(rgb)
    assert tensor.shape == (4, 3, 512, 640) and tensor.dtype == np.float32
    assert -1.0 <= tensor.min() and tensor.max() <= 1.0 and tensor.min() < -0.5 and tensor.max() > 0.5
    alpha, state = matter.matte_planes(luma, chroma, matter.initial_state())
    assert alpha.shape == (4, 288, 360) and alpha.dtype == np.uint8 and state is None and matter.preroll_frames == 0
    red, blue = red_channel(rgb).astype(np.int16), rgb[..., 2].astype(np.int16)
    # The tiny model mattes the red channel: resampled down and up, it stays within a few codes of it.
    assert np.abs(alpha - red).mean() < 2.5, np.abs(alpha - red).mean()
    assert np.abs(alpha - blue).mean() > 40  # a BGR mix-up would show: GRID's backdrop is blue


def test_birefnet_input_is_imagenet_normalised_rgb_at_its_size_and_its_logits_go_through_a_sigmoid() -> None:
    luma, chroma = _planes(CHAPLIN, 2)
    matter = BiRefNetMatter(tiny_birefnet(1024), 640, 360, MATRIX, "cpu")
    assert matter.size == (1024, 1024)
    tensor = matter.prepare_frame(rgb_frames(luma[:1], chroma[:1], MATRIX)[0])
    assert tensor.shape == (1, 3, 1024, 1024)
    assert tensor[0, 0].min() == pytest.approx((0 - 0.485) / 0.229, abs=0.05)  # the clip's letterbox is black
    alpha, _ = matter.matte_planes(luma, chroma, matter.initial_state())
    red = red_channel(rgb_frames(luma, chroma, MATRIX)).astype(np.int16)
    assert alpha.shape == (2, 360, 640)
    assert np.abs(alpha - red).mean() < 2.0, np.abs(alpha - red).mean()


def test_rvm_downsample_ratio_keeps_the_longest_side_at_512() -> None:
    assert rvm_downsample_ratio(1920, 1080) == pytest.approx(512 / 1920)
    assert rvm_downsample_ratio(3840, 2160) == pytest.approx(512 / 3840)
    assert rvm_downsample_ratio(360, 288) == 1.0


def test_rvm_state_is_carried_frame_to_frame_and_chunks_warmed_by_the_preroll_match_one_pass() -> None:
    frames = 48
    luma, chroma = _planes(GRID, frames)
    matter = RvmMatter(tiny_rvm(), 360, 288, MATRIX, "cpu")
    whole, state = matter.matte_planes(luma, chroma, matter.initial_state())
    r1, r2, r3, r4 = state.recurrent
    assert r3.item() == frames and r2.item() == pytest.approx(1.0) and r1.shape == (1, 1, 288, 360)  # frames seen, ratio fed
    chunk, preroll = 8, RVM_PREROLL_FRAMES
    worst, cold = 0, 0
    for start in range(0, frames, chunk):
        first = max(0, start - preroll)
        alpha, _ = matter.matte_planes(luma[first:start + chunk], chroma[first:start + chunk], matter.initial_state())
        worst = max(worst, int(np.abs(alpha[start - first:].astype(np.int16) - whole[start:start + chunk]).max()))
        unwarmed, _ = matter.matte_planes(luma[start:start + chunk], chroma[start:start + chunk], matter.initial_state())
        cold = max(cold, int(np.abs(unwarmed.astype(np.int16) - whole[start:start + chunk]).max()))
    assert worst <= 1, worst  # 0.5 ** 30 of the cold start is left: rounding only
    assert cold > 40, cold  # without the pre-roll the seam is plain


@pytest.mark.parametrize("build, loader, named", [
    (lambda: tiny_rvm(drop_input="r4i"), RvmMatter, "RVM"),
    (lambda: tiny_modnet(), RvmMatter, "RVM"),
    (lambda: tiny_modnet(channels=1), ModnetMatter, "MODNet"),
    (lambda: tiny_rvm(), ModnetMatter, "MODNet"),
    (lambda: tiny_birefnet(64, input_name="pixel_values"), BiRefNetMatter, "BiRefNet"),
])
def test_a_model_with_another_signature_is_refused_with_what_it_has_and_what_is_needed(build, loader, named) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError) as caught:
        loader(build(), 360, 288, MATRIX, "cpu")
    message = str(caught.value)
    assert f"the {named} model has the wrong signature" in message and "inputs" in message and "official" in message
