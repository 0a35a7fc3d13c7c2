"""Person segmentation: MediaPipe Selfie Segmentation, converted to ONNX, in onnxruntime.

Model: MediaPipe Selfie Segmentation (Google, Apache-2.0; model card
https://mediapipe.page.link/selfiesegmentation-mc), a MobileNetV3-like encoder-decoder
in two variants: ``general`` (256x256 input) and ``landscape`` (144x256, for wide video).
Both ship as float16 ``.tflite`` files; :func:`models.tflite_onnx.convert_tflite` turns them
into ONNX (registry entries ``selfie_segmentation`` and ``selfie_segmentation_landscape``,
:func:`workers.model_files.fetch_onnx` fetches and converts).

Preprocessing is MediaPipe's own (``mediapipe/modules/selfie_segmentation/
selfie_segmentation_cpu.pbtxt``: ``ImageToTensorCalculator`` with ``keep_aspect_ratio:
false``, ``output_tensor_float_range {0, 1}``, ``border_mode: BORDER_ZERO``; on the CPU
``image_to_tensor_converter_opencv.cc`` warps the whole frame onto the tensor with
``cv::warpPerspective``, ``INTER_LINEAR``, corners mapped to corners): the frame is
stretched (no letterbox) to the model's size by a linear warp with ``x_tensor = x_frame *
w / W``, RGB divided by 255. The model's last layer is a sigmoid, so its output is the
person probability as is (MediaPipe's ``TensorsToSegmentationCalculator`` uses
``activation: NONE``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from models.choices import ProviderChoice
from models.errors import ModelError
from models.providers import create_session

if TYPE_CHECKING:
    import onnx

SegmentationVariant = Literal["auto", "general", "landscape"]
MODEL_OF_VARIANT = {"general": "selfie_segmentation", "landscape": "selfie_segmentation_landscape"}
# Frames at least this much wider than tall use the landscape model (144x256, 16:9): 4:3
# footage goes to the general model (256x256), 16:10, 16:9 and wider to the landscape one.
LANDSCAPE_ASPECT = 1.5


def segmentation_model(width: int, height: int, variant: SegmentationVariant = "auto") -> str:
    """The registry name of the model for frames of ``width`` x ``height``.

    ``auto`` picks ``selfie_segmentation_landscape`` when ``width / height >=
    LANDSCAPE_ASPECT`` (16:9, 16:10, 2.39:1) and ``selfie_segmentation`` otherwise (4:3,
    square, portrait); ``general`` and ``landscape`` force one.
    """
    if variant == "auto":
        variant = "landscape" if width >= LANDSCAPE_ASPECT * height else "general"
    return MODEL_OF_VARIANT[variant]


def prepare_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 RGB -> ``(N, h, w, 3)`` float32 RGB in [0, 1], ``size = (h, w)``.

    MediaPipe's CPU image-to-tensor step: a linear warp of the whole frame onto the
    tensor, pixel ``(x, y)`` of the tensor sampling the frame at ``(x * W / w, y * H / h)``,
    zero outside the frame (reached only when upscaling).
    """
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise ModelError(f"frames of shape {frames.shape} and dtype {frames.dtype}", "pass (N, H, W, 3) uint8 RGB")
    h, w = size
    height, width = frames.shape[1:3]
    matrix = np.array([[w / width, 0, 0], [0, h / height, 0]], np.float64)
    tensor = np.empty((len(frames), h, w, 3), np.float32)
    for i, frame in enumerate(frames):
        warped = cv2.warpAffine(frame, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=(0, 0, 0))
        np.multiply(warped, np.float32(1 / 255), out=tensor[i], casting="unsafe")
    return tensor


class SelfieSegmenter:
    """Coarse person probability of frames, at the model's resolution.

    Args:
        model: the converted ONNX (a path, or the in-memory model from
            :func:`models.tflite_onnx.convert_tflite`) of either variant; its input
            fixes the size, ``(h, w)`` = (256, 256) or (144, 256).
        providers: onnxruntime provider choice. intra_op_threads: 0 lets onnxruntime choose.
    """

    def __init__(self, model: Path | str | onnx.ModelProto, providers: ProviderChoice = "auto",
                 intra_op_threads: int = 0) -> None:
        self.session = create_session(str(model) if isinstance(model, Path) else model, providers, intra_op_threads)
        tensor = self.session.get_inputs()[0]
        self.input_name = tensor.name
        h, w = tensor.shape[1:3]
        if not isinstance(h, int) or not isinstance(w, int):
            raise ModelError(f"the segmentation model's input {tensor.shape} has no fixed size",
                             "use a converted selfie_segmentation model")
        self.size: tuple[int, int] = (h, w)

    def forward(self, tensor: np.ndarray) -> np.ndarray:
        """``(N, h, w, 3)`` float32 -> the model's ``(N, h, w, 1)`` float32 output."""
        output: np.ndarray = self.session.run(None, {self.input_name: tensor})[0]
        return output

    def person_probability(self, frames: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3)`` uint8 RGB -> ``(N, h, w)`` float32 in [0, 1]: the probability that
        each cell of the model's grid (the frame stretched to ``size``) shows a person."""
        return normalize_probability(self.forward(prepare_frames(frames, self.size)))


def normalize_probability(output: np.ndarray) -> np.ndarray:
    """The model's ``(N, h, w, 1)`` sigmoid output -> ``(N, h, w)`` float32 clipped to [0, 1]."""
    return np.clip(output[..., 0], 0.0, 1.0).astype(np.float32, copy=False)
