"""OSL403 pad-conv."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from onnx import helper

from onnxslim_lint.findings import FixAvailability, FixSafety
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import ModelIndex, NodeRef, Use
from onnxslim_lint.rules._fusion import (
    attr,
    constant_array,
    drop_if_only,
    forget,
    is_op,
    node_saving,
)
from onnxslim_lint.rules.base import (
    CheckContext,
    GraphRule,
    Saving,
    default_opset,
    plural,
    size_note,
)


@dataclass(eq=False)
class _Fusion:
    pad: NodeRef
    conv: NodeRef
    pads: list[int]  # the Conv's new pads attribute


class PadConv(GraphRule[_Fusion]):
    """
    ## What it does
    Folds a constant-mode ``Pad`` with value zero that pads only the spatial axes
    (never the batch or channel axis) into the ``pads`` attribute of the ``Conv``
    that reads it. The Pad node is removed.

    ## Why is this bad?
    Exporters write asymmetric or explicit padding as a separate ``Pad`` (the
    dynamo exporter does it for every padded convolution): one more copy of the
    whole activation before the convolution, which can pad for free.

    ## What it leaves alone
    - Pads read by anything but a Conv's data input, in particular ``MaxPool`` and
      ``AveragePool``: a pool's implicit padding is not zero (MaxPool ignores
      padded cells, AveragePool may not count them), so folding would change
      results.
    - Reflect, edge and wrap modes, non-zero pad values, negative pads, pads on
      the batch or channel axis, pads with an ``axes`` input, pads that are not
      constant.
    - A Conv with ``auto_pad`` other than ``NOTSET``.

    ## Example
    ``p = Pad(x, [0, 0, 1, 1, 0, 0, 1, 1]); y = Conv(p, W)`` becomes
    ``y = Conv(x, W, pads=[1, 1, 1, 1])``.

    ## Fix safety
    Numeric by policy of the fusion family; in practice the convolution sums the
    same products, as the padded cells are zeros either way.
    """

    code = "OSL403"
    name = "pad-conv"
    summary = "Zero Pad on spatial axes before a Conv that the Conv can do itself"
    fix_title = "Fold the Pad into the Conv's pads"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.NUMERIC

    def match(self, ctx: CheckContext) -> list[_Fusion]:
        return _plan(ctx.index)

    def saving(self, item: _Fusion) -> Saving:
        detail = f"before {item.conv.label}: pads={item.pads}"
        return node_saving(item.pad, detail, item.pad.node.ByteSize())

    def message(self, items: Sequence[_Fusion], total: Saving) -> str:
        return f"{plural(len(items), 'Pad')} foldable into the next Conv{size_note(total.nbytes)}"

    def apply(self, index: ModelIndex, items: Sequence[_Fusion]) -> bool:
        editor = Editor(index)
        for fusion in items:
            pad, conv = fusion.pad.node, fusion.conv.node
            conv.input[0] = pad.input[0]
            for use in index.uses_of(pad.output[0]):
                if use.node is not None and _type_only(use):  # Pad keeps the element type
                    use.node.node.input[use.slot] = pad.input[0]
            kept = [a for a in conv.attribute if a.name != "pads"]
            del conv.attribute[:]
            conv.attribute.extend(kept)
            conv.attribute.append(helper.make_attribute("pads", fusion.pads))
            for name in pad.input[1:]:
                if name:
                    drop_if_only(editor, index, name, fusion.pad)
            editor.remove_node(fusion.pad)
            forget(index, pad.output[0])
        editor.commit()
        return bool(items)


def _pad_amounts(index: ModelIndex, ref: NodeRef) -> list[int] | None:
    node = ref.node
    if attr(node, "mode", b"constant") not in (b"constant", "constant"):
        return None
    opset = default_opset(index)
    if opset < 11:
        pads = attr(node, "pads")
        value = float(attr(node, "value", 0.0))
        return list(pads) if pads is not None and value == 0.0 else None
    if len(node.input) < 2 or not node.input[1]:
        return None
    if len(node.input) > 3 and node.input[3]:
        return None  # axes
    if len(node.input) > 2 and node.input[2]:
        fill = constant_array(index, node.input[2])
        if fill is None or fill.size != 1 or np.any(fill):
            return None
        if fill.dtype.kind == "f" and np.signbit(fill).any():
            return None  # -0.0 pads differ from Conv's +0.0 padding in the sign of zero
    pads = constant_array(index, node.input[1])
    if pads is None or pads.ndim != 1 or pads.dtype.kind != "i":
        return None
    return [int(v) for v in pads]


def _type_only(use: Use) -> bool:
    """A read that sees only the element type: CastLike's second input."""
    return use.node is not None and is_op(use.node, "CastLike") and use.slot == 1


def _conv_reader(index: ModelIndex, name: str) -> NodeRef | None:
    """The one Conv reading ``name``'s values (other reads only see its type)."""
    if name in index.side_table_names:
        return None
    value_reads = [use for use in index.uses_of(name) if not _type_only(use)]
    if len(value_reads) != 1 or value_reads[0].node is None:
        return None
    ref = value_reads[0].node
    return ref if is_op(ref, "Conv") else None


def _plan(index: ModelIndex) -> list[_Fusion]:
    fusions: list[_Fusion] = []
    for pad in index.nodes():
        if not is_op(pad, "Pad") or len(pad.node.output) != 1 or not pad.node.input:
            continue
        out = pad.node.output[0]
        conv = _conv_reader(index, out)
        if conv is None or conv.scope is not pad.scope:
            continue
        if conv.node.input[0] != out or out in conv.node.input[1:]:
            continue
        auto_pad = attr(conv.node, "auto_pad", b"NOTSET")
        if auto_pad not in (b"NOTSET", "NOTSET"):
            continue
        amounts = _pad_amounts(index, pad)
        if amounts is None or len(amounts) % 2 or any(v < 0 for v in amounts):
            continue
        rank = len(amounts) // 2
        weight_shape = index.value_shape(conv.node.input[1])
        if weight_shape is None or len(weight_shape) != rank or rank < 3:
            continue
        begins, ends = amounts[:rank], amounts[rank:]
        if begins[:2] != [0, 0] or ends[:2] != [0, 0]:
            continue
        old = list(attr(conv.node, "pads", [0] * (2 * (rank - 2))))
        if len(old) != 2 * (rank - 2):
            continue
        spatial = rank - 2
        new = [old[i] + begins[2 + i] for i in range(spatial)]
        new += [old[spatial + i] + ends[2 + i] for i in range(spatial)]
        fusions.append(_Fusion(pad, conv, new))
    return fusions
