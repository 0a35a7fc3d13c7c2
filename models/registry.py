"""The model registry: every weight file Mattefarm runs, with its source, hash, licence and signature.

Models live in one directory, ``MATTEFARM_MODELS_DIR`` (default
``~/.cache/mattefarm/models``); tests and CI point it at ``../shared/models``.
This module resolves and verifies files only: a missing file raises
:class:`MissingModel` (naming the file, its official URL and the directory),
and :func:`workers.model_files.fetch_model` downloads it. A file whose SHA-256
differs from the registry's is refused, never run.

Hashes and sources follow ``../shared/media/MANIFEST.md``; each entry keeps,
side by side (as FaceFusion's model sets do), what the code that prepares
its tensors relies on.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from models.errors import ModelError


@dataclass(frozen=True)
class ModelSpec:
    """One model file.

    Attributes:
        name: registry key. file: file name in the models directory.
        url: official download URL. sha256: hex digest of the file; None for a file whose
            publisher gives no digest and that no pinned copy fixes (a studio-supplied file:
            never downloaded, taken as the studio put it in the models directory or named it
            with ``--matte-model``, its digest shown in the render's log).
        licence: the weights' licence, as their source states it.
        inputs / outputs: ``name: shape, dtype`` of the graph's tensors.
        preprocessing: how the input tensor is made (layout, colour order, range).
        npm: ``package@version`` whose tarball carries ``file`` (at ``package/<file>``),
            fetched with ``npm pack`` before ``url`` is tried; empty when there is none.
        onnx: for a file that is not ONNX (a ``.tflite``), the ONNX file Mattefarm
            converts it into (:func:`models.tflite_onnx.convert_tflite`), cached in the
            models directory beside it and remade when its source or the converter
            changes; empty for an ONNX file.
    """

    name: str
    file: str
    url: str
    sha256: str | None
    licence: str
    inputs: str
    outputs: str
    preprocessing: str
    npm: str = ""
    onnx: str = ""


REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec(
        name="yunet",
        file="face_detection_yunet_2023mar.onnx",
        url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
        sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        licence="MIT (OpenCV Zoo YuNet)",
        inputs="input: (1, 3, 640, 640) float32",
        outputs="cls_/obj_{8,16,32}: (1, N, 1); bbox_{s}: (1, N, 4); kps_{s}: (1, N, 10); N = (640/s)^2",
        preprocessing="BGR, 0-255 (no normalisation), NCHW; image letterboxed into 640x640 (top-left, zero padding)",
    ),
    ModelSpec(
        name="yunet_s_dynamic",
        file="yunet_s_dynamic.onnx",
        url="https://github.com/ShiqiYu/libfacedetection.train/raw/0047ac24af/onnx/yunet_s_dynamic.onnx",
        sha256="daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3",
        licence="MIT / Apache-2.0 (libfacedetection.train)",
        inputs="input: (B, 3, H, W) float32, H and W multiples of 32",
        outputs="as yunet, N = (H/s)(W/s)",
        preprocessing="as yunet, padded (not resized) to multiples of 32",
    ),
    ModelSpec(
        name="facemesh_468",
        file="facemesh_468_deepfacelive.onnx",
        url="https://github.com/iperov/DeepFaceLive/raw/fc7b787bda/modelhub/onnx/FaceMesh/FaceMesh.onnx",
        sha256="d543107cfab6a216501b37667ef1520950410dfe02d4c186e6b154fc91345ee1",
        licence="weights Apache-2.0 (Google MediaPipe); this ONNX conversion ships in a GPL-3.0 repository",
        inputs="input_1: (1, 192, 192, 3) float32",
        outputs="conv2d_21: (1, 1, 1, 1404) = 468 x (x, y, z) in crop pixels",
        preprocessing="RGB in [0, 1], NHWC, a square crop around the face resized to 192x192",
    ),
    ModelSpec(
        name="inswapper_128",
        file="inswapper_128.onnx",
        url="https://github.com/facefusion/facefusion-assets/releases/download/models/inswapper_128.onnx",
        sha256="e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af",
        licence="InsightFace inswapper: non-commercial research use only",
        inputs="target: (1, 3, 128, 128) float32; source: (1, 512) float32",
        outputs="output: (1, 3, 128, 128) float32, RGB in [0, 1]",
        preprocessing="target: RGB in [0, 1], NCHW, aligned by a similarity transform of the 5 keypoints onto "
                      "the ArcFace template shifted 8 px right (arcface_128_v2); source: ArcFace embedding . emap / "
                      "||embedding||, emap = the graph's last initializer (512 x 512)",
    ),
    ModelSpec(
        name="arcface_w600k_r50",
        file="arcface_w600k_r50.onnx",
        url="https://github.com/facefusion/facefusion-assets/releases/download/models/arcface_w600k_r50.onnx",
        sha256="4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
        licence="InsightFace buffalo_l (w600k_r50): non-commercial research use only",
        inputs="input.1: (B, 3, 112, 112) float32",
        outputs="683: (B, 512) float32 embedding",
        preprocessing="RGB, (x - 127.5) / 127.5, NCHW, aligned by a similarity transform of the 5 keypoints onto "
                      "the 112x112 ArcFace template (arcface_112_v2)",
    ),
    # MediaPipe Selfie Segmentation: URLs and SHA-256 as MediaPipe pins them
    # (third_party/external_files.bzl); the npm package carries the same bytes.
    ModelSpec(
        name="selfie_segmentation",
        file="selfie_segmentation.tflite",
        url="https://storage.googleapis.com/mediapipe-assets/selfie_segmentation.tflite?generation=1661875931201364",
        sha256="8d13b7fae74af625c641226813616a2117bd6bca19eb3b75574621fc08557f27",
        licence="Apache-2.0 (Google MediaPipe Selfie Segmentation, general model)",
        inputs="input_1: (1, 256, 256, 3) float32 NHWC; the converted ONNX: (N, 256, 256, 3)",
        outputs="activation_10: (1, 256, 256, 1) float32, person probability (the last layer is a sigmoid)",
        preprocessing="RGB in [0, 1], NHWC, the whole frame stretched to 256x256 (no letterbox) by a linear warp "
                      "x_tensor = x_frame * 256 / W, zero outside (MediaPipe's ImageToTensorCalculator on the CPU)",
        npm="@mediapipe/selfie_segmentation@0.1.1675465747",
        onnx="selfie_segmentation.onnx",
    ),
    ModelSpec(
        name="selfie_segmentation_landscape",
        file="selfie_segmentation_landscape.tflite",
        url="https://storage.googleapis.com/mediapipe-assets/selfie_segmentation_landscape.tflite"
            "?generation=1661875928328455",
        sha256="4aafe6223bb8dac6fac8ca8ed56852870a33051ef3f6238822d282a109962894",
        licence="Apache-2.0 (Google MediaPipe Selfie Segmentation, landscape model)",
        inputs="input_1: (1, 144, 256, 3) float32 NHWC; the converted ONNX: (N, 144, 256, 3)",
        outputs="segment_back: (1, 144, 256, 1) float32, person probability (the last layer is a sigmoid)",
        preprocessing="as selfie_segmentation, stretched to 144x256 (height x width)",
        npm="@mediapipe/selfie_segmentation@0.1.1675465747",
        onnx="selfie_segmentation_landscape.onnx",
    ),
    # Neural matting weights a studio brings (issue 18 item 3; models.neural_matting).
    ModelSpec(
        name="modnet",
        file="modnet_photographic_portrait_matting.onnx",
        # The ONNX export the MODNet repository links (onnx/README.md); Google Drive gives no digest.
        url="https://drive.google.com/file/d/1cgycTQlYXpTh26gB9FTnthE7AvruV8hd/view?usp=sharing",
        sha256=None,
        licence="Apache-2.0 (ZHKKKe/MODNet)",
        inputs="input: (N, 3, H, W) float32, H and W multiples of 32 (dynamic)",
        outputs="output: (N, 1, H, W) float32 matte in [0, 1]",
        preprocessing="RGB, (x - 127.5) / 127.5, NCHW; resized (INTER_AREA) so the shorter side is 512 when both "
                      "sides are under or over 512, then each side cut to a multiple of 32 (onnx/inference_onnx.py)",
    ),
    ModelSpec(
        name="birefnet",
        file="BiRefNet-portrait-epoch_150.onnx",
        url="https://github.com/ZhengPeng7/BiRefNet/releases/download/v1/BiRefNet-portrait-epoch_150.onnx",
        # Not published by BiRefNet; the digest rembg pins for this URL (rembg/sessions/birefnet_portrait.py).
        sha256="1ba1c8ff5a7bbfadc8d8d13fb11d7be793f91f23d9d466549e37a854f6668f99",
        licence="MIT (ZhengPeng7/BiRefNet)",
        inputs="input_image: (1, 3, 1024, 1024) float32",
        outputs="output_image: (1, 1, 1024, 1024) float32 logits (the matte is their sigmoid)",
        preprocessing="RGB / 255 resized to 1024x1024 (aspect not kept), ImageNet mean (0.485, 0.456, 0.406) and "
                      "std (0.229, 0.224, 0.225), NCHW (tutorials/BiRefNet_pth2onnx.ipynb)",
    ),
    ModelSpec(
        name="rvm",
        file="rvm_mobilenetv3_fp32.onnx",
        url="https://github.com/PeterL1n/RobustVideoMatting/releases/download/v1.0.0/rvm_mobilenetv3_fp32.onnx",
        # Not published by RVM; the digest (14,975,696 bytes) that downloaders of this URL pin.
        sha256="88d4531297118f595bf2fd60f6f566aec2e559393802d1f436c380f0cbbd2828",
        licence="GPL-3.0 (PeterL1n/RobustVideoMatting, code and weights): a studio's own use; not for redistribution "
                "in a closed product",
        inputs="src: (B, 3, H, W) float32; r1i..r4i: recurrent states, (1, 1, 1, 1) zeros at first; "
               "downsample_ratio: (1,) float32",
        outputs="fgr: (B, 3, H, W); pha: (B, 1, H, W) alpha in [0, 1]; r1o..r4o: the next frame's r1i..r4i",
        preprocessing="RGB in [0, 1], NCHW, full resolution; downsample_ratio = min(512 / max(H, W), 1) "
                      "(inference.py auto_downsample_ratio; documentation/inference.md)",
    ),
)}


def models_dir() -> Path:
    """The directory models are loaded from (``MATTEFARM_MODELS_DIR``, default ``~/.cache/mattefarm/models``)."""
    configured = os.environ.get("MATTEFARM_MODELS_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "mattefarm" / "models"


class MissingModel(ModelError):
    """The model file is not in the models directory (and was not downloaded)."""

    def __init__(self, spec: ModelSpec, directory: Path) -> None:
        super().__init__(f"model file {spec.file} is missing from {directory}",
                         f"download it from {spec.url} into that folder, or set MATTEFARM_MODELS_DIR")
        self.spec = spec


def spec_of(name: str) -> ModelSpec:
    """The registry entry.

    Raises:
        ModelError: no model has that name.
    """
    if name not in REGISTRY:
        raise ModelError(f"there is no model named {name!r}", f"use one of {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify(spec: ModelSpec, path: Path) -> None:
    """Refuse a file whose SHA-256 is not the registry's (an entry with no digest accepts any file).

    Raises:
        ModelError: the hash differs (a corrupted or different file).
    """
    if spec.sha256 is None:  # a studio-supplied file: nothing published to check it against
        return
    actual = file_sha256(path)
    if actual != spec.sha256:
        raise ModelError(f"model file {path} has SHA-256 {actual[:16]}..., not {spec.sha256[:16]}... (corrupted or "
                         f"a different version)", f"delete it and download it again from {spec.url}")


def model_path(name: str, directory: Path | None = None) -> Path:
    """The verified local file of a model.

    Raises:
        MissingModel: the file is not there (:func:`workers.model_files.fetch_model` downloads it).
        ModelError: unknown name, or the file's hash is wrong.
    """
    spec = spec_of(name)
    directory = directory or models_dir()
    path = directory / spec.file
    if not path.is_file():
        raise MissingModel(spec, directory)
    verify(spec, path)
    return path
