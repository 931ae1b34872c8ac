"""OSL402 conv-add."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from onnx import numpy_helper

from onnxslim_lint.findings import FixAvailability, FixSafety
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.rules._fusion import (
    attr,
    channel_vector,
    constant_array,
    drop_if_only,
    initializer,
    is_op,
    node_saving,
    only_read_by,
    rewire_output,
    set_conv_bias,
    sole_reader,
    zero_valued,
)
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note


@dataclass(eq=False)
class _Fusion:
    conv: NodeRef
    add: NodeRef
    constant: str  # the Add's constant operand
    bias: np.ndarray  # the Conv's new B
    saved: int


class ConvAdd(GraphRule[_Fusion]):
    """
    ## What it does
    Folds an ``Add`` of a constant per-channel bias (shape ``[C, 1, 1]`` or
    ``[1, C, 1, 1]`` for a 2-D convolution; one more or fewer trailing 1s for 1-D or
    3-D ones) that follows a ``Conv`` or ``ConvTranspose`` into its bias ``B``. The Add is removed
    and the Conv writes its output.

    ## Why is this bad?
    Exporters that split a convolution from its bias (or fold a BatchNormalization
    into an Add) leave a separate pass over the activation that the convolution
    does for free.

    ## What it leaves alone
    - A Conv whose output is also read by another node or is a graph output.
    - A bias that is not constant, is overridable, broadcasts over more than the
      channel axis, or has another element type.
    - A Conv whose own ``B`` is computed (not constant) or shared with another node.

    ## Example
    ``y = Conv(x, W); z = Add(y, c)`` with ``c: float32[64, 1, 1]`` becomes
    ``z = Conv(x, W, c')`` with ``c' = c.reshape(64)``.

    ## Fix safety
    Numeric: the bias is added inside the convolution's accumulation, which can
    round differently in the last bits. Applied only with ``--unsafe-fixes``.
    """

    code = "OSL402"
    name = "conv-add"
    summary = "Per-channel Add after a Conv that can be its bias"
    fix_title = "Fold the Add into the Conv's bias"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.NUMERIC

    def match(self, ctx: CheckContext) -> list[_Fusion]:
        return _plan(ctx.index)

    def saving(self, item: _Fusion) -> Saving:
        return node_saving(item.add, f"after {item.conv.label}", item.saved)

    def message(self, items: Sequence[_Fusion], total: Saving) -> str:
        return (
            f"{plural(len(items), 'Add')} of a per-channel constant after a Conv"
            f"{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[_Fusion]) -> bool:
        editor = Editor(index)
        for fusion in items:
            set_conv_bias(index, editor, fusion.conv, fusion.bias, fusion.conv.scope.graph)
            drop_if_only(editor, index, fusion.constant, fusion.add)
            rewire_output(index, fusion.conv, fusion.add, editor)
        editor.commit()
        return bool(items)


def _plan(index: ModelIndex) -> list[_Fusion]:
    fusions: list[_Fusion] = []
    for conv in index.nodes():
        node = conv.node
        if not is_op(conv, "Conv", "ConvTranspose") or len(node.output) != 1:
            continue
        if len(node.input) < 2:
            continue
        add = sole_reader(index, node.output[0])
        if not is_op(add, "Add") or add.scope is not conv.scope or len(add.node.input) != 2:
            continue
        a, b = add.node.input
        other = b if a == node.output[0] else a
        if other == node.output[0]:
            continue
        weight = initializer(index, node.input[1])
        constant = constant_array(index, other)
        if weight is None or constant is None:
            continue
        w_dtype = index.tensor_array(weight[1]).dtype
        dims, rank = weight[1].dims, len(weight[1].dims)
        # ConvTranspose's weight is [C_in, C_out / group, ...].
        transpose = node.op_type == "ConvTranspose"
        channels = dims[1] * int(attr(node, "group", 1)) if transpose else dims[0]
        if constant.dtype != w_dtype or rank < 3:
            continue
        vector = channel_vector(constant, channels, rank)
        if vector is None:
            continue
        has_bias = len(node.input) > 2 and bool(node.input[2])
        old = None
        if has_bias:
            if not only_read_by(index, node.input[2], conv):
                continue
            old = constant_array(index, node.input[2])
            if old is None and not zero_valued(index, node.input[2]):
                continue
        in_place = has_bias and node.input[2] in index.initializers
        old = np.zeros(channels, w_dtype) if old is None else old
        if old.shape != (channels,):
            continue
        bias = (old.astype(np.float64) + vector.astype(np.float64)).astype(w_dtype)
        saved = add.node.ByteSize() + 2
        if other in index.initializers and only_read_by(index, other, add):
            saved += index.initializers[other][1].ByteSize() + 2
        if not in_place:
            name = f"{node.input[1]}_bias"
            saved -= numpy_helper.from_array(bias, name).ByteSize() + len(name) + 4
        if saved <= 0:
            continue
        fusions.append(_Fusion(conv, add, other, bias, saved))
    return fusions
