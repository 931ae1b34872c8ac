"""OSL204 shape-folding."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.graphs import has_subgraph
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.shapes import ShapeInfo, is_static
from onnxslim_lint.model.symbolic import SymbolicShapes
from onnxslim_lint.rules._folding import FoldComponent, FoldingRule, plan_folds
from onnxslim_lint.rules.base import CheckContext, default_opset


class ShapeFolding(FoldingRule):
    """
    ## What it does
    Finds ``Shape`` and ``Size`` nodes of values whose shape is fully static and
    replaces them by int64 initializers, together with the constant arithmetic that
    only they feed (``Gather``, ``Slice``, ``Concat``, ``Unsqueeze``, ``Cast``,
    ``Mul``, ...), the way constant folding does. Where a value has some dynamic
    dims, a ``Gather`` or step-1 ``Slice`` of its ``Shape`` that picks only static
    dims folds too (the ``Shape`` itself stays for its other readers). Dims come
    from onnx shape inference and from symbolic shapes
    (:mod:`onnxslim_lint.model.symbolic`), which carries ``batch``-like symbols
    through Reshapes with computed targets and the like, where onnx inference
    gives up: any computation whose result it proves constant folds.

    ## Why is this bad?
    Exporters trace shape computations (``x.size(0)``, ``view(b, -1, h)``) as
    ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` chains even where every dim
    is fixed. Each run recomputes numbers that are known when the file is written,
    and the chains hide constant shapes from other fixes.

    ## What it leaves alone
    - A Shape of a value with any symbolic (``dim_param``) or unknown dim in the
      dims it returns, and any pick of such a dim: a graph input with a dynamic
      batch size stays dynamic.
    - Shapes are taken from onnx shape inference run on a copy of the model with
      every ``value_info`` cleared, so a stale annotation is never trusted.
    - ``Shape`` and ``Size`` nodes inside subgraphs (the arithmetic a subgraph does
      on a main-graph Shape that folds, folds with it, its results initializers of
      that subgraph), Shape nodes whose output is a graph output, and any fold that
      would make the file larger.
    - A Shape or Size of a constant, and nodes computed from constants only: those
      are OSL203 constant-folding's, so no node is reported by both rules.

    ## Example
    With ``x: float[1, 3, 224, 224]``, ``s = Shape(x, start=2); y = Reshape(z, s)``
    becomes ``y = Reshape(z, s)`` with ``s`` an initializer ``[224, 224]``.

    ## Fix safety
    Exact: the shape of a statically shaped value is the same on every run.

    ## Options
    ``max-folded-constant`` in ``[tool.onnxslim-lint]`` (a size, e.g. ``"1 MB"``):
    no fold creates an initializer larger than this, even when it saves bytes, the
    way onnx-simplifier's ``--size-threshold`` keeps large constants computed at
    run time. Default: no cap beyond never growing the file.
    """

    code = "OSL204"
    name = "shape-folding"
    summary = "Shape and Size of values with a static shape"
    fix_title = "Replace the shape computations by initializers"
    folded_from = "static shape"

    def match(self, ctx: CheckContext) -> list[FoldComponent]:
        index = ctx.index
        candidates = [
            ref
            for ref in index.nodes()
            if ref.scope is index.main
            and ref.node.op_type in ("Shape", "Size", "Gather", "Slice")
            and is_default_domain(ref.node.domain)
            and ref.node.input
            and ref.node.input[0]
            and len(ref.node.output) == 1
            and ref.node.output[0]
        ]
        candidates = [
            ref
            for ref in candidates
            if ref.node.op_type in ("Shape", "Size") or _shape_node(index, ref.node.input[0])
        ]
        shapes = index.inferred_shapes()
        seeds: dict[int, list[np.ndarray]] = _symbolic_seeds(index)
        for ref in candidates:
            if ref.node.op_type in ("Shape", "Size"):
                if len(ref.node.input) != 1:
                    continue
                if index.constant_tensor(ref.node.input[0]) is not None:
                    continue  # computed from a constant: OSL203's, not reported twice
                dims = shapes.get(ref.node.input[0], (0, None))[1]
                if is_static(dims):
                    seeds[id(ref)] = [_value(ref, dims)]
                continue
            value = _picked_dims(index, ref, shapes)
            if value is not None:
                seeds[id(ref)] = [value]
        if not seeds:
            return []
        max_constant = ctx.options.max_folded_constant
        return plan_folds(index, seeds, constants=False, max_constant=max_constant)


_INTEGER_DTYPES: dict[int, type] = {TensorProto.INT64: np.int64, TensorProto.INT32: np.int32}


def _symbolic_seeds(index: ModelIndex) -> dict[int, list[np.ndarray]]:
    """Main-graph nodes whose outputs symbolic shape analysis proves constant:
    ``Gather(Shape(x), 1)`` where dim 1 is 64 though dim 0 is ``batch``, the
    arithmetic and ``Concat`` of such pieces, a ``Shape`` of a value onnx inference
    leaves unknown but whose dims are all fixed."""
    if not any(ref.node.op_type in ("Shape", "Size") for ref in index.nodes()):
        return {}
    symbolic = SymbolicShapes.analyze(index)
    seeds: dict[int, list[np.ndarray]] = {}
    for ref in symbolic.foldable():
        node = ref.node
        if ref.scope is not index.main or has_subgraph(node):
            continue
        if all(not name or index.constant_tensor(name) is not None for name in node.input):
            continue  # computed from constants: OSL203's
        outputs = [out for out in node.output if out]
        if any(index.is_graph_output(o) or o in index.side_table_names for o in outputs):
            continue
        arrays = []
        for out in outputs:
            value, shape = symbolic.constant_value(out), symbolic.shape(out)
            dtype = _INTEGER_DTYPES.get(symbolic.elem_type(out))
            if value is None or shape is None or dtype is None or len(shape) > 1:
                break
            array: np.ndarray = np.array(value, dtype=dtype)
            arrays.append(array.reshape(()) if shape == () else array)
        if len(arrays) == len(outputs):
            seeds[id(ref)] = arrays
    return seeds


def _shape_node(index: ModelIndex, name: str) -> NodeRef | None:
    ref = index.producer.get(name)
    if (
        ref is None
        or ref.scope is not index.main
        or ref.node.op_type != "Shape"
        or not is_default_domain(ref.node.domain)
        or len(ref.node.input) != 1
    ):
        return None
    return ref


def _picked_dims(index: ModelIndex, ref: NodeRef, shapes: ShapeInfo) -> np.ndarray | None:
    """The value of ``Gather``/``Slice`` of a Shape when every dim it picks is static."""
    shape_ref = _shape_node(index, ref.node.input[0])
    if shape_ref is None:
        return None
    dims = shapes.get(shape_ref.node.input[0], (0, None))[1]
    if dims is None:
        return None
    vector = _shape_vector(shape_ref, tuple(dims))
    consts = []
    for name in ref.node.input[1:]:
        tensor = index.constant_tensor(name) if name else None
        if name and tensor is None:
            return None
        if tensor is not None and not index.has_data(tensor):
            return None
        consts.append(None if tensor is None else index.tensor_array(tensor))
    if ref.node.op_type == "Gather":
        axis = next((a.i for a in ref.node.attribute if a.name == "axis"), 0)
        if axis not in (0, -1) or len(consts) != 1 or consts[0] is None:
            return None
        indices = consts[0]
        if indices.dtype.kind not in "iu":
            return None
        flat = [int(i) for i in indices.reshape(-1)]
        if any(i < -len(vector) or i >= len(vector) for i in flat):
            return None
        picked = [vector[i] for i in flat]
        if any(d is None for d in picked):
            return None
        return np.array(picked, dtype=np.int64).reshape(indices.shape)
    # Slice (opset >= 10 form) with step 1 on the 1-D shape vector
    if len(consts) < 2 or consts[0] is None or consts[1] is None:
        return None
    starts, ends = consts[0].reshape(-1), consts[1].reshape(-1)
    axes = consts[2].reshape(-1) if len(consts) > 2 and consts[2] is not None else [0]
    steps = consts[3].reshape(-1) if len(consts) > 3 and consts[3] is not None else [1]
    if len(starts) != 1 or len(ends) != 1 or list(axes) not in ([0], [-1]) or list(steps) != [1]:
        return None
    if default_opset(index) < 10:
        return None
    n = len(vector)
    start, end = int(starts[0]), int(ends[0])
    start = min(max(start + n if start < 0 else start, 0), n)
    end = min(max(end + n if end < 0 else end, 0), n)
    picked = vector[start:end]
    if any(d is None for d in picked):
        return None
    return np.array(picked, dtype=np.int64)


def _value(ref: NodeRef, dims: tuple[int, ...]) -> np.ndarray:
    if ref.node.op_type == "Size":
        return np.array(int(np.prod(dims, dtype=np.int64)), dtype=np.int64)
    start, end = _shape_range(ref, len(dims))
    return np.array(dims[start:end], dtype=np.int64)


def _shape_vector(ref: NodeRef, dims: tuple[int | None, ...]) -> list[int | None]:
    """What ``Shape`` (with start/end) returns, ``None`` where a dim is not static."""
    start, end = _shape_range(ref, len(dims))
    return list(dims[start:end])


def _shape_range(ref: NodeRef, rank: int) -> tuple[int, int]:
    """The dims a ``Shape`` node returns: its ``start``/``end``, clamped to the rank."""
    start, end = 0, rank
    for attr in ref.node.attribute:
        if attr.name == "start":
            start = attr.i
        elif attr.name == "end":
            end = attr.i
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return start, end
