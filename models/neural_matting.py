"""Neural matting models a studio brings, in onnxruntime, behind the matter interface
(:class:`models.matters.Matter`): MODNet and BiRefNet matte each frame alone, Robust Video
Matting (RVM) carries a recurrent state from frame to frame.

Each class follows the model's own inference code (FaceFusion's habit: ``prepare_*`` makes the
tensor, ``forward`` only calls ``session.run``, ``normalize_*`` turns the output into a matte)
and checks the graph's signature when it loads, so a wrong file is named before any frame runs:

- **MODNet** (Ke et al., "MODNet: Trimap-Free Portrait Matting in Real Time", AAAI 2022;
  ZHKKKe/MODNet ``onnx/inference_onnx.py`` and ``onnx/export_onnx.py``): one input
  ``(N, 3, h, w)``, RGB normalised to [-1, 1] (``(x - 127.5) / 127.5``), the frame resized
  (``cv2.INTER_AREA``) so that its sides are multiples of 32 near ``ref_size`` 512
  (:func:`modnet_size`); one output ``(N, 1, h, w)`` matte in [0, 1], resized back with
  ``cv2.INTER_AREA``.
- **BiRefNet** (Zheng et al., "Bilateral Reference for High-Resolution Dichotomous Image
  Segmentation", CAAI AIR 2024; ZhengPeng7/BiRefNet ``tutorials/BiRefNet_pth2onnx.ipynb``):
  input ``input_image`` ``(1, 3, 1024, 1024)``, the frame resized to 1024 x 1024 (aspect not
  kept), RGB / 255 normalised with the ImageNet mean and standard deviation; the last output
  (``output_image``, ``(1, 1, 1024, 1024)``) is a logit map, its sigmoid the matte.
- **RVM** (Lin et al., "Robust High-Resolution Video Matting with Temporal Guidance", WACV 2022;
  PeterL1n/RobustVideoMatting ``documentation/inference.md``, *ONNX*): inputs ``src``
  ``(B, 3, H, W)`` RGB in [0, 1] in the model's precision, ``r1i`` .. ``r4i`` (zeros of shape
  ``(1, 1, 1, 1)`` before the first frame), ``downsample_ratio`` ``(1,)`` float32; outputs
  ``fgr``, ``pha`` (``(B, 1, H, W)`` alpha in [0, 1] at full resolution), ``r1o`` .. ``r4o``,
  fed back as the next frame's ``r1i`` .. ``r4i``. The downsample ratio is RVM's
  ``auto_downsample_ratio`` (``inference.py``): ``min(512 / max(H, W), 1)``, which keeps the
  reduced frame's longest side at 512 as the documentation's table advises (1080p: 0.267,
  close to its 0.25).

Frames arrive as Y'CbCr planes and are converted to R'G'B' with the footage's matrix
(:func:`models.yuv.planes_to_rgb`); mattes leave as ``(N, H, W)`` uint8, 255 = person.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from models.choices import ProviderChoice
from models.errors import ModelError
from models.matters import matte_codes
from models.providers import create_session, provider_name
from models.yuv import YuvMatrix, planes_to_rgb

if TYPE_CHECKING:
    import onnx
    import onnxruntime as ort

MODNET_REF_SIZE = 512
"""MODNet's reference size (``ref_size`` in ``onnx/inference_onnx.py``), pixels."""
BIREFNET_SIZE = 1024
"""BiRefNet's input side (``transforms.Resize((1024, 1024))`` in its tutorials), pixels."""
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
"""ImageNet's RGB mean and standard deviation (torchvision), BiRefNet's normalisation."""
RVM_INPUTS = ("src", "r1i", "r2i", "r3i", "r4i", "downsample_ratio")
RVM_OUTPUTS = ("fgr", "pha", "r1o", "r2o", "r3o", "r4o")
RVM_LONGEST = 512
"""Longest side (pixels) of the frame RVM's first stage sees (``auto_downsample_ratio``)."""
RVM_PREROLL_FRAMES = 30
"""Frames a chunk runs through RVM before its first delivered frame. RVM's ConvGRU state has no
proven rate of forgetting (unlike the portrait matte's fusion, :class:`models.portrait.PortraitParams`);
30 frames (1.2 s at 25 fps) is a choice, not a bound: it was not measured on the real weights,
which are not on this machine (the test measures the carried state with a small recurrent model of
the same signature, whose cold start halves each frame). A studio that sees a seam at chunk
boundaries with its weights should render longer chunks."""


def rgb_frames(luma: np.ndarray, chroma: np.ndarray, matrix: YuvMatrix) -> np.ndarray:
    """``(N, H, W)`` uint8 Y' and ``(N, 2, Hc, Wc)`` uint8 Cb, Cr -> ``(N, H, W, 3)`` uint8 R'G'B'."""
    return np.stack([planes_to_rgb(y, c, matrix) for y, c in zip(luma, chroma, strict=True)])


def _signature(session: ort.InferenceSession) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """``({input name: shape}, {output name: shape})`` of a session's graph (a symbolic dimension is a str or None)."""
    return ({t.name: tuple(t.shape) for t in session.get_inputs()}, {t.name: tuple(t.shape) for t in session.get_outputs()})


def _described(signature: tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]) -> str:
    inputs, outputs = signature
    return (f"inputs {', '.join(f'{k}{list(v)}' for k, v in inputs.items())}; "
            f"outputs {', '.join(f'{k}{list(v)}' for k, v in outputs.items())}")


def _fits(shape: tuple[Any, ...], channels: int) -> bool:
    """Whether a graph tensor shape is ``(N, channels, H, W)`` (dimensions may be symbolic)."""
    return len(shape) == 4 and (not isinstance(shape[1], int) or shape[1] == channels)


def _wrong_model(name: str, session: ort.InferenceSession, expected: str) -> ModelError:
    return ModelError(f"the {name} model has the wrong signature ({_described(_signature(session))})",
                      f"pass the official {name} ONNX: {expected}")


def modnet_size(width: int, height: int, ref_size: int = MODNET_REF_SIZE) -> tuple[int, int]:
    """``(w, h)`` MODNet's inference resizes a frame to (``get_scale_factor`` in its
    ``onnx/inference_onnx.py``): a frame whose sides are both under ``ref_size`` or both over it
    is scaled so that its shorter side is ``ref_size`` (the longer side truncated); then each side
    is cut down to a multiple of 32."""
    if max(height, width) < ref_size or min(height, width) > ref_size:
        if width >= height:
            rh, rw = ref_size, int(width / height * ref_size)
        else:
            rw, rh = ref_size, int(height / width * ref_size)
    else:
        rh, rw = height, width
    return rw - rw % 32, rh - rh % 32


class ModnetMatter:
    """MODNet, one frame at a time (no state; the module docstring gives the signature).

    Args:
        model: the ONNX file (or an in-memory model). width, height: frame size in pixels.
        matrix: the footage's Y'CbCr matrix. providers, threads: onnxruntime's.

    Raises:
        ModelError: the file does not load, or its graph is not MODNet's (one ``(N, 3, h, w)``
            input, an ``(N, 1, h, w)`` output).
    """

    preroll_frames = 0

    def __init__(self, model: Path | str | onnx.ModelProto, width: int, height: int, matrix: YuvMatrix,
                 providers: ProviderChoice = "auto", threads: int = 0) -> None:
        self.session = create_session(str(model) if isinstance(model, Path) else model, providers, threads)
        inputs, outputs = _signature(self.session)
        first_output = next(iter(outputs.values()), ())
        if len(inputs) != 1 or not _fits(next(iter(inputs.values())), 3) or not _fits(first_output, 1):
            raise _wrong_model("MODNet", self.session, "one input (N, 3, H, W) in [-1, 1], output (N, 1, H, W)")
        self.input_name = next(iter(inputs))
        self.batch = not isinstance(next(iter(inputs.values()))[0], int)  # a fixed batch dimension: one frame a call
        self.width, self.height, self.matrix = width, height, matrix
        self.size = modnet_size(width, height)

    @property
    def provider(self) -> str:
        """The execution provider that runs the model."""
        return provider_name(self.session)

    def initial_state(self) -> None:
        """MODNet keeps nothing between frames."""
        return None

    def prepare_frames(self, rgb: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3)`` uint8 RGB -> ``(N, 3, h, w)`` float32 in [-1, 1] at :func:`modnet_size`
        (normalised, then resized with ``cv2.INTER_AREA``, in MODNet's order)."""
        w, h = self.size
        tensor = np.empty((len(rgb), 3, h, w), np.float32)
        for i, frame in enumerate(rgb):
            normalised = (frame.astype(np.float32) - np.float32(127.5)) / np.float32(127.5)
            tensor[i] = cv2.resize(normalised, (w, h), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)
        return tensor

    def forward(self, tensor: np.ndarray) -> np.ndarray:
        """``(N, 3, h, w)`` -> the model's ``(N, 1, h, w)`` matte."""
        if self.batch:
            return np.asarray(self.session.run(None, {self.input_name: tensor})[0])
        return np.concatenate([np.asarray(self.session.run(None, {self.input_name: t[None]})[0]) for t in tensor])

    def normalize_mattes(self, output: np.ndarray) -> np.ndarray:
        """``(N, 1, h, w)`` in [0, 1] -> ``(N, H, W)`` uint8, resized with ``cv2.INTER_AREA`` as MODNet's script does."""
        return np.stack([matte_codes(m[0].astype(np.float32), self.width, self.height, cv2.INTER_AREA) for m in output])

    def matte_planes(self, luma: np.ndarray, chroma: np.ndarray, state: None) -> tuple[np.ndarray, None]:
        """Mattes of a batch (:meth:`models.matters.Matter.matte_planes`)."""
        return self.normalize_mattes(self.forward(self.prepare_frames(rgb_frames(luma, chroma, self.matrix)))), None


class BiRefNetMatter:
    """BiRefNet, one frame at a time (no state; the module docstring gives the signature).

    Args:
        model: the ONNX file (or an in-memory model). width, height: frame size in pixels.
        matrix: the footage's Y'CbCr matrix. providers, threads: onnxruntime's.

    Raises:
        ModelError: the file does not load, or its graph is not BiRefNet's (input ``input_image``
            ``(1, 3, S, S)``, a last output ``(1, 1, S, S)``).
    """

    preroll_frames = 0

    def __init__(self, model: Path | str | onnx.ModelProto, width: int, height: int, matrix: YuvMatrix,
                 providers: ProviderChoice = "auto", threads: int = 0) -> None:
        self.session = create_session(str(model) if isinstance(model, Path) else model, providers, threads)
        inputs, outputs = _signature(self.session)
        shape = inputs.get("input_image", ())
        if len(inputs) != 1 or not _fits(shape, 3) or not outputs or not _fits(list(outputs.values())[-1], 1):
            raise _wrong_model("BiRefNet", self.session,
                               "input input_image (1, 3, 1024, 1024) ImageNet-normalised, output (1, 1, 1024, 1024) logits")
        h = shape[2] if isinstance(shape[2], int) else BIREFNET_SIZE
        w = shape[3] if isinstance(shape[3], int) else BIREFNET_SIZE
        self.size = (w, h)
        self.width, self.height, self.matrix = width, height, matrix

    @property
    def provider(self) -> str:
        """The execution provider that runs the model."""
        return provider_name(self.session)

    def initial_state(self) -> None:
        """BiRefNet keeps nothing between frames."""
        return None

    def prepare_frame(self, rgb: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB -> ``(1, 3, S, S)`` float32: resized to the input size (bilinear,
        ``cv2.INTER_AREA`` when reducing, as torchvision's antialiased resize), RGB / 255, minus
        :data:`IMAGENET_MEAN`, over :data:`IMAGENET_STD`."""
        w, h = self.size
        reducing = w < rgb.shape[1] or h < rgb.shape[0]
        resized = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if reducing else cv2.INTER_LINEAR)
        normalised = (resized.astype(np.float32) * np.float32(1 / 255) - IMAGENET_MEAN) / IMAGENET_STD
        return np.ascontiguousarray(normalised.transpose(2, 0, 1)[None])

    def forward(self, tensor: np.ndarray) -> np.ndarray:
        """``(1, 3, S, S)`` -> the last output, ``(1, 1, S, S)`` logits."""
        return np.asarray(self.session.run(None, {"input_image": tensor})[-1])

    def normalize_matte(self, logits: np.ndarray) -> np.ndarray:
        """``(1, 1, S, S)`` logits -> ``(H, W)`` uint8: the sigmoid, resized bilinearly to the frame."""
        matte = (1.0 / (1.0 + np.exp(-logits[0, 0].astype(np.float32)))).astype(np.float32)
        return matte_codes(matte, self.width, self.height, cv2.INTER_LINEAR)

    def matte_planes(self, luma: np.ndarray, chroma: np.ndarray, state: None) -> tuple[np.ndarray, None]:
        """Mattes of a batch (:meth:`models.matters.Matter.matte_planes`)."""
        rgb = rgb_frames(luma, chroma, self.matrix)
        return np.stack([self.normalize_matte(self.forward(self.prepare_frame(frame))) for frame in rgb]), None


@dataclass(frozen=True)
class RvmState:
    """RVM's recurrent state between frames.

    Attributes:
        recurrent: the four ConvGRU states ``r1`` .. ``r4`` (the last frame's ``r1o`` .. ``r4o``;
            zeros of shape ``(1, 1, 1, 1)`` before the first frame), in the model's precision.
    """

    recurrent: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def rvm_downsample_ratio(width: int, height: int) -> float:
    """RVM's ``auto_downsample_ratio``: ``min(512 / max(H, W), 1)`` (1080p: 0.267; 360 x 288: 1)."""
    return min(RVM_LONGEST / max(width, height), 1.0)


class RvmMatter:
    """Robust Video Matting's recurrent ONNX, one frame a call, its state carried between frames
    (and, through :meth:`matte_planes`' ``state``, between batches; warmed by a chunk's pre-roll).

    Args:
        model: the ONNX file (or an in-memory model). width, height: frame size in pixels.
        matrix: the footage's Y'CbCr matrix. providers, threads: onnxruntime's.

    Raises:
        ModelError: the file does not load, or its inputs and outputs are not RVM's
            (:data:`RVM_INPUTS`, :data:`RVM_OUTPUTS`).
    """

    preroll_frames = RVM_PREROLL_FRAMES

    def __init__(self, model: Path | str | onnx.ModelProto, width: int, height: int, matrix: YuvMatrix,
                 providers: ProviderChoice = "auto", threads: int = 0) -> None:
        self.session = create_session(str(model) if isinstance(model, Path) else model, providers, threads)
        inputs, outputs = _signature(self.session)
        if set(inputs) != set(RVM_INPUTS) or not set(RVM_OUTPUTS) <= set(outputs) or not _fits(inputs["src"], 3):
            raise _wrong_model("RVM", self.session, f"inputs {', '.join(RVM_INPUTS)}; outputs {', '.join(RVM_OUTPUTS)}")
        src_type = next(t.type for t in self.session.get_inputs() if t.name == "src")
        self.dtype = np.float16 if src_type == "tensor(float16)" else np.float32
        self.width, self.height, self.matrix = width, height, matrix
        self.ratio = np.array([rvm_downsample_ratio(width, height)], np.float32)

    @property
    def provider(self) -> str:
        """The execution provider that runs the model."""
        return provider_name(self.session)

    def initial_state(self) -> RvmState:
        """Zeros of shape ``(1, 1, 1, 1)``, RVM's initial recurrent state."""
        zero = np.zeros((1, 1, 1, 1), self.dtype)
        return RvmState((zero, zero, zero, zero))

    def prepare_frame(self, rgb: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB -> ``(1, 3, H, W)`` in [0, 1], the model's precision."""
        return np.ascontiguousarray((rgb.astype(np.float32) * np.float32(1 / 255)).transpose(2, 0, 1)[None],
                                    dtype=self.dtype)

    def forward(self, src: np.ndarray, state: RvmState) -> tuple[np.ndarray, RvmState]:
        """One frame: ``pha`` ``(1, 1, H, W)`` and the state after it (``r1o`` .. ``r4o``)."""
        feeds = {"src": src, "downsample_ratio": self.ratio}
        feeds.update({f"r{k + 1}i": r for k, r in enumerate(state.recurrent)})
        wanted = [name for name in RVM_OUTPUTS if name != "fgr"]  # the foreground colour is not used
        values = dict(zip(wanted, self.session.run(wanted, feeds), strict=True))
        r1, r2, r3, r4 = (np.asarray(values[f"r{k}o"]) for k in range(1, 5))
        return np.asarray(values["pha"]), RvmState((r1, r2, r3, r4))

    def matte_planes(self, luma: np.ndarray, chroma: np.ndarray, state: RvmState) -> tuple[np.ndarray, RvmState]:
        """Mattes of consecutive frames (:meth:`models.matters.Matter.matte_planes`), the state
        carried from each frame to the next."""
        rgb = rgb_frames(luma, chroma, self.matrix)
        alpha = np.empty(luma.shape, np.uint8)
        for i, frame in enumerate(rgb):
            pha, state = self.forward(self.prepare_frame(frame), state)
            alpha[i] = matte_codes(pha[0, 0].astype(np.float32), self.width, self.height, cv2.INTER_LINEAR)
        return alpha, state
