"""ONNX graph building for the keyer: a node collector and a tracer that turns formulas into nodes.

A :class:`Tracer` stands for one tensor of a graph under construction. Its
arithmetic operators, and the numpy ufuncs ``minimum``, ``maximum``,
``absolute``, ``rint`` (through ``__array_ufunc__``, NEP 13), append ONNX
nodes instead of computing, so a formula of :mod:`models.keyer_formulas`
called on tracers writes its own subgraph. Numbers mixed in become
``Constant`` nodes (float32).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper


class GraphBuilder:
    """Collects the nodes of one ONNX graph; :meth:`op` returns the name of its (single) output.

    Args:
        prefix: prepended to every generated name (a subgraph's names must not clash with its parent's).
    """

    def __init__(self, prefix: str = "") -> None:
        self.nodes: list[onnx.NodeProto] = []
        self._names = itertools.count()
        self.prefix = prefix

    def const(self, value: np.ndarray | float) -> str:
        """A float32 ``Constant`` node holding ``value``; returns its name."""
        return self._constant(np.asarray(value, dtype=np.float32))

    def u8_const(self, value: int) -> str:
        """A uint8 scalar ``Constant`` node; returns its name."""
        return self._constant(np.asarray(value, dtype=np.uint8))

    def i64(self, values: list[int]) -> str:
        """An int64 ``Constant`` node (shapes, axes, pads); returns its name."""
        return self._constant(np.asarray(values, dtype=np.int64))

    def _constant(self, array: np.ndarray) -> str:
        name = f"{self.prefix}k{next(self._names)}"
        self.nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name)))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        """Append one node of ``op_type`` on ``inputs``; returns its output's name (``out`` when given)."""
        name = out or f"{self.prefix}t{next(self._names)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], **attrs))
        return name

    def split(self, x: str, parts: int, outs: list[str] | None = None) -> list[str]:
        """Split ``x`` into ``parts`` equal pieces along axis 1 (channels); returns their names."""
        names = outs or [f"{self.prefix}s{next(self._names)}" for _ in range(parts)]
        self.nodes.append(helper.make_node("Split", [x], names, axis=1))
        return names

    def to_u8(self, x: str, out: str, zero: int = 0, scale: float = 1.0) -> str:
        """float32 -> uint8 ``saturate(rint(x / scale) + zero)``, half to even: the graph's form of
        :func:`models.keyer_formulas.to_code` (one QuantizeLinear: a threaded pass that also
        clips, where Round + Add + Clip + Cast are four)."""
        return self.op("QuantizeLinear", x, self.const(scale), self.u8_const(zero), out=out)

    def tracer(self, name: str) -> Tracer:
        """The tensor ``name`` of this graph as a :class:`Tracer`."""
        return Tracer(self, name)


_UFUNCS = {
    np.add: "Add", np.subtract: "Sub", np.multiply: "Mul", np.true_divide: "Div",
    np.minimum: "Min", np.maximum: "Max", np.absolute: "Abs", np.negative: "Neg", np.rint: "Round",
}
"""numpy ufunc -> ONNX operator (ONNX Round rounds half to even, as ``rint``)."""


class Tracer:
    """One float32 tensor of a graph under construction; arithmetic on it appends nodes.

    Args:
        builder: the graph the nodes go to. name: the tensor's name in it.

    Raises:
        TypeError: a ufunc or method the keyer graph has no node for.
    """

    __array_priority__ = 1000

    def __init__(self, builder: GraphBuilder, name: str) -> None:
        self.builder, self.name = builder, name

    def _name_of(self, value: Any) -> str:
        if isinstance(value, Tracer):
            return value.name
        return self.builder.const(np.asarray(value, dtype=np.float32))

    def _apply(self, op_type: str, *operands: Any) -> Tracer:
        return Tracer(self.builder, self.builder.op(op_type, *(self._name_of(x) for x in operands)))

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Tracer:
        op_type = _UFUNCS.get(ufunc)
        if method != "__call__" or op_type is None or kwargs:
            raise TypeError(f"the keyer graph has no node for numpy.{ufunc.__name__}.{method}")
        return self._apply(op_type, *inputs)

    def __add__(self, other: Any) -> Tracer:
        return self._apply("Add", self, other)

    def __radd__(self, other: Any) -> Tracer:
        return self._apply("Add", other, self)

    def __sub__(self, other: Any) -> Tracer:
        return self._apply("Sub", self, other)

    def __rsub__(self, other: Any) -> Tracer:
        return self._apply("Sub", other, self)

    def __mul__(self, other: Any) -> Tracer:
        return self._apply("Mul", self, other)

    def __rmul__(self, other: Any) -> Tracer:
        return self._apply("Mul", other, self)

    def __truediv__(self, other: Any) -> Tracer:
        return self._apply("Div", self, other)

    def __rtruediv__(self, other: Any) -> Tracer:
        return self._apply("Div", other, self)

    def __neg__(self) -> Tracer:
        return self._apply("Neg", self)

    def __abs__(self) -> Tracer:
        return self._apply("Abs", self)
