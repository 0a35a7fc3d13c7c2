"""MediaPipe Selfie Segmentation converted to ONNX by models.tflite_onnx, against Google's own
runtime (ai_edge_litert, which runs the custom Convolution2DTransposeBias through its XNNPACK
delegate, as MediaPipe's CPU graph does) on real frames, and the mask it gives on green-screen shots.

The .tflite files come from the pinned npm package through workers.model_files (npm pack, then
the registry's SHA-256), into a folder of this test session.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from models import registry
from models.errors import ModelError
from models.registry import REGISTRY
from models.segmentation import SelfieSegmenter, prepare_frames, segmentation_model
from models.tflite_onnx import (
    CONVERTER_VERSION,
    convert_tflite,
    transpose_conv_bias_options,
)
from tests.conftest import media
from workers.model_files import fetch_model, fetch_onnx

MODELS = ("selfie_segmentation", "selfie_segmentation_landscape")
# (file, frame indices): green screen, a face close-up, an old film with two people, stills.
VIDEO_FRAMES = (("greenscreen/cremad_1001_DFA_HAP_XX.flv", (0, 40)), ("greenscreen/cremad_1001_DFA_SAD_XX.flv", (30,)),
                ("greenscreen/cremad_1001_DFA_FEA_XX.flv", (15,)),
                ("extra/autoeditor_man_on_green_screen.mp4", (150, 300)),
                ("faces/grid_lbax4n.mpg", (20,)), ("faces/grid_swwp2s.mpg", (50,)),
                ("extra/moviepy_chaplin_2persons_noaudio.mp4", (0, 60, 120, 200, 240)))
STILLS = ("extra/natron_greenscreen_woman_0001.jpg", "faces/wh_two_people.jpg", "faces/wh_obama_official_portrait.jpg",
          "backgrounds/skimage_rocket_launch.jpg")


def _video_frames(relative: str, picks: tuple[int, ...]) -> list[np.ndarray]:
    with av.open(media(relative)) as container:
        frames = []
        for i, frame in enumerate(container.decode(video=0)):
            if i in picks:
                frames.append(frame.to_ndarray(format="rgb24"))
            if i >= max(picks):
                break
    assert len(frames) == len(picks), f"{relative} has fewer than {max(picks) + 1} frames"
    return frames


def _still(relative: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(media(relative)), cv2.COLOR_BGR2RGB)


def _real_frames() -> list[np.ndarray]:
    return [f for path, picks in VIDEO_FRAMES for f in _video_frames(path, picks)] + [_still(p) for p in STILLS]


@pytest.fixture(scope="module")
def models_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both .tflite files fetched with npm pack and checked, and their ONNX conversions."""
    folder = tmp_path_factory.mktemp("models")
    for name in MODELS:
        fetch_onnx(name, folder)
    return folder


@pytest.mark.parametrize("name", MODELS)
def test_converted_model_matches_litert_on_real_frames(name: str, models_folder: Path) -> None:
    spec = REGISTRY[name]
    interpreter = Interpreter(model_path=str(models_folder / spec.file), num_threads=2)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    segmenter = SelfieSegmenter(models_folder / spec.onnx, "cpu")
    assert segmenter.size == tuple(source["shape"][1:3])

    worst, persons, backgrounds = 0.0, 0, 0
    for frame in _real_frames():
        tensor = prepare_frames(frame[None], segmenter.size)
        interpreter.set_tensor(source["index"], tensor)
        interpreter.invoke()
        expected = interpreter.get_tensor(target["index"])
        got = segmenter.forward(tensor)
        assert got.shape == expected.shape == (1, *segmenter.size, 1)
        worst = max(worst, float(np.abs(got - expected).max()))
        persons += int((expected > 0.5).mean() > 0.05)
        backgrounds += int((expected < 0.5).mean() > 0.05)
    assert worst <= 1e-3, f"{name}: max |ONNX - LiteRT| = {worst:.2e} over the real frames"
    assert persons >= 12 and backgrounds >= 12  # not a parity of blanks: the frames show people and places


def test_a_batch_gives_each_frame_its_own_result(models_folder: Path) -> None:
    segmenter = SelfieSegmenter(models_folder / "selfie_segmentation.onnx", "cpu")
    frames = np.stack(_video_frames("greenscreen/cremad_1001_DFA_HAP_XX.flv", (0, 20, 40)))
    batch = segmenter.person_probability(frames)
    assert batch.shape == (3, 256, 256) and batch.dtype == np.float32
    assert 0.0 <= batch.min() and batch.max() <= 1.0
    for i in range(3):
        assert np.abs(batch[i] - segmenter.person_probability(frames[i:i + 1])[0]).max() < 1e-5


@pytest.mark.parametrize(("clip", "pick", "model"), [
    ("greenscreen/cremad_1001_DFA_ANG_XX.flv", 20, "selfie_segmentation"),  # 480x360: 4:3, general
    ("extra/autoeditor_man_on_green_screen.mp4", 300, "selfie_segmentation_landscape"),  # 1280x720: landscape
])
def test_person_mask_covers_the_actor_and_not_the_screen(clip: str, pick: int, model: str, models_folder: Path) -> None:
    frame = _video_frames(clip, (pick,))[0]
    assert segmentation_model(frame.shape[1], frame.shape[0]) == model
    probability = SelfieSegmenter(models_folder / REGISTRY[model].onnx, "cpu").person_probability(frame[None])[0]
    # Screen and actor by colour on the model's grid, kept 3 cells away from their edges.
    cells = cv2.resize(frame, probability.shape[::-1], interpolation=cv2.INTER_AREA).astype(np.int16)
    green = cells[..., 1] - np.maximum(cells[..., 0], cells[..., 2])
    kernel = np.ones((7, 7), np.uint8)
    screen = cv2.erode((green > 40).astype(np.uint8), kernel).astype(bool)
    actor = cv2.erode((green < 5).astype(np.uint8), kernel).astype(bool)
    assert screen.mean() > 0.3 and actor.mean() > 0.05
    assert probability[screen].mean() < 0.01 and probability[screen].max() < 0.1
    assert probability[actor].mean() > 0.97


def test_aspect_picks_the_model() -> None:
    assert segmentation_model(1920, 1080) == segmentation_model(1920, 1200) == "selfie_segmentation_landscape"
    assert segmentation_model(640, 480) == segmentation_model(1080, 1920) == "selfie_segmentation"
    assert segmentation_model(640, 480, "landscape") == "selfie_segmentation_landscape"
    assert segmentation_model(1920, 1080, "general") == "selfie_segmentation"


def test_conversion_is_cached_and_remade_when_stale(models_folder: Path) -> None:
    import onnx

    path = models_folder / "selfie_segmentation.onnx"
    before = path.stat().st_mtime_ns
    assert fetch_onnx("selfie_segmentation", models_folder) == path and path.stat().st_mtime_ns == before
    stale = onnx.load(str(path))
    onnx.helper.set_model_props(stale, {"source_sha256": REGISTRY["selfie_segmentation"].sha256,
                                        "tflite_onnx_version": str(CONVERTER_VERSION - 1)})
    onnx.save(stale, str(path))
    fetch_onnx("selfie_segmentation", models_folder)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["tflite_onnx_version"] == str(CONVERTER_VERSION)


def test_npm_file_with_another_hash_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = dataclasses.replace(REGISTRY["selfie_segmentation"], sha256="0" * 64,
                                url="http://127.0.0.1:9/selfie_segmentation.tflite")
    monkeypatch.setitem(registry.REGISTRY, "selfie_segmentation", wrong)
    with pytest.raises(ModelError, match="SHA-256") as caught:
        fetch_model("selfie_segmentation", tmp_path)
    assert "downloading it failed" in str(caught.value) and not list(tmp_path.iterdir())


def test_transposed_convolution_options_are_the_c_struct() -> None:
    # TFLite's own test of the op (convolution_2d_transpose_bias.mlir): SAME, stride 2 x 2.
    assert transpose_conv_bias_options(bytes([1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0])) == (1, 2, 2)
    with pytest.raises(ModelError, match="option bytes"):
        transpose_conv_bias_options(b"\x01\x00")


def test_a_file_that_is_not_tflite_is_refused() -> None:
    with pytest.raises(ModelError):
        convert_tflite(b"not a flatbuffer at all")
