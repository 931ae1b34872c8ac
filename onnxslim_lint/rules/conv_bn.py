"""OSL401 conv-bn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from onnxslim_lint.findings import FixAvailability, FixSafety
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.rules._fusion import (
    attr,
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
    bn: NodeRef
    weight: np.ndarray  # folded W
    bias: np.ndarray  # folded B
    saved: int
    # The old bias is a constant other convolutions read too (duplicate-constant
    # merges the exporters' zero biases): it stays, and this one gets its own.
    own_bias: bool = False


class ConvBn(GraphRule[_Fusion]):
    """
    ## What it does
    Folds an inference-form ``BatchNormalization`` that follows a ``Conv`` (or a
    ``ConvTranspose`` with ``group = 1``) into the convolution's weight and bias:
    with ``s = scale / sqrt(var + epsilon)``, ``W' = W * s`` per output channel and
    ``B' = (B - mean) * s + bias``. The BatchNormalization node is removed and the
    convolution writes its output.

    ## Why is this bad?
    In inference a BatchNormalization after a convolution is a per-channel affine
    map that the convolution can absorb. Left alone it is an extra pass over the
    activation for every convolution of the network (CNN exports with
    ``torch.onnx.export(dynamo=True, optimize=False)`` keep them all).

    ## What it leaves alone
    - A convolution whose output is also read by another node or is a graph output.
    - A BatchNormalization with training outputs (running mean/var) or
      ``training_mode = 1``.
    - Weights, biases and statistics that are not constant initializers, or are
      overridable (also graph inputs).
    - A weight shared with another node (folding would duplicate it). A constant
      bias shared with other convolutions (``duplicate-constant`` merges the
      exporters' zero biases into one) stays for them; the fused convolution gets
      a bias of its own, counted against what the fusion saves.
    - Non-float tensors, grouped ConvTranspose.

    ## Example
    ``y = Conv(x, W, B); z = BatchNormalization(y, s, b, m, v)`` becomes
    ``z = Conv(x, W', B')``; ``s``, ``b``, ``m``, ``v`` are removed when nothing else
    reads them.

    ## Fix safety
    Numeric: the folded weights are rounded once, so outputs move in the last bits
    (well within ``rtol = 1e-4``). Applied only with ``--unsafe-fixes``, or when
    the rule is named in ``fixable``.
    """

    code = "OSL401"
    name = "conv-bn"
    summary = "BatchNormalization after a convolution that can be folded into it"
    fix_title = "Fold the BatchNormalization into the convolution's weight and bias"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.NUMERIC

    def match(self, ctx: CheckContext) -> list[_Fusion]:
        return _plan(ctx.index)

    def saving(self, item: _Fusion) -> Saving:
        return node_saving(item.bn, f"after {item.conv.label}", item.saved)

    def message(self, items: Sequence[_Fusion], total: Saving) -> str:
        return (
            f"{plural(len(items), 'BatchNormalization')} foldable into the "
            f"preceding convolution{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[_Fusion]) -> bool:
        editor = Editor(index)
        for fusion in items:
            conv, bn = fusion.conv.node, fusion.bn.node
            scope, weight = index.initializers[conv.input[1]]
            set_tensor(weight, fusion.weight)
            set_conv_bias(
                index, editor, fusion.conv, fusion.bias, scope.graph, shared=fusion.own_bias
            )
            for name in set(bn.input[1:]):
                drop_if_only(editor, index, name, fusion.bn)
            rewire_output(index, fusion.conv, fusion.bn, editor)
        editor.commit()
        return bool(items)


def _plan(index: ModelIndex) -> list[_Fusion]:
    fusions: list[_Fusion] = []
    for conv in index.nodes():
        if not is_op(conv, "Conv", "ConvTranspose") or len(conv.node.output) != 1:
            continue
        node = conv.node
        if len(node.input) < 2:
            continue
        bn = sole_reader(index, node.output[0])
        if not is_op(bn, "BatchNormalization") or bn.scope is not conv.scope:
            continue
        if bn.node.input[0] != node.output[0] or len(bn.node.input) != 5:
            continue
        if [o for o in bn.node.output[1:] if o] or attr(bn.node, "training_mode", 0):
            continue
        if attr(bn.node, "spatial", 1) != 1:
            continue
        weight = initializer(index, node.input[1])
        if weight is None or not weight_readers_ok(index, node.input[1], conv):
            continue
        has_bias = len(node.input) > 2 and bool(node.input[2])
        shared_bias = has_bias and not only_read_by(index, node.input[2], conv)
        b = constant_array(index, node.input[2]) if has_bias else None
        bias_init = has_bias and not shared_bias and initializer(index, node.input[2]) is not None
        zero_bias = has_bias and b is None and zero_valued(index, node.input[2])
        if has_bias and b is None and not zero_bias:
            continue
        params = [constant_array(index, name) for name in bn.node.input[1:]]
        vectors = [p.astype(np.float64) for p in params if p is not None and p.ndim == 1]
        if len(vectors) != len(params):
            continue
        scale, beta, mean, var = vectors
        if any(bn.node.input[i] not in index.initializers for i in range(1, 5)):
            continue
        w = index.tensor_array(weight[1])
        transpose = node.op_type == "ConvTranspose"
        if transpose and attr(node, "group", 1) != 1:
            continue
        channels = w.shape[1] if transpose else w.shape[0]
        if w.ndim < 3 or any(p.shape != (channels,) for p in (scale, beta, mean, var)):
            continue
        b = np.zeros(channels) if b is None else b.astype(np.float64)
        if b.shape != (channels,):
            continue
        eps = float(attr(bn.node, "epsilon", 1e-5))
        s = scale / np.sqrt(var + eps)
        shape = [1] * w.ndim
        shape[1 if transpose else 0] = channels
        folded_w = (w.astype(np.float64) * s.reshape(shape)).astype(w.dtype)
        folded_b = ((b - mean) * s + beta).astype(w.dtype)
        removed = sum(
            index.initializers[name][1].ByteSize()
            for name in set(bn.node.input[1:])
            if only_read_by(index, name, bn)
        )
        if has_bias and not bias_init and not zero_bias and not shared_bias:
            removed += index.producer[node.input[2]].node.ByteSize()
        saved = bn.node.ByteSize() + removed - (0 if bias_init else folded_b.nbytes + 40)
        if saved <= 0:
            continue
        fusions.append(_Fusion(conv, bn, folded_w, folded_b, saved, own_bias=shared_bias))
    return fusions
