"""Static types and shapes of every value, from onnx shape inference on a clean copy.

The model's own ``value_info`` may be stale (written by an older tool, or left
behind by an edit), so it is never trusted: inference runs on a copy whose
``value_info`` is cleared in every graph and whose graph-output shapes are
dropped (only their element types kept). Graph inputs keep their declared types:
they are the interface a runtime enforces. Initializers are known by their dims.

A dim is an ``int`` when static and ``None`` when symbolic (``dim_param``) or
unknown; a whole shape is ``None`` when even the rank is unknown.
"""

from __future__ import annotations

from typing import TypeGuard

import onnx

from onnxslim_lint.model.graphs import all_graphs
from onnxslim_lint.model.tensors import tensor_nbytes

__all__ = ["Dims", "ShapeInfo", "infer_shapes", "is_static"]

Dims = tuple[int | None, ...]
# name -> (elem_type, dims or None); elem_type 0 when unknown
ShapeInfo = dict[str, tuple[int, Dims | None]]


def is_static(dims: Dims | None) -> TypeGuard[tuple[int, ...]]:
    return dims is not None and all(isinstance(d, int) and d >= 0 for d in dims)


def infer_shapes(model: onnx.ModelProto) -> ShapeInfo:
    """Types and shapes of every value of ``model`` (not changed) that can be known."""
    known = _declared(model)
    copy = _light_copy(model)
    for graph in all_graphs(copy.graph):
        del graph.value_info[:]
        for out in graph.output:
            if out.type.HasField("tensor_type"):
                elem = out.type.tensor_type.elem_type
                out.type.tensor_type.Clear()
                out.type.tensor_type.elem_type = elem
    try:
        inferred = onnx.shape_inference.infer_shapes(copy, strict_mode=False, data_prop=True)
    except Exception:  # too large, unknown op in strict paths, bad model: keep what is known
        return known
    result: ShapeInfo = {}
    for graph in all_graphs(inferred.graph):
        for value in (*graph.value_info, *graph.output):
            entry = _value_entry(value)
            if entry is not None:
                result[value.name] = entry
    result.update(known)  # declared inputs and initializers win
    return result


# Initializers larger than this enter the inference copy as typed graph inputs:
# inference needs their type and dims, never their values, and copying the weights
# of a large model would cost as much as loading it again.
_INLINE_LIMIT = 4096


def _light_copy(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` for shape inference, without the bytes of large weights."""
    copy = onnx.ModelProto()
    copy.ir_version = model.ir_version
    copy.opset_import.extend(model.opset_import)
    copy.functions.extend(model.functions)
    source, graph = model.graph, copy.graph
    graph.name = source.name
    graph.node.extend(source.node)
    graph.input.extend(source.input)
    graph.output.extend(source.output)
    graph.sparse_initializer.extend(source.sparse_initializer)
    inputs = {value.name for value in source.input}
    for tensor in source.initializer:
        if tensor_nbytes(tensor) <= _INLINE_LIMIT:
            graph.initializer.append(tensor)
        elif tensor.name not in inputs:
            graph.input.append(
                onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims)
            )
    return copy


def _declared(model: onnx.ModelProto) -> ShapeInfo:
    known: ShapeInfo = {}
    for graph in all_graphs(model.graph):
        for tensor in graph.initializer:
            known[tensor.name] = (tensor.data_type, tuple(int(d) for d in tensor.dims))
        for value in graph.input:  # the interface wins over an overridable default
            entry = _value_entry(value)
            if entry is not None:
                known[value.name] = entry
    return known


def _value_entry(value: onnx.ValueInfoProto) -> tuple[int, Dims | None] | None:
    if not value.type.HasField("tensor_type"):
        return None
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return (tensor_type.elem_type, None)
    dims = tuple(
        int(d.dim_value) if d.HasField("dim_value") and d.dim_value >= 0 else None
        for d in tensor_type.shape.dim
    )
    return (tensor_type.elem_type, dims)
