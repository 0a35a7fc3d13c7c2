"""onnxruntime sessions and execution providers.

onnxruntime-gpu lists the CUDA provider even where no GPU (or no CUDA runtime)
is present, and a session asked for it falls back to the CPU silently (see
FIELD-NOTES.md). So the provider that really runs is read back from
``session.get_providers()`` and reported, never assumed.
"""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from models.choices import ProviderChoice
from models.errors import ModelError

if TYPE_CHECKING:  # onnx and onnxruntime load only when a session is made (0.2-2 s of imports)
    import onnx
    import onnxruntime as ort


log = logging.getLogger(__name__)


def requested_providers(choice: ProviderChoice) -> list[str]:
    """Providers to ask onnxruntime for, in order of preference.

    ``auto`` asks for CUDA first when this onnxruntime build offers it, then the
    CPU; ``cuda`` asks for CUDA only (and :func:`create_session` raises if it
    does not run); ``cpu`` asks for the CPU only.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    if choice == "cpu":
        return ["CPUExecutionProvider"]
    if choice == "cuda":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    wanted = [p for p in ("CUDAExecutionProvider",) if p in available]
    return wanted + ["CPUExecutionProvider"]


def create_session(
    model: onnx.ModelProto | str,
    providers: ProviderChoice = "auto",
    intra_op_threads: int = 0,
) -> ort.InferenceSession:
    """Create an onnxruntime session and check which provider really runs.

    Args:
        model: an in-memory ONNX model or the path of an ``.onnx`` file.
        providers: ``auto`` (CUDA when it works, else CPU), ``cuda`` or ``cpu``.
        intra_op_threads: CPU threads for one operator; 0 lets onnxruntime choose.

    Returns:
        The session; ``session.get_providers()[0]`` is the provider in use.

    Raises:
        ModelError: the model does not load, or ``cuda`` was asked for and the
            session fell back to the CPU.
    """
    import onnxruntime as ort

    ort.set_default_logger_severity(4)  # the CUDA fallback is reported through get_providers(), not as a log dump
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    # No busy-waiting between operators: on a CPU shared with the decoder and
    # the encoder, spinning threads take the cycles those need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    data = model if isinstance(model, str) else model.SerializeToString()
    try:
        session = ort.InferenceSession(data, sess_options=options, providers=requested_providers(providers))
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"onnxruntime could not load the model ({exc})", "check the model file") from exc
    running = session.get_providers()[0]
    if providers == "cuda" and running != "CUDAExecutionProvider":
        raise ModelError(
            "the CUDA execution provider does not run here (onnxruntime fell back to the CPU)",
            "install the CUDA 12/13 and cuDNN 9 libraries (pip install 'onnxruntime-gpu[cuda,cudnn]') or use --providers cpu",
        )
    log.info("onnxruntime session runs on %s", running)
    return session


def provider_name(session: ort.InferenceSession) -> str:
    """Short name of the provider a session runs on: ``"CUDA"``, ``"CPU"``, ..."""
    return session.get_providers()[0].removesuffix("ExecutionProvider")


@functools.cache
def cuda_runs() -> bool:
    """Whether a session asking for CUDA really runs on it in this process (a one-node graph is
    tried once; onnxruntime-gpu offers the provider even where no GPU or CUDA runtime is present).
    On Linux a machine without the NVIDIA driver's device node has no CUDA, and onnxruntime is
    not even imported."""
    if sys.platform.startswith("linux") and not Path("/dev/nvidiactl").exists():
        return False
    import onnxruntime as ort
    from onnx import TensorProto, helper

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    vi = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                              [vi("x", TensorProto.FLOAT, [1])], [vi("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    try:
        return provider_name(create_session(model, "auto")) == "CUDA"
    except ModelError:
        return False
