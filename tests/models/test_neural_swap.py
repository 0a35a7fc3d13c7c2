"""The inswapper_128 path (alignment, ArcFace latent, paste-back) with small ONNX graphs of the real signatures.

The real weights cannot be had here; these graphs take and give tensors of the
same names, shapes and ranges, and carry a 512x512 ``emap`` as their last
initializer, so the loading, alignment and paste-back code is the real one.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.face_analysis import FaceAnalyser
from models.face_detect import FaceDetector
from models.face_landmarks import FaceMesh
from models.face_replace import FramePlanes, replace_faces
from models.neural_swap import ARCFACE_128, ArcFace, InSwapper, align, five_points, load_emap, source_latent
from models.registry import model_path
from models.yuv import YuvMatrix, planes_to_rgb, rgb_to_planes
from tests.conftest import SHARED, media

_F = TensorProto.FLOAT


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def build_arcface(path: Path) -> Path:
    """``input.1 (B, 3, 112, 112)`` -> ``683 (B, 512)``: channel means times a fixed matrix."""
    weights = np.random.default_rng(1).normal(size=(3, 512)).astype(np.float32)
    nodes = [helper.make_node("GlobalAveragePool", ["input.1"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["683"])]
    graph = helper.make_graph(nodes, "arcface_like", [helper.make_tensor_value_info("input.1", _F, ["B", 3, 112, 112])],
                              [helper.make_tensor_value_info("683", _F, ["B", 512])], [numpy_helper.from_array(weights, "w")])
    return _save(graph, path)


def build_inswapper(path: Path, mix: float) -> tuple[Path, np.ndarray]:
    """``target (1, 3, 128, 128)``, ``source (1, 512)`` -> ``output (1, 3, 128, 128)``:
    ``(1 - mix) target + mix sigmoid(sum(source))``; ``emap`` is the last initializer."""
    emap = np.random.default_rng(2).normal(scale=0.05, size=(512, 512)).astype(np.float32)
    nodes = [helper.make_node("ReduceSum", ["source"], ["total"], keepdims=1),
             helper.make_node("Sigmoid", ["total"], ["grey"]),
             helper.make_node("Mul", ["target", "keep"], ["kept"]),
             helper.make_node("Mul", ["grey", "mix"], ["added"]),
             helper.make_node("Add", ["kept", "added"], ["output"])]
    inits = [numpy_helper.from_array(np.float32(1 - mix), "keep"), numpy_helper.from_array(np.float32(mix), "mix"),
             numpy_helper.from_array(emap, "emap")]
    graph = helper.make_graph(nodes, "inswapper_like", [helper.make_tensor_value_info("target", _F, [1, 3, 128, 128]),
                                                        helper.make_tensor_value_info("source", _F, [1, 512])],
                              [helper.make_tensor_value_info("output", _F, [1, 3, 128, 128])], inits)
    return _save(graph, path), emap


@pytest.fixture(scope="module")
def grid_face() -> tuple[np.ndarray, np.ndarray]:
    """A real GRID frame (RGB) and its FaceMesh landmarks."""
    analyser = FaceAnalyser(FaceDetector(model_path("yunet", SHARED / "models"), "cpu"),
                            FaceMesh(model_path("facemesh_468", SHARED / "models"), "cpu"))
    with av.open(media("faces/grid_swiz3n.mpg")) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    return rgb, analyser.analyse(rgb)[0].landmarks[:, :2]


def test_alignment_puts_the_keypoints_on_the_template(grid_face) -> None:  # noqa: ANN001
    _, landmarks = grid_face
    matrix = align(five_points(landmarks), ARCFACE_128)
    mapped = five_points(landmarks) @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(mapped - ARCFACE_128).max() < 4.0, "eyes, nose and mouth land on the 128 px template"


def test_source_latent_is_the_embedding_through_the_graphs_emap(tmp_path: Path, grid_face) -> None:  # noqa: ANN001
    rgb, landmarks = grid_face
    swapper_file, emap = build_inswapper(tmp_path / "inswapper_128.onnx", 0.5)
    assert np.array_equal(load_emap(swapper_file), emap)
    embedding = ArcFace(build_arcface(tmp_path / "arcface.onnx"), "cpu").embed(rgb, landmarks)
    assert embedding.shape == (512,)
    latent = source_latent(embedding, emap)
    assert np.allclose(latent, embedding @ emap / np.linalg.norm(embedding), atol=1e-5)


def test_identity_generator_pastes_the_face_back_where_it_was(tmp_path: Path, grid_face) -> None:  # noqa: ANN001
    rgb, landmarks = grid_face
    swapper = InSwapper(build_inswapper(tmp_path / "inswapper_128.onnx", 0.0)[0], np.zeros((1, 512), np.float32), "cpu")
    face, mask = swapper.paste(rgb.astype(np.float32), landmarks)
    inside = mask > 0.9
    assert inside.sum() > 2000, "the box mask covers the face"
    assert np.abs(face[inside] - rgb[inside]).mean() < 6.0, "crop and inverse warp agree (8-bit levels)"


def test_generated_face_goes_through_the_multitask_paste(tmp_path: Path, grid_face) -> None:  # noqa: ANN001
    rgb, landmarks = grid_face
    latent = np.full((1, 512), 0.01, np.float32)  # sigmoid(5.12): the generator paints near white
    swapper = InSwapper(build_inswapper(tmp_path / "inswapper_128.onnx", 1.0)[0], latent, "cpu")
    matrix = YuvMatrix.from_sws(1)
    luma, chroma = rgb_to_planes(rgb, matrix, subsampled=True)
    before = luma.copy()
    replace_faces(FramePlanes(luma, chroma), [landmarks], swapper, matrix)
    out = planes_to_rgb(luma, chroma, matrix)
    nose = np.round(landmarks[1]).astype(int)
    assert out[nose[1], nose[0]].min() > 240, "the generated (white) face is pasted"
    assert np.array_equal(luma[:20], before[:20]), "far from the face nothing changes"
