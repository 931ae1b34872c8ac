"""OSL404 matmul-add-gemm."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from onnxslim_lint.findings import FixAvailability, FixSafety
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.rules._fusion import (
    FLOAT_TYPES,
    constant_array,
    is_op,
    node_saving,
    rewire_output,
    sole_reader,
)
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note


@dataclass(eq=False)
class _Fusion:
    matmul: NodeRef
    add: NodeRef
    bias: str


class MatMulAddGemm(GraphRule[_Fusion]):
    """
    ## What it does
    Turns ``MatMul(A, B)`` followed by ``Add`` of a constant row bias (shape
    ``[N]`` or ``[1, N]``) into one ``Gemm(A, B, bias)``, when both ``A`` and ``B``
    are known to be 2-D.

    ## Why is this bad?
    A linear layer exported as MatMul + Add is two kernels and one extra pass over
    the output; Gemm adds the bias while it writes the product.

    ## What it leaves alone
    - MatMuls whose inputs are not known to be 2-D (batched MatMul has no Gemm).
    - A MatMul whose output is also read elsewhere or is a graph output.
    - Biases that are not constant, or broadcast other than along rows, and
      non-float element types.

    ## Example
    ``y = MatMul(x: float[8, 16], W: float[16, 4]); z = Add(y, b: float[4])``
    becomes ``z = Gemm(x, W, b)``.

    ## Fix safety
    Numeric: the bias is added inside the accumulation, which can round
    differently in the last bits. Applied only with ``--unsafe-fixes``.
    """

    code = "OSL404"
    name = "matmul-add-gemm"
    summary = "2-D MatMul followed by a bias Add that can be one Gemm"
    fix_title = "Replace MatMul + Add with Gemm"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.NUMERIC

    def match(self, ctx: CheckContext) -> list[_Fusion]:
        return _plan(ctx.index)

    def saving(self, item: _Fusion) -> Saving:
        return node_saving(item.matmul, f"+ {item.add.label}", item.add.node.ByteSize())

    def message(self, items: Sequence[_Fusion], total: Saving) -> str:
        return (
            f"{plural(len(items), 'MatMul + Add pair')} that can be a Gemm{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[_Fusion]) -> bool:
        editor = Editor(index)
        for fusion in items:
            node = fusion.matmul.node
            node.op_type = "Gemm"
            node.input.append(fusion.bias)
            rewire_output(index, fusion.matmul, fusion.add, editor)
        editor.commit()
        return bool(items)


def _rank2(index: ModelIndex, name: str) -> tuple[int | None, int | None] | None:
    entry = index.inferred_shapes().get(name)
    if entry is None or entry[1] is None or len(entry[1]) != 2:
        return None
    if entry[0] not in FLOAT_TYPES:
        return None
    return entry[1][0], entry[1][1]


def _plan(index: ModelIndex) -> list[_Fusion]:
    fusions: list[_Fusion] = []
    candidates = [
        ref
        for ref in index.nodes()
        if is_op(ref, "MatMul") and len(ref.node.input) == 2 and len(ref.node.output) == 1
    ]
    for mm in candidates:
        out = mm.node.output[0]
        add = sole_reader(index, out)
        if not is_op(add, "Add") or add.scope is not mm.scope or len(add.node.input) != 2:
            continue
        a, b = add.node.input
        bias = b if a == out else a
        if bias == out:
            continue
        shape_a = _rank2(index, mm.node.input[0])
        shape_b = _rank2(index, mm.node.input[1])
        if shape_a is None or shape_b is None:
            continue
        n = shape_b[1]
        value = constant_array(index, bias)
        if value is None or not isinstance(n, int):
            continue
        elem = index.inferred_shapes()[mm.node.input[1]][0]
        tensor = index.constant_tensor(bias)
        if tensor is None or tensor.data_type != elem:
            continue
        if value.shape not in ((n,), (1, n)):
            continue
        fusions.append(_Fusion(mm, add, bias))
    return fusions
