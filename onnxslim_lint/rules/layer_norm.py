"""OSL406 layer-norm."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import onnx

from onnxslim_lint.findings import FixAvailability, FixSafety
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.rules._fusion import (
    Pattern,
    PatternRule,
    chain_next,
    other_input,
    scalar,
)
from onnxslim_lint.rules.base import Requires, Saving, plural, size_note


@dataclass(eq=False)
class _LayerNorm(Pattern):
    scale: str
    bias: str | None
    epsilon: float


class LayerNorm(PatternRule[_LayerNorm]):
    """
    ## What it does
    Finds layer normalization over the last axis spelled out in elementary ops and
    replaces it by one ``LayerNormalization`` node (opset 17 or later):
    ``m = ReduceMean(x); d = x - m; v = ReduceMean(d^2); n = d / Sqrt(v + eps);
    y = n * scale + bias``.

    ## Why is this bad?
    Exports below opset 17, and hand-written normalizations, leave eight or nine
    nodes per normalization: that many kernels and full-size intermediate tensors
    where one fused kernel does the job.

    ## What it leaves alone
    - Models before opset 17, where ``LayerNormalization`` does not exist.
    - Normalizations over anything but the last axis, and patterns without a
      constant ``scale`` of the normalized size (``bias`` is optional).
    - Patterns whose intermediate values are read elsewhere or are graph outputs.
    - Nodes inside subgraphs.

    ## Example
    The nine nodes above become ``y = LayerNormalization(x, scale, bias,
    axis = -1, epsilon = eps)``.

    ## Fix safety
    Numeric: the fused kernel computes the variance in its own order and precision
    (float32 for float16 inputs). Applied with ``--unsafe-fixes``, or when the rule
    is named in ``fixable``.
    """

    code = "OSL406"
    name = "layer-norm"
    summary = "Layer normalization written as elementary ops that can be one node"
    fix_title = "Replace each pattern by a LayerNormalization node"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.NUMERIC
    requires = Requires(min_opset=17)  # LayerNormalization is an opset-17 op

    def find(self, index: ModelIndex, ref: NodeRef) -> _LayerNorm | None:
        return _match(index, ref) if ref.node.op_type == "ReduceMean" else None

    def describe(self, pattern: _LayerNorm) -> str:
        return f"LayerNormalization of {pattern.x}"

    def fused(self, pattern: _LayerNorm) -> tuple[str, list[str], dict[str, object]]:
        inputs = [pattern.x, pattern.scale, *([pattern.bias] if pattern.bias else [])]
        return "LayerNormalization", inputs, {"axis": -1, "epsilon": pattern.epsilon}

    def message(self, items: Sequence[_LayerNorm], total: Saving) -> str:
        return (
            f"{plural(len(items), 'layer normalization')} written as elementary ops"
            f" ({total.nodes} nodes){size_note(total.nbytes)}"
        )


def _match(index: ModelIndex, mean: NodeRef) -> _LayerNorm | None:
    x = mean.node.input[0] if mean.node.input else ""
    if not x or not _last_axis_mean(index, mean):
        return None
    readers = _readers(index, mean)
    if len(readers) != 1 or readers[0].node.op_type != "Sub":
        return None
    sub = readers[0]
    if list(sub.node.input) != [x, mean.node.output[0]]:
        return None
    centered = sub.node.output[0]
    users = _readers(index, sub)
    square = next((u for u in users if _is_square(index, u, centered)), None)
    divide = next((u for u in users if u.node.op_type == "Div"), None)
    if len(users) != 2 or square is None or divide is None:
        return None
    variance = chain_next(index, square)
    if variance is None or variance.node.op_type != "ReduceMean":
        return None
    if not _last_axis_mean(index, variance):
        return None
    plus_eps = chain_next(index, variance)
    if plus_eps is None or plus_eps.node.op_type != "Add":
        return None
    epsilon = scalar(index, other_input(plus_eps, variance.node.output[0]), "f")
    if epsilon is None or epsilon < 0:
        return None
    root = chain_next(index, plus_eps)
    if root is None or root.node.op_type != "Sqrt" or chain_next(index, root) is not divide:
        return None
    if list(divide.node.input) != [centered, root.node.output[0]]:
        return None
    scaled = chain_next(index, divide)
    scale = other_input(scaled, divide.node.output[0]) if scaled else None
    if scaled is None or scale is None or scaled.node.op_type != "Mul":
        return None
    if not _channel_vector(index, x, scale):
        return None
    chain = [mean, sub, square, variance, plus_eps, root, divide]
    shifted = chain_next(index, scaled)
    bias = other_input(shifted, scaled.node.output[0]) if shifted else None
    if shifted is not None and shifted.node.op_type == "Add" and _channel_vector(index, x, bias):
        final, others = shifted, [*chain, scaled]
    else:
        final, others, bias = scaled, chain, None
    shapes = index.inferred_shapes()
    if shapes.get(x) is None or shapes.get(x) != shapes.get(final.node.output[0]):
        return None
    return _LayerNorm(x, final, others, scale, bias, epsilon)


def _readers(index: ModelIndex, ref: NodeRef) -> list[NodeRef]:
    if len(ref.node.output) != 1:
        return []
    name = ref.node.output[0]
    if index.is_graph_output(name) or name in index.side_table_names:
        return []
    uses = index.uses_of(name)
    if any(use.node is None or use.scope is not index.main for use in uses):
        return []
    unique: dict[int, NodeRef] = {}
    for use in uses:
        if use.node is not None:
            unique.setdefault(id(use.node), use.node)
    return list(unique.values())


def _is_square(index: ModelIndex, ref: NodeRef, value: str) -> bool:
    node = ref.node
    if node.op_type == "Mul":
        return list(node.input) == [value, value]
    return (
        node.op_type == "Pow"
        and node.input[0] == value
        and scalar(index, node.input[1], "f") == 2.0
    )


def _last_axis_mean(index: ModelIndex, ref: NodeRef) -> bool:
    node = ref.node
    keepdims = next((a.i for a in node.attribute if a.name == "keepdims"), 1)
    axes = next((list(a.ints) for a in node.attribute if a.name == "axes"), None)
    if axes is None and len(node.input) > 1 and node.input[1]:
        value = index.constant_array(node.input[1])
        axes = None if value is None else [int(v) for v in value.reshape(-1)]
    shape = index.inferred_shapes().get(node.input[0])
    rank = len(shape[1]) if shape is not None and shape[1] is not None else None
    if keepdims != 1 or not axes or len(axes) != 1 or rank is None:
        return False
    return axes[0] % rank == rank - 1


def _channel_vector(index: ModelIndex, x: str, name: str | None) -> bool:
    """A constant of shape [C], C the size of x's last axis (and x's element type)."""
    if not name:
        return False
    value = index.constant_array(name)
    shape = index.inferred_shapes().get(x)
    if value is None or shape is None or shape[1] is None or not shape[1]:
        return False
    last = shape[1][-1]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(shape[0]) if shape[0] else None
    return (
        value.ndim == 1
        and isinstance(last, int)
        and value.shape == (last,)
        and value.dtype == dtype
    )
