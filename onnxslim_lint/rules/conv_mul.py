"""OSL409 conv-mul."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from onnxslim_lint.findings import FixAvailability, FixSafety
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.rules._fusion import (
    channel_vector,
    constant_array,
    drop_if_only,
    initializer,
    is_op,
    node_saving,
    only_read_by,
    rewire_output,
    set_conv_bias,
    set_tensor,
    sole_reader,
    weight_readers_ok,
    zero_valued,
)
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note


@dataclass(eq=False)
class _Fusion:
    conv: NodeRef
    mul: NodeRef
    constant: str  # the Mul's constant operand
    weight: np.ndarray  # the Conv's new W
    bias: np.ndarray | None  # its new B, None when it has none
    saved: int
    own_bias: bool = False  # the old B is read by other nodes too: it stays for them


class ConvMul(GraphRule[_Fusion]):
    """
    ## What it does
    Folds a ``Mul`` by a constant per-channel scale (shape ``[C, 1, 1]`` or
    ``[1, C, 1, 1]`` for a 2-D convolution, one more or fewer trailing 1s for 1-D
    or 3-D ones, or a single value) that follows a ``Conv`` into the convolution:
    ``W' = W * s`` per output channel and ``B' = B * s``. The Mul is removed and the
    Conv writes its output.

    ## Why is this bad?
    Exporters that lower a BatchNormalization (or a learned channel scale) to
    ``Mul`` and ``Add`` leave two passes over the activation after each bias-less
    convolution. The Mul goes into the weights here; the Add that follows then
    becomes the Conv's bias (``conv-add``, OSL402).

    ## What it leaves alone
    - A Conv whose output is also read by another node or is a graph output.
    - A scale that is not constant, is overridable (a graph input), broadcasts over
      more than the channel axis, or has another element type.
    - A weight read by another node (folding would have to copy it), a computed
      bias, and ``ConvTranspose`` (its weight is laid out by input channel).
    - A fold that would not make the file smaller (a shared bias needs a copy).

    ## Example
    ``y = Conv(x, W); z = Mul(y, s)`` with ``s: float32[1, 64, 1, 1]`` becomes
    ``z = Conv(x, W')`` with ``W'[c] = W[c] * s[c]``.

    ## Fix safety
    Numeric: each product of the convolution is rounded after the scale instead of
    before it, which can change outputs in the last bits. Applied only with
    ``--unsafe-fixes``, or when the rule is named in ``fixable``.
    """

    code = "OSL409"
    name = "conv-mul"
    summary = "Per-channel Mul after a Conv that can be folded into its weights"
    fix_title = "Fold the Mul into the Conv's weight and bias"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.NUMERIC

    def match(self, ctx: CheckContext) -> list[_Fusion]:
        return _plan(ctx.index)

    def saving(self, item: _Fusion) -> Saving:
        return node_saving(item.mul, f"after {item.conv.label}", item.saved)

    def message(self, items: Sequence[_Fusion], total: Saving) -> str:
        return (
            f"{plural(len(items), 'Mul')} by a per-channel constant after a Conv"
            f"{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[_Fusion]) -> bool:
        editor = Editor(index)
        for fusion in items:
            node = fusion.conv.node
            scope, weight = index.initializers[node.input[1]]
            set_tensor(weight, fusion.weight)
            if fusion.bias is not None:
                set_conv_bias(
                    index, editor, fusion.conv, fusion.bias, scope.graph, shared=fusion.own_bias
                )
            drop_if_only(editor, index, fusion.constant, fusion.mul)
            rewire_output(index, fusion.conv, fusion.mul, editor)
        editor.commit()
        return bool(items)


def _channel_scale(array: np.ndarray, channels: int, rank: int) -> np.ndarray | None:
    """The per-channel vector of a scale broadcast along axis 1 of a rank-``rank``
    output, or a single value repeated; None for any other broadcast."""
    vector = channel_vector(array, channels, rank)
    if vector is not None:
        return vector
    if array.size == 1 and array.ndim <= rank:
        return np.full(channels, array.reshape(()), array.dtype)
    return None


def _plan(index: ModelIndex) -> list[_Fusion]:
    fusions: list[_Fusion] = []
    for conv in index.nodes():
        node = conv.node
        if not is_op(conv, "Conv") or len(node.output) != 1 or len(node.input) < 2:
            continue
        mul = sole_reader(index, node.output[0])
        if not is_op(mul, "Mul") or mul.scope is not conv.scope or len(mul.node.input) != 2:
            continue
        a, b = mul.node.input
        other = b if a == node.output[0] else a
        if other == node.output[0]:
            continue
        weight = initializer(index, node.input[1])
        constant = constant_array(index, other)
        if weight is None or constant is None or index.is_overridable(other):
            continue
        if not weight_readers_ok(index, node.input[1], conv):
            continue
        w = index.tensor_array(weight[1])
        if constant.dtype != w.dtype or w.ndim < 3:
            continue
        channels = w.shape[0]
        vector = _channel_scale(constant, channels, w.ndim)
        if vector is None:
            continue
        scale = vector.astype(np.float64)
        if not np.all(np.isfinite(scale)):
            continue
        folded_w = (w.astype(np.float64) * scale.reshape((channels,) + (1,) * (w.ndim - 1))).astype(
            w.dtype
        )
        has_bias = len(node.input) > 2 and bool(node.input[2])
        folded_b = None
        shared_bias = False
        saved = mul.node.ByteSize() + 2
        if has_bias:
            shared_bias = not only_read_by(index, node.input[2], conv)
            old = constant_array(index, node.input[2])
            if old is None and zero_valued(index, node.input[2]):
                old = np.zeros(channels, w.dtype)
            if old is None or old.shape != (channels,):
                continue
            if np.any(old):  # a zero bias stays as it is
                folded_b = (old.astype(np.float64) * scale).astype(w.dtype)
                in_place = not shared_bias and initializer(index, node.input[2]) is not None
                if not in_place:
                    saved -= folded_b.nbytes + 40
        if other in index.initializers and only_read_by(index, other, mul):
            saved += index.initializers[other][1].ByteSize() + 2
        if saved <= 0:
            continue
        fusions.append(_Fusion(conv, mul, other, folded_w, folded_b, saved, shared_bias))
    return fusions
