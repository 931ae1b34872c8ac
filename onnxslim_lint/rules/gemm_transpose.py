"""OSL408 gemm-transpose."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import onnx
from onnx import helper

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.tensors import node_nbytes
from onnxslim_lint.rules._fusion import attr, is_op, only_read_by
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note


@dataclass(eq=False)
class _Fold:
    gemm: NodeRef
    transpose: NodeRef
    slots: tuple[int, ...]  # the Gemm inputs (0: A, 1: B) that read the Transpose


class GemmTranspose(GraphRule[_Fold]):
    """
    ## What it does
    Finds a ``Transpose`` whose only reader is a ``Gemm``, as its ``A`` or ``B``
    input, and folds it into the Gemm: the Gemm reads the Transpose's input and
    flips its ``transA`` or ``transB`` attribute.

    ## Why is this bad?
    Layout conversions (TensorFlow's ``tf.transpose`` before a dense layer, a
    PyTorch ``x.t() @ w``) leave an explicit Transpose that copies the matrix, when
    ``Gemm`` reads its inputs transposed for free.

    ## What it leaves alone
    - A Transpose that also feeds other nodes or is a graph output (folding it would
      remove no node), or that sits in another graph than the Gemm.
    - The bias ``C``: it is not transposed by ``Gemm``.
    - A Transpose with a ``perm`` other than ``[1, 0]`` (Gemm's inputs are 2-D).

    ## Example
    ``t = Transpose(a, perm=[1, 0]); y = Gemm(t, b, c)`` becomes
    ``y = Gemm(a, b, c, transA=1)``.

    ## Fix safety
    Numeric: the Gemm multiplies the same pairs, but a runtime picks its kernel by
    the inputs' layout. In onnxruntime most shapes give the same bits, while a
    one-row product with both inputs transposed differs in the last bit (both in the
    tests). Applied with ``--unsafe-fixes``, or when the rule is named in
    ``fixable``.
    """

    code = "OSL408"
    name = "gemm-transpose"
    summary = "A Transpose feeding only a Gemm input, which transA/transB can do"
    fix_title = "Fold the Transpose into the Gemm's transA/transB"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.NUMERIC

    def match(self, ctx: CheckContext) -> list[_Fold]:
        index = ctx.index
        folds: list[_Fold] = []
        claimed: set[int] = set()
        for ref in index.nodes():
            if not is_op(ref, "Gemm") or len(ref.node.input) < 2:
                continue
            for name in dict.fromkeys(ref.node.input[:2]):
                fold = _fold(index, ref, name)
                if fold is None or id(fold.transpose) in claimed:
                    continue
                claimed.add(id(fold.transpose))
                folds.append(fold)
        return folds

    def saving(self, item: _Fold) -> Saving:
        transpose = item.transpose
        flags = " and ".join("transA" if slot == 0 else "transB" for slot in item.slots)
        detail = f"into {item.gemm.label} {flags}"
        location = Location("node", transpose.label, transpose.scope.path, detail, 0)
        return Saving((location,), nbytes=node_nbytes(transpose.node), nodes=1)

    def message(self, items: Sequence[_Fold], total: Saving) -> str:
        return f"{plural(len(items), 'Transpose')} that a Gemm can do{size_note(total.nbytes)}"

    def apply(self, index: ModelIndex, items: Sequence[_Fold]) -> bool:
        editor = Editor(index)
        changed = False
        for fold in items:
            source = fold.transpose.node.input[0]
            for slot in fold.slots:
                key = "transA" if slot == 0 else "transB"
                flipped = 1 - int(attr(fold.gemm.node, key, 0))
                _set_int(fold.gemm.node, key, flipped)
                fold.gemm.node.input[slot] = source
            editor.remove_node(fold.transpose)
            changed = True
        editor.commit()
        return changed


def _fold(index: ModelIndex, gemm: NodeRef, name: str) -> _Fold | None:
    transpose = index.producer.get(name) if name else None
    if not is_op(transpose, "Transpose") or transpose.scope is not gemm.scope:
        return None
    node = transpose.node
    if len(node.input) != 1 or not node.input[0] or len(node.output) != 1:
        return None
    perm = attr(node, "perm")
    if perm is not None and list(perm) != [1, 0]:
        return None
    if index.is_graph_output(name) or not only_read_by(index, name, gemm):
        return None
    slots = tuple(slot for slot in (0, 1) if gemm.node.input[slot] == name)
    if 2 in [i for i, n in enumerate(gemm.node.input) if n == name]:
        return None  # the bias reads it too
    return _Fold(gemm, transpose, slots)


def _set_int(node: onnx.NodeProto, key: str, value: int) -> None:
    for attribute in node.attribute:
        if attribute.name == key:
            attribute.i = value
            return
    node.attribute.append(helper.make_attribute(key, value))
