"""Small ONNX models with the signatures of the neural matting models (MODNet, BiRefNet, Robust
Video Matting), built here with onnx.helper, so the loaders' preprocessing, state handling and
signature checks run for real without the weights (which are not on this machine).

Each model reads back one thing that says whether the loader prepared its tensor right:
- MODNet: ``output = (input[:, 0] + 1) / 2``: the red channel, if the input is RGB in [-1, 1].
- BiRefNet: ``output_image = logit(input_image[:, 0] * 0.229 + 0.485)``: its sigmoid is the red
  channel, if the input is RGB / 255 normalised with the ImageNet red mean and std.
- RVM: ``pha = r1o = 0.5 r1i + 0.5 src[:, 0]`` (an exponential average of red: the cold start's
  error halves each frame), ``r2o = downsample_ratio``, ``r3o = r3i + 1`` (frames seen), ``r4o = r4i``,
  ``fgr = src``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 17


def _const(name: str, value: float | list[int]) -> onnx.NodeProto:
    if isinstance(value, list):
        tensor = helper.make_tensor(name, TensorProto.INT64, [len(value)], value)
    else:
        tensor = helper.make_tensor(name, TensorProto.FLOAT, [], [value])
    return helper.make_node("Constant", [], [name], value=tensor)


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto]) -> onnx.ModelProto:
    model = helper.make_model(helper.make_graph(nodes, "tiny_matting", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # what this onnxruntime reads (onnx 1.23 writes 14 by default)
    onnx.checker.check_model(model)
    return model


def _red(source: str, out: str) -> list[onnx.NodeProto]:
    """``out = source[:, 0:1]`` (N, 1, H, W)."""
    return [_const(f"{out}_s", [0]), _const(f"{out}_e", [1]), _const(f"{out}_a", [1]),
            helper.make_node("Slice", [source, f"{out}_s", f"{out}_e", f"{out}_a"], [out])]


def tiny_modnet(input_name: str = "input", channels: int = 3) -> onnx.ModelProto:
    """MODNet's signature: ``input`` (N, 3, H, W) -> ``output`` (N, 1, H, W) = (red + 1) / 2."""
    nodes = _red(input_name, "red") + [_const("one", 1.0), _const("half", 0.5),
                                       helper.make_node("Add", ["red", "one"], ["shifted"]),
                                       helper.make_node("Mul", ["shifted", "half"], ["output"])]
    return _model(nodes, [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", channels, "H", "W"])],
                  [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1, "H", "W"])])


def tiny_birefnet(size: int = 1024, input_name: str = "input_image") -> onnx.ModelProto:
    """BiRefNet's signature: ``input_image`` (1, 3, S, S) -> ``output_image`` (1, 1, S, S) logits
    whose sigmoid is the red channel."""
    nodes = _red(input_name, "red") + [
        _const("std", 0.229), _const("mean", 0.485), _const("low", 1e-4), _const("high", 1 - 1e-4), _const("one", 1.0),
        helper.make_node("Mul", ["red", "std"], ["scaled"]), helper.make_node("Add", ["scaled", "mean"], ["p_raw"]),
        helper.make_node("Clip", ["p_raw", "low", "high"], ["p"]), helper.make_node("Sub", ["one", "p"], ["q"]),
        helper.make_node("Div", ["p", "q"], ["odds"]), helper.make_node("Log", ["odds"], ["output_image"]),
    ]
    return _model(nodes, [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, size, size])],
                  [helper.make_tensor_value_info("output_image", TensorProto.FLOAT, [1, 1, size, size])])


def tiny_rvm(drop_input: str | None = None) -> onnx.ModelProto:
    """RVM's signature (inputs ``src``, ``r1i`` .. ``r4i``, ``downsample_ratio``; outputs ``fgr``,
    ``pha``, ``r1o`` .. ``r4o``); ``drop_input`` leaves one input out (a wrong signature)."""
    nodes = _red("src", "red") + [
        _const("half", 0.5), _const("one", 1.0), _const("shape4", [1, 1, 1, 1]),
        helper.make_node("Mul", ["r1i", "half"], ["kept"]), helper.make_node("Mul", ["red", "half"], ["new"]),
        helper.make_node("Add", ["kept", "new"], ["r1o"]), helper.make_node("Identity", ["r1o"], ["pha"]),
        helper.make_node("Reshape", ["downsample_ratio", "shape4"], ["r2o"]),
        helper.make_node("Add", ["r3i", "one"], ["r3o"]), helper.make_node("Identity", ["r4i"], ["r4o"]),
        helper.make_node("Identity", ["src"], ["fgr"]),
    ]
    state = ["b", "c", "h", "w"]
    inputs = [helper.make_tensor_value_info("src", TensorProto.FLOAT, ["B", 3, "H", "W"])]
    inputs += [helper.make_tensor_value_info(f"r{k}i", TensorProto.FLOAT, [f"{d}{k}" for d in state]) for k in range(1, 5)]
    inputs += [helper.make_tensor_value_info("downsample_ratio", TensorProto.FLOAT, [1])]
    outputs = [helper.make_tensor_value_info("fgr", TensorProto.FLOAT, ["B", 3, "H", "W"]),
               helper.make_tensor_value_info("pha", TensorProto.FLOAT, ["B", 1, "H", "W"])]
    outputs += [helper.make_tensor_value_info(f"r{k}o", TensorProto.FLOAT, [f"o{d}{k}" for d in state]) for k in range(1, 5)]
    if drop_input is not None:  # the node that read it now reads a constant
        inputs = [i for i in inputs if i.name != drop_input]
        nodes.insert(0, helper.make_node("Constant", [], [drop_input],
                                         value=helper.make_tensor(drop_input, TensorProto.FLOAT, [1, 1, 1, 1], [0.0])))
    return _model(nodes, inputs, outputs)


def red_channel(rgb: np.ndarray) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 -> ``(N, H, W)`` uint8 red, what the tiny models matte."""
    return np.ascontiguousarray(rgb[..., 0])
