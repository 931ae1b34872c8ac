"""OSL410 add-zero."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from onnxslim_lint.findings import FixAvailability, FixSafety
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor, can_bypass
from onnxslim_lint.model.evaluate import ConeEvaluator
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.rules._fusion import node_saving
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note
from onnxslim_lint.rules.no_op.arithmetic import FLOAT_ELEM_TYPES, match_arithmetic
from onnxslim_lint.rules.no_op.common import broadcast_keeps, constant, dims_of, elem_type


@dataclass(eq=False)
class _ZeroAdd:
    ref: NodeRef
    source: str  # the operand the node's output equals, up to the sign of a zero
    why: str


class AddZero(GraphRule[_ZeroAdd]):
    """
    ## What it does
    Removes a floating-point ``x + 0.0`` (or ``x - (-0.0)``) whose zero is a
    constant, stored or computed from constants, that leaves the shape of ``x``
    unchanged, and rewires its readers to ``x``.

    ## Why is this bad?
    Exporters write a layer's bias even when it is all zeros (a bias initialised to
    zero and never trained, a quantizer that split the bias off a MatMul). The Add
    is a pass over the activation that changes no value.

    ## What it leaves alone
    - The cases that are exact, which ``no-op`` (OSL205) removes by default:
      ``x + (-0.0)``, ``x - 0.0``, integers, and ``x + 0.0`` read only by ops that
      cannot tell ``-0.0`` from ``+0.0``.
    - A zero that is not constant or is overridable (a graph input), one whose
      broadcast grows ``x``, and an operand of a type other than the zero's.
    - A node whose output is a graph output whose name cannot move to ``x``'s
      producer (``x`` is a graph input, an initializer or an output itself).

    ## Example
    ``y = Add(MatMul(x, W), b)`` with ``b: float32[64]`` all ``0.0`` becomes
    ``y = MatMul(x, W)``.

    ## Fix safety
    Numeric: ``-0.0 + 0.0`` is ``+0.0``, so where ``x`` is ``-0.0`` the fixed model
    returns ``-0.0`` instead. The two compare equal, yet a later ``1 / y`` or
    ``atan2`` can tell them apart. Applied only with ``--unsafe-fixes``, or when the
    rule is named in ``fixable``.
    """

    code = "OSL410"
    name = "add-zero"
    summary = "Float Add of an all-zero constant, a no-op but for the sign of a zero"
    fix_title = "Remove the Add and rewire its readers"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.NUMERIC

    def match(self, ctx: CheckContext) -> list[_ZeroAdd]:
        index = ctx.index
        computed = ConeEvaluator(index)
        found: list[_ZeroAdd] = []
        for ref in index.nodes():
            item = _zero_add(index, ref, computed)
            if item is not None and can_bypass(index, ref, ref.node.output[0], item.source):
                found.append(item)
        return _independent(found)

    def saving(self, item: _ZeroAdd) -> Saving:
        return node_saving(item.ref, item.why, item.ref.node.ByteSize())

    def message(self, items: Sequence[_ZeroAdd], total: Saving) -> str:
        return f"{plural(len(items), 'Add')} of an all-zero constant{size_note(total.nbytes)}"

    def apply(self, index: ModelIndex, items: Sequence[_ZeroAdd]) -> bool:
        editor = Editor(index)
        changed = False
        for item in items:
            changed |= editor.bypass(item.ref, item.ref.node.output[0], item.source)
        editor.commit()
        return changed


def _zero_add(index: ModelIndex, ref: NodeRef, computed: ConeEvaluator) -> _ZeroAdd | None:
    node = ref.node
    op = node.op_type
    if op not in ("Add", "Sub") or not is_default_domain(node.domain):
        return None
    if len(node.input) != 2 or not all(node.input) or len(node.output) != 1:
        return None
    if not node.output[0]:
        return None
    pairs = [(0, 1), (1, 0)] if op == "Add" else [(0, 1)]
    for x_slot, c_slot in pairs:
        x, c = node.input[x_slot], node.input[c_slot]
        elem = elem_type(index, x)
        dims = dims_of(index, x)
        if elem not in FLOAT_ELEM_TYPES or dims is None or elem_type(index, c) != elem:
            continue
        value = constant(index, c)
        if value is None:
            value = computed.value(c)
        if value is None or np.any(value != 0):
            continue
        if not broadcast_keeps(dims, tuple(value.shape)):
            continue
        negative = np.signbit(value.astype(np.float64))
        # x + (+0.0) and x - (-0.0): the cases no-op leaves (it takes the others)
        if not np.all(~negative if op == "Add" else negative):
            continue
        if match_arithmetic(index, ref, computed) is not None:
            return None  # no-op's: exact here (sign-blind readers)
        return _ZeroAdd(ref, x, f"{op.lower()} of an all-zero constant")
    return None


def _independent(found: list[_ZeroAdd]) -> list[_ZeroAdd]:
    """The items one edit can remove together (the next round takes the others):
    none reads another's output, and no two read the same operand (the editor
    rewires each value once)."""
    outputs = {item.ref.node.output[0] for item in found}
    kept: list[_ZeroAdd] = []
    sources: set[str] = set()
    for item in found:
        if item.source in outputs or item.source in sources:
            continue
        sources.add(item.source)
        kept.append(item)
    return kept
