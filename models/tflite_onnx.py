"""A small converter from a TFLite flatbuffer to an ONNX graph, for the float models Mattefarm runs.

Written for MediaPipe Selfie Segmentation (``selfie_segmentation.tflite`` and
``selfie_segmentation_landscape.tflite``) and checked against Google's own runtime
(``ai_edge_litert``) in ``tests/models/test_segmentation.py``; any other graph converts
when it uses only the operators below on 4-D NHWC activations, and is refused with a
:class:`ModelError` naming the first operator or case it does not handle.

Layout: TFLite is NHWC, ONNX convolutions are NCHW. The ONNX graph keeps the TFLite
graph's input and output (NHWC float32, same names; the batch dimension is symbolic,
``N``), transposes once after the input and once before the output, and runs every
activation in between as NCHW. Weights are rearranged when they are folded in: convolution
filters OHWI -> OIHW, depthwise filters (1, H, W, C*M) -> (C*M, 1, H, W) with
``group = C``, axes of reductions NHWC -> NCHW, 4-D constants of elementwise operators
transposed (lower-rank ones aligned to the trailing NHWC axes first).

Operators (TFLite schema names, ``tensorflow/lite/schema/schema.fbs``):

- ``DEQUANTIZE`` of a constant float16 tensor (MediaPipe stores its weights as float16):
  folded, the converter keeps the weight as a float32 initialiser (float16 -> float32 is
  exact, which is what LiteRT computes too).
- ``CONV_2D``, ``DEPTHWISE_CONV_2D`` -> ``Conv`` with explicit pads (TFLite ``SAME``
  pads ``total // 2`` before and the rest after), fused ``RELU`` / ``RELU6`` as a
  following ``Relu`` / ``Clip``.
- ``AVERAGE_POOL_2D`` -> ``AveragePool`` (``SAME`` padding excluded from the count, as
  TFLite does), or ``ReduceMean`` over H and W when the window is the whole input (the
  general model's squeeze-and-excite pools): onnxruntime's ``AveragePool`` sums its window
  in one float32 running sum, and over 64x64 or 128x128 cells that rounding, amplified
  by the decoder, left the output up to 1.3e-3 from a float64 evaluation of the same graph
  on a real frame (``ReduceMean``: 1e-4; LiteRT: 3e-4). ``MEAN`` with ``keep_dims`` ->
  ``ReduceMean``.
- ``ADD``, ``MUL`` (with fused activation), ``HARD_SWISH`` -> ``HardSwish`` (x * relu6(x + 3) / 6
  is ONNX's alpha 1/6, beta 1/2), ``RELU``, ``RELU6``, ``LOGISTIC`` -> ``Sigmoid``.
- ``RESIZE_BILINEAR`` -> ``Resize`` (linear) by constant scales, ``half_pixel_centers`` ->
  ``half_pixel``, ``align_corners`` -> ``align_corners``, neither -> ``asymmetric``.
- The MediaPipe custom operator ``Convolution2DTransposeBias`` -> ``ConvTranspose``. Its
  inputs are (input, weights OHWI, bias); its ``custom_options`` are the raw C struct
  ``TfLiteTransposeConvParams`` (``tensorflow/lite/core/c/builtin_op_data.h``): int32
  ``padding`` (the C enum: 1 SAME, 2 VALID, unlike the schema's 0 SAME, 1 VALID), int32
  ``stride_width``, int32 ``stride_height``, little-endian. MediaPipe's kernel
  (``mediapipe/util/tflite/operations/transpose_conv_bias.cc``) sets the output to
  ``stride * (in - 1) + kernel - total`` with ``total = max(0, kernel - (in - 1) % stride - 1)``
  under SAME (0 under VALID) and crops ``total // 2`` at the start: ONNX's ``ConvTranspose``
  with pads ``(total // 2, total - total // 2)`` and weights IOHW computes exactly that.

Parsing uses the PyPI package ``tflite`` (the schema's generated flatbuffer readers);
building uses ``onnx.helper``. Pure model code: bytes in, ``onnx.ModelProto`` out.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from models.errors import ModelError

if TYPE_CHECKING:  # onnx loads only when a model is converted
    import onnx

OPSET = 17
CONVERTER_VERSION = 1  # written into the model's metadata; bump when the converted graph changes
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)
NHWC_AXIS_IN_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}

# tensorflow/lite/schema/schema.fbs enums
_FLOAT32, _FLOAT16, _INT32 = 0, 1, 2
_SCHEMA_SAME, _SCHEMA_VALID = 0, 1
_C_SAME, _C_VALID = 1, 2  # TfLitePadding, as in the custom operator's raw options
_ACT_NONE, _ACT_RELU, _ACT_RELU6 = 0, 1, 3
_NUMPY_OF_TFLITE = {_FLOAT32: np.float32, _FLOAT16: np.float16, _INT32: np.int32, 3: np.uint8, 4: np.int64,
                    9: np.int8}


@dataclass
class _Graph:
    """What the converter builds up while it walks the TFLite operators."""

    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    constants: dict[int, np.ndarray] = field(default_factory=dict)  # TFLite tensor index -> value (NHWC)
    names: dict[int, str] = field(default_factory=dict)  # TFLite tensor index -> ONNX name of its NCHW value
    used: set[str] = field(default_factory=set)

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name

    def initializer(self, base: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op_type: str, inputs: list[str], base: str, **attributes: Any) -> str:
        from onnx import helper

        output = self.fresh(base)
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attributes))
        return output


def convert_tflite(data: bytes, producer: str = "mattefarm.models.tflite_onnx") -> onnx.ModelProto:
    """Convert a TFLite flatbuffer (one subgraph, float activations) into an ONNX model.

    Args:
        data: the ``.tflite`` file's bytes.
        producer: written as the ONNX model's ``producer_name``.

    Returns:
        A checked ONNX model (opset 17): the TFLite inputs and outputs with their names,
        NHWC float32, batch dimension ``N``; metadata ``tflite_onnx_version`` (this
        converter's :data:`CONVERTER_VERSION`) and ``source_sha256`` (of ``data``).

    Raises:
        ModelError: the flatbuffer does not parse, or uses an operator, type or option this
            converter does not handle (named in the message).
    """
    import onnx
    import tflite
    from onnx import helper

    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        if model.SubgraphsLength() != 1:
            raise ModelError(f"the TFLite model has {model.SubgraphsLength()} subgraphs",
                             "only single-subgraph models convert")
        subgraph = model.Subgraphs(0)
    except ModelError:
        raise
    except Exception as exc:  # the flatbuffer readers raise whatever a bad offset gives
        raise ModelError(f"the TFLite flatbuffer does not parse ({exc})", "check the .tflite file") from exc

    graph = _Graph()
    output_names = [subgraph.Tensors(int(i)).Name().decode() for i in subgraph.OutputsAsNumpy()]
    graph.used.update(output_names)  # reserved: the graph's outputs keep the TFLite names
    inputs, outputs = [], []
    for index in subgraph.InputsAsNumpy():
        tensor = subgraph.Tensors(int(index))
        shape: list[str | int] = ["N", *[int(d) for d in tensor.ShapeAsNumpy()[1:]]]
        if tensor.Type() != _FLOAT32 or len(shape) != 4:
            raise ModelError(f"TFLite input {tensor.Name().decode()} is not a 4-D float32 tensor",
                             "only NHWC float32 inputs convert")
        name = graph.fresh(tensor.Name().decode())
        inputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape))
        graph.names[int(index)] = graph.node("Transpose", [name], f"{name}_nchw", perm=list(NHWC_TO_NCHW))

    for k in range(subgraph.OperatorsLength()):
        _convert_operator(model, subgraph, subgraph.Operators(k), graph)

    for index, name in zip(subgraph.OutputsAsNumpy(), output_names):
        tensor = subgraph.Tensors(int(index))
        out_shape: list[str | int] = ["N", *[int(d) for d in tensor.ShapeAsNumpy()[1:]]]
        graph.nodes.append(helper.make_node("Transpose", [_activation(graph, int(index), subgraph)], [name],
                                            name=f"{name}_nhwc", perm=list(NCHW_TO_NHWC)))
        outputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, out_shape))

    onnx_graph = helper.make_graph(graph.nodes, "tflite", inputs, outputs, graph.initializers)
    result = helper.make_model(onnx_graph, producer_name=producer, opset_imports=[helper.make_opsetid("", OPSET)])
    result.ir_version = 8  # readable by onnxruntime >= 1.14
    helper.set_model_props(result, {"tflite_onnx_version": str(CONVERTER_VERSION),
                                    "source_sha256": hashlib.sha256(data).hexdigest()})
    try:
        onnx.checker.check_model(result, full_check=True)
    except Exception as exc:  # onnx raises ValidationError or InferenceError
        raise ModelError(f"the converted ONNX graph does not check ({exc})", "report it: a converter bug") from exc
    return result


def _opcode_name(model: Any, op: Any) -> str:
    from tflite.utils import BUILTIN_OPCODE2NAME

    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name: str = BUILTIN_OPCODE2NAME.get(builtin, f"builtin {builtin}")
    if name == "CUSTOM":
        return f"CUSTOM:{code.CustomCode().decode()}"
    return name


def _options(op: Any, cls: Any) -> Any:
    table = op.BuiltinOptions()
    options = cls()
    if table is not None:
        options.Init(table.Bytes, table.Pos)
    return options


def _tensor_value(model: Any, subgraph: Any, index: int) -> np.ndarray | None:
    """The constant value of a TFLite tensor (NHWC, its own dtype), or None for an activation."""
    tensor = subgraph.Tensors(index)
    buffer = model.Buffers(tensor.Buffer())
    if buffer is None or buffer.DataLength() == 0:
        if buffer is not None and buffer.Offset() > 1:
            raise ModelError("the TFLite model keeps weights outside the flatbuffer", "not supported")
        return None
    dtype = _NUMPY_OF_TFLITE.get(tensor.Type())
    if dtype is None:
        raise ModelError(f"TFLite tensor {tensor.Name().decode()} has type {tensor.Type()}", "not supported")
    shape = [int(d) for d in tensor.ShapeAsNumpy()] if tensor.ShapeLength() else []
    return np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtype).reshape(shape)


def _constant(model: Any, subgraph: Any, graph: _Graph, index: int) -> np.ndarray:
    if index in graph.constants:
        return graph.constants[index]
    value = _tensor_value(model, subgraph, index)
    if value is None:
        raise ModelError(f"TFLite tensor {subgraph.Tensors(index).Name().decode()} is not a constant",
                         "weights computed at run time do not convert")
    return value


def _activation(graph: _Graph, index: int, subgraph: Any) -> str:
    if index not in graph.names:
        raise ModelError(f"TFLite tensor {subgraph.Tensors(index).Name().decode()} is used before it is computed",
                         "the operators are not in topological order")
    return graph.names[index]


def _operand(model: Any, subgraph: Any, graph: _Graph, index: int) -> str:
    """The ONNX name of an elementwise operand: the NCHW activation, or a constant made NCHW-broadcastable."""
    if index in graph.names:
        return graph.names[index]
    value = _constant(model, subgraph, graph, index).astype(np.float32)
    if value.ndim > 4:
        raise ModelError("an elementwise constant has more than 4 dimensions", "not supported")
    nhwc = value.reshape((1,) * (4 - value.ndim) + value.shape)
    return graph.initializer(subgraph.Tensors(index).Name().decode(), nhwc.transpose(NHWC_TO_NCHW))


def _fused(graph: _Graph, value: str, activation: int, base: str) -> str:
    if activation == _ACT_NONE:
        return value
    if activation == _ACT_RELU:
        return graph.node("Relu", [value], f"{base}_relu")
    if activation == _ACT_RELU6:
        low = graph.initializer(f"{base}_zero", np.array(0.0, np.float32))
        high = graph.initializer(f"{base}_six", np.array(6.0, np.float32))
        return graph.node("Clip", [value, low, high], f"{base}_relu6")
    raise ModelError(f"fused activation {activation} of {base}", "only NONE, RELU and RELU6 convert")


def _same_pads(in_size: int, out_size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TFLite ``SAME``: the total padding that gives ``out_size``, ``total // 2`` of it before."""
    effective = (kernel - 1) * dilation + 1
    total = max((out_size - 1) * stride + effective - in_size, 0)
    return total // 2, total - total // 2


def _spatial_pads(subgraph: Any, op: Any, padding: int, kernel: tuple[int, int], stride: tuple[int, int],
                  dilation: tuple[int, int] = (1, 1)) -> list[int]:
    """ONNX ``pads`` (top, left, bottom, right) of a TFLite convolution or pooling."""
    if padding == _SCHEMA_VALID:
        return [0, 0, 0, 0]
    if padding != _SCHEMA_SAME:
        raise ModelError(f"padding {padding}", "only SAME and VALID convert")
    in_shape = subgraph.Tensors(int(op.Inputs(0))).ShapeAsNumpy()
    out_shape = subgraph.Tensors(int(op.Outputs(0))).ShapeAsNumpy()
    top, bottom = _same_pads(int(in_shape[1]), int(out_shape[1]), kernel[0], stride[0], dilation[0])
    left, right = _same_pads(int(in_shape[2]), int(out_shape[2]), kernel[1], stride[1], dilation[1])
    return [top, left, bottom, right]


def _convert_operator(model: Any, subgraph: Any, op: Any, graph: _Graph) -> None:
    import tflite

    kind = _opcode_name(model, op)
    ins = [int(i) for i in op.InputsAsNumpy()]
    out = int(op.Outputs(0))
    base = subgraph.Tensors(out).Name().decode()

    if kind == "DEQUANTIZE":
        stored = _tensor_value(model, subgraph, ins[0])
        if stored is None or stored.dtype != np.float16:
            raise ModelError(f"DEQUANTIZE of {base} is not of a constant float16 tensor",
                             "only float16 weight storage converts (not int8 quantisation)")
        graph.constants[out] = stored.astype(np.float32)
        return

    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        depthwise = kind == "DEPTHWISE_CONV_2D"
        options = _options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
        weights = _constant(model, subgraph, graph, ins[1]).astype(np.float32)
        kernel = (weights.shape[1], weights.shape[2])
        stride = (options.StrideH(), options.StrideW())
        dilation = (options.DilationHFactor(), options.DilationWFactor())
        if depthwise:  # (1, H, W, C * M) -> (C * M, 1, H, W), one group per input channel
            in_channels = int(subgraph.Tensors(ins[0]).ShapeAsNumpy()[3])
            onnx_weights, group = weights.transpose(3, 0, 1, 2), in_channels
        else:  # OHWI -> OIHW
            onnx_weights, group = weights.transpose(0, 3, 1, 2), 1
        conv_inputs = [_activation(graph, ins[0], subgraph), graph.initializer(f"{base}_weights", onnx_weights)]
        if len(ins) > 2 and ins[2] >= 0:
            conv_inputs.append(graph.initializer(f"{base}_bias", _constant(model, subgraph, graph, ins[2])
                                                 .astype(np.float32)))
        value = graph.node("Conv", conv_inputs, base, kernel_shape=list(kernel), strides=list(stride),
                           dilations=list(dilation), group=group,
                           pads=_spatial_pads(subgraph, op, options.Padding(), kernel, stride, dilation))
        graph.names[out] = _fused(graph, value, options.FusedActivationFunction(), base)
        return

    if kind == "CUSTOM:Convolution2DTransposeBias":
        graph.names[out] = _transpose_conv_bias(model, subgraph, op, graph, ins, base)
        return

    if kind == "AVERAGE_POOL_2D":
        options = _options(op, tflite.Pool2DOptions)
        kernel = (options.FilterHeight(), options.FilterWidth())
        stride = (options.StrideH(), options.StrideW())
        in_shape = tuple(int(d) for d in subgraph.Tensors(ins[0]).ShapeAsNumpy()[1:3])
        out_shape = tuple(int(d) for d in subgraph.Tensors(out).ShapeAsNumpy()[1:3])
        if kernel == in_shape and out_shape == (1, 1):  # a global average: the same mean, summed more exactly
            value = graph.node("ReduceMean", [_activation(graph, ins[0], subgraph)], base, axes=[2, 3], keepdims=1)
            graph.names[out] = _fused(graph, value, options.FusedActivationFunction(), base)
            return
        value = graph.node("AveragePool", [_activation(graph, ins[0], subgraph)], base, kernel_shape=list(kernel),
                           strides=list(stride), pads=_spatial_pads(subgraph, op, options.Padding(), kernel, stride),
                           count_include_pad=0)
        graph.names[out] = _fused(graph, value, options.FusedActivationFunction(), base)
        return

    if kind == "MEAN":
        options = _options(op, tflite.ReducerOptions)
        if not options.KeepDims():
            raise ModelError(f"MEAN {base} drops its axes", "only keep_dims=True converts (4-D NCHW stays 4-D)")
        axes = sorted(NHWC_AXIS_IN_NCHW[int(a) % 4] for a in _constant(model, subgraph, graph, ins[1]).ravel())
        graph.names[out] = graph.node("ReduceMean", [_activation(graph, ins[0], subgraph)], base, axes=axes,
                                      keepdims=1)
        return

    if kind in ("ADD", "MUL"):
        options = _options(op, tflite.AddOptions if kind == "ADD" else tflite.MulOptions)
        operands = [_operand(model, subgraph, graph, i) for i in ins]
        value = graph.node("Add" if kind == "ADD" else "Mul", operands, base)
        graph.names[out] = _fused(graph, value, options.FusedActivationFunction(), base)
        return

    unary = {"HARD_SWISH": "HardSwish", "RELU": "Relu", "LOGISTIC": "Sigmoid"}
    if kind in unary:
        graph.names[out] = graph.node(unary[kind], [_activation(graph, ins[0], subgraph)], base)
        return
    if kind == "RELU6":
        graph.names[out] = _fused(graph, _activation(graph, ins[0], subgraph), _ACT_RELU6, base)
        return

    if kind == "RESIZE_BILINEAR":
        options = _options(op, tflite.ResizeBilinearOptions)
        in_shape = subgraph.Tensors(ins[0]).ShapeAsNumpy()
        size = _constant(model, subgraph, graph, ins[1]).ravel()
        scales = np.array([1.0, 1.0, size[0] / in_shape[1], size[1] / in_shape[2]], np.float32)
        mode = ("align_corners" if options.AlignCorners() else
                "half_pixel" if options.HalfPixelCenters() else "asymmetric")
        graph.names[out] = graph.node("Resize", [_activation(graph, ins[0], subgraph), "",
                                                 graph.initializer(f"{base}_scales", scales)], base,
                                      mode="linear", coordinate_transformation_mode=mode)
        return

    raise ModelError(f"TFLite operator {kind} (output {base}) has no ONNX conversion here",
                     "extend models/tflite_onnx.py")


def transpose_conv_bias_options(custom_options: bytes) -> tuple[int, int, int]:
    """``(padding, stride_width, stride_height)`` of ``Convolution2DTransposeBias``.

    The bytes are the C struct ``TfLiteTransposeConvParams`` (three little-endian int32;
    newer TFLite versions append fields, which this operator does not use). ``padding``
    is the C enum ``TfLitePadding``: 1 SAME, 2 VALID.

    Raises:
        ModelError: fewer than 12 bytes.
    """
    if len(custom_options) < 12:
        raise ModelError(f"Convolution2DTransposeBias has {len(custom_options)} option bytes",
                         "expected TfLiteTransposeConvParams (12 bytes)")
    padding, stride_w, stride_h = struct.unpack_from("<3i", custom_options)
    return padding, stride_w, stride_h


def _transpose_conv_bias(model: Any, subgraph: Any, op: Any, graph: _Graph, ins: list[int], base: str) -> str:
    padding, stride_w, stride_h = transpose_conv_bias_options(op.CustomOptionsAsNumpy().tobytes())
    weights = _constant(model, subgraph, graph, ins[1]).astype(np.float32)  # OHWI
    bias = _constant(model, subgraph, graph, ins[2]).astype(np.float32)
    in_shape = subgraph.Tensors(ins[0]).ShapeAsNumpy()
    pads = []
    for axis, kernel, stride in ((1, weights.shape[1], stride_h), (2, weights.shape[2], stride_w)):
        if padding == _C_SAME:
            total = max(0, kernel - (int(in_shape[axis]) - 1) % stride - 1)
        elif padding == _C_VALID:
            total = 0
        else:
            raise ModelError(f"Convolution2DTransposeBias {base} has padding {padding}", "expected 1 (SAME) or 2 (VALID)")
        pads.append((total // 2, total - total // 2))
    return graph.node("ConvTranspose", [_activation(graph, ins[0], subgraph),
                                        graph.initializer(f"{base}_weights", weights.transpose(3, 0, 1, 2)),
                                        graph.initializer(f"{base}_bias", bias)], base,
                      kernel_shape=[weights.shape[1], weights.shape[2]], strides=[stride_h, stride_w],
                      pads=[pads[0][0], pads[1][0], pads[0][1], pads[1][1]])
