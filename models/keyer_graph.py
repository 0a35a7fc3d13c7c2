"""The screen keyer as an ONNX graph, built in code.

One graph keys a batch of frames in one ``session.run``:

1. colour difference ``d = w . C`` against the screen (see :mod:`models.colour`);
2. raw alpha ``clip(A - d * key_scale, 0, 1)``, where ``key_scale`` carries the
   per-pixel clean plate (``1 / d(plate)``), screen gain and clip black/white;
3. a motion-adaptive temporal filter over the batch (an ONNX ``Scan`` whose
   carried state is the previous matte and luma): on static pixels the matte
   moves towards the new raw alpha by ``temporal_min`` per frame, removing
   flicker; where luma changes by ``motion_threshold`` or more it follows at
   once, so motion does not lag;
4. unmixing with the clean plate, ``P = C - (1 - alpha) * plate``: the
   premultiplied foreground of the compositing equation ``C = aF + (1-a)S``
   (Porter & Duff 1984; Smith & Blinn, "Blue Screen Matting", SIGGRAPH 1996);
5. despill: ``P - relu(w . P) * despill * v`` (luma-preserving, see
   :func:`models.colour.despill_vector`);
6. ``composite``: ``P + (1 - alpha) * background``; ``layer``: ``P / alpha``.

Outputs are rounded half up to uint8, as the numpy reference in the tests does.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.keyer_params import KeyerOutput, KeyerParams

OPSET = 17
_F = TensorProto.FLOAT
_U8 = TensorProto.UINT8


def _const(name: str, value: np.ndarray | float) -> onnx.NodeProto:
    array = np.asarray(value, dtype=np.float32)
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name))


def _temporal_body(params: KeyerParams) -> onnx.GraphProto:
    """Scan body: one frame of the motion-adaptive matte filter."""
    nodes = [
        _const("inv_tau", 1.0 / params.motion_threshold),
        _const("k_min", params.temporal_min),
        _const("b_one", 1.0),
        helper.make_node("Sub", ["luma_in", "luma_prev"], ["dl"]),
        helper.make_node("Abs", ["dl"], ["motion"]),
        helper.make_node("Mul", ["motion", "inv_tau"], ["m_scaled"]),
        helper.make_node("Add", ["m_scaled", "k_min"], ["k_raw"]),
        helper.make_node("Min", ["k_raw", "b_one"], ["k_motion"]),
        helper.make_node("Sub", ["b_one", "valid_prev"], ["invalid"]),
        helper.make_node("Max", ["k_motion", "invalid"], ["k"]),
        helper.make_node("Sub", ["alpha_in", "alpha_prev"], ["da"]),
        helper.make_node("Mul", ["k", "da"], ["step"]),
        helper.make_node("Add", ["alpha_prev", "step"], ["alpha_next"]),
        helper.make_node("Identity", ["luma_in"], ["luma_next"]),
        helper.make_node("Max", ["valid_prev", "b_one"], ["valid_next"]),
        helper.make_node("Identity", ["alpha_next"], ["alpha_out"]),
    ]
    plane = ["H", "W", 1]
    return helper.make_graph(
        nodes,
        "temporal_matte",
        [
            helper.make_tensor_value_info("alpha_prev", _F, plane),
            helper.make_tensor_value_info("luma_prev", _F, plane),
            helper.make_tensor_value_info("valid_prev", _F, [1]),
            helper.make_tensor_value_info("alpha_in", _F, plane),
            helper.make_tensor_value_info("luma_in", _F, plane),
        ],
        [
            helper.make_tensor_value_info("alpha_next", _F, plane),
            helper.make_tensor_value_info("luma_next", _F, plane),
            helper.make_tensor_value_info("valid_next", _F, [1]),
            helper.make_tensor_value_info("alpha_out", _F, plane),
        ],
    )


def _to_u8(src: str, dst: str) -> list[onnx.NodeProto]:
    """Round ``[0, 1]`` floats half up to uint8 (Cast truncates)."""
    return [
        helper.make_node("Mul", [src, "c255"], [f"{dst}_s"]),
        helper.make_node("Add", [f"{dst}_s", "c_half"], [f"{dst}_r"]),
        helper.make_node("Clip", [f"{dst}_r", "c_zero", "c255"], [f"{dst}_c"]),
        helper.make_node("Cast", [f"{dst}_c"], [dst], to=_U8),
    ]


def build_keyer_model(
    weights: np.ndarray, spill_vector: np.ndarray, params: KeyerParams, output: KeyerOutput
) -> onnx.ModelProto:
    """Build the keyer graph.

    Args:
        weights: ``(3,)`` float32 colour-difference weights (:func:`models.colour.screen_weights`).
        spill_vector: ``(3,)`` float32 despill direction (:func:`models.colour.despill_vector`).
        params: keyer controls; clip/gain enter through the ``key_scale`` input.
        output: ``composite`` or ``layer`` (see :data:`models.keyer_params.KeyerOutput`).

    Graph inputs:
        ``frames`` ``(N, H, W, 3)`` uint8 RGB; ``background`` ``(N, H, W, 3)``
        uint8 RGB (``composite`` only); ``plate`` ``(H, W, 3)`` float32 clean
        plate in [0, 1]; ``key_scale`` ``(H, W, 1)`` float32; ``state_alpha``,
        ``state_luma`` ``(H, W, 1)`` float32; ``state_valid`` ``(1,)`` float32.

    Graph outputs:
        ``image`` ``(N, H, W, 3)`` uint8 RGB; ``alpha`` ``(N, H, W, 1)`` uint8;
        ``next_alpha``, ``next_luma`` ``(H, W, 1)`` float32; ``next_valid`` ``(1,)``.
    """
    a_offset = (1.0 - params.clip_black) / (params.clip_white - params.clip_black)
    nodes = [
        _const("c_inv255", 1.0 / 255.0),
        _const("c255", 255.0),
        _const("c_half", 0.5),
        _const("c_zero", 0.0),
        _const("c_one", 1.0),
        _const("c_eps", 1.0 / 1024.0),
        _const("c_offset", a_offset),
        _const("c_despill", params.despill),
        _const("w31", np.asarray(weights, np.float32).reshape(3, 1)),
        _const("luma31", np.array([[0.2126], [0.7152], [0.0722]], np.float32)),
        _const("spill3", np.asarray(spill_vector, np.float32).reshape(3)),
        helper.make_node("Cast", ["frames"], ["frames_f"], to=_F),
        helper.make_node("Mul", ["frames_f", "c_inv255"], ["rgb"]),
        helper.make_node("MatMul", ["rgb", "w31"], ["diff"]),
        helper.make_node("MatMul", ["rgb", "luma31"], ["luma"]),
        helper.make_node("Mul", ["diff", "key_scale"], ["diff_scaled"]),
        helper.make_node("Sub", ["c_offset", "diff_scaled"], ["alpha_lin"]),
        helper.make_node("Clip", ["alpha_lin", "c_zero", "c_one"], ["alpha_raw"]),
        helper.make_node(
            "Scan",
            ["state_alpha", "state_luma", "state_valid", "alpha_raw", "luma"],
            ["next_alpha", "next_luma", "next_valid", "alpha_f"],
            num_scan_inputs=2,
            body=_temporal_body(params),
        ),
        helper.make_node("Sub", ["c_one", "alpha_f"], ["transp"]),
        helper.make_node("Mul", ["transp", "plate"], ["screen_part"]),
        helper.make_node("Sub", ["rgb", "screen_part"], ["premult"]),
        helper.make_node("MatMul", ["premult", "w31"], ["spill_d"]),
        helper.make_node("Relu", ["spill_d"], ["spill_pos"]),
        helper.make_node("Mul", ["spill_pos", "c_despill"], ["spill_amt"]),
        helper.make_node("Mul", ["spill_amt", "spill3"], ["spill_rgb"]),
        helper.make_node("Sub", ["premult", "spill_rgb"], ["fg_raw"]),
        helper.make_node("Clip", ["fg_raw", "c_zero", "c_one"], ["fg"]),
    ]
    inputs = [helper.make_tensor_value_info("frames", _U8, ["N", "H", "W", 3])]
    if output == "composite":
        inputs.append(helper.make_tensor_value_info("background", _U8, ["N", "H", "W", 3]))
        nodes += [
            helper.make_node("Cast", ["background"], ["bg_f"], to=_F),
            helper.make_node("Mul", ["bg_f", "c_inv255"], ["bg"]),
            helper.make_node("Mul", ["transp", "bg"], ["bg_part"]),
            helper.make_node("Add", ["fg", "bg_part"], ["image_f"]),
        ]
    else:
        nodes += [
            helper.make_node("Max", ["alpha_f", "c_eps"], ["alpha_safe"]),
            helper.make_node("Div", ["fg", "alpha_safe"], ["straight"]),
            helper.make_node("Clip", ["straight", "c_zero", "c_one"], ["image_f"]),
        ]
    nodes += _to_u8("image_f", "image") + _to_u8("alpha_f", "alpha")
    inputs += [
        helper.make_tensor_value_info("plate", _F, ["H", "W", 3]),
        helper.make_tensor_value_info("key_scale", _F, ["H", "W", 1]),
        helper.make_tensor_value_info("state_alpha", _F, ["H", "W", 1]),
        helper.make_tensor_value_info("state_luma", _F, ["H", "W", 1]),
        helper.make_tensor_value_info("state_valid", _F, [1]),
    ]
    outputs = [
        helper.make_tensor_value_info("image", _U8, ["N", "H", "W", 3]),
        helper.make_tensor_value_info("alpha", _U8, ["N", "H", "W", 1]),
        helper.make_tensor_value_info("next_alpha", _F, ["H", "W", 1]),
        helper.make_tensor_value_info("next_luma", _F, ["H", "W", 1]),
        helper.make_tensor_value_info("next_valid", _F, [1]),
    ]
    graph = helper.make_graph(nodes, f"mattefarm_keyer_{output}", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mattefarm")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
