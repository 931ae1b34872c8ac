"""No-op matchers for arithmetic and logic by a neutral constant: ``x * 1``, ``x / 1``,
``x + 0``, ``x - 0``, ``x and True``, ``x or False``, ``x xor False``."""

from __future__ import annotations

import numpy as np

from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.evaluate import ConeEvaluator
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.rules.no_op.common import (
    Unchanged,
    broadcast_keeps,
    constant,
    dims_of,
    elem_type,
)

FLOAT_ELEM_TYPES = frozenset({1, 10, 11, 16})  # float, float16, double, bfloat16


_INT_TYPES = frozenset({2, 3, 4, 5, 6, 7, 12, 13})


ARITHMETIC_OPS = frozenset({"Mul", "Div", "Sub", "Add"})


# Ops whose outputs are the same whether an input zero is -0.0 or +0.0, so an
# ``x + (+0.0)`` that only feeds them may go (it changes nothing but a zero's sign):
# - Exp, Cos, Cosh: even at zero, exp(-0) = exp(+0) = 1, cos(-0) = cos(+0) = 1 and
#   cosh likewise; every other input value is left as it was;
# - Softmax: exp(x - max) / sum. A zero input changes ``x - max`` only when max is
#   itself a zero, and then ``x - max`` is a zero too, whose exp is 1 either way; a
#   max that is a zero (of either sign) changes no ``x - max`` of a nonzero x. Each
#   exp, the sum and the quotient are therefore the same; a runtime that skips the
#   max subtraction (or subtracts log(sum) too) still takes exp of equal values or
#   of zeros. The output is never -0.0 (exp is > 0 or underflows to +0.0).
# Left out on purpose: LogSoftmax (x - max - log(sum) is ±0 when the row is one
# zero), Abs (a branch ``x < 0 ? -x : x`` returns -0.0 for -0.0), Sqrt, Relu, Gelu,
# Erf, Tanh, Mul, MatMul, Add (all pass a zero's sign on).
_SIGN_BLIND = frozenset({"Softmax", "Exp", "Cos", "Cosh"})


def match_arithmetic(index: ModelIndex, ref: NodeRef, computed: ConeEvaluator) -> Unchanged | None:
    op = ref.node.op_type
    if len(ref.node.input) != 2 or not ref.node.input[1]:
        return None
    pairs = [(0, 1), (1, 0)] if op in ("Mul", "Add") else [(0, 1)]
    for x_slot, c_slot in pairs:
        x, c = ref.node.input[x_slot], ref.node.input[c_slot]
        elem = elem_type(index, x)
        dims = dims_of(index, x)
        if not elem or dims is None or elem not in FLOAT_ELEM_TYPES | _INT_TYPES:
            continue
        if elem_type(index, c) != elem:
            continue
        value = constant(index, c)
        stored = value is not None
        if value is None:
            # made from constants by exact ops (the mask the dynamo exporter
            # builds for attention): looked at, never materialized
            value = computed.value(c)
        if value is None:
            continue
        if not broadcast_keeps(dims, tuple(value.shape)):
            continue
        is_float = elem in FLOAT_ELEM_TYPES
        if _neutral(op, value, is_float):
            sign_note = ""
        elif is_float and op in ("Add", "Sub") and _zeros(value):
            readers = _sign_blind_readers(index, ref)
            if not readers:
                continue
            sign_note = f", read only by {', '.join(readers)}"
        else:
            continue
        if stored:
            why = f"{op.lower()} by a neutral constant"
        else:
            kind = "one" if op in ("Mul", "Div") else "zero"
            why = f"{op.lower()} {'by' if kind == 'one' else 'of'} a computed {kind}"
        return Unchanged(ref, x, why=why + sign_note)
    return None


# Boolean ops and the constant that leaves the other operand as it is.
LOGIC_OPS = {"And": True, "Or": False, "Xor": False}


_BOOL = 9


def match_logic(index: ModelIndex, ref: NodeRef, computed: ConeEvaluator) -> Unchanged | None:
    """``x and True``, ``x or False``, ``x xor False`` (a causal mask and-ed with an
    all-true padding mask, say)."""
    op = ref.node.op_type
    if len(ref.node.input) != 2 or not ref.node.input[1]:
        return None
    neutral = LOGIC_OPS[op]
    for x_slot, c_slot in ((0, 1), (1, 0)):
        x, c = ref.node.input[x_slot], ref.node.input[c_slot]
        dims = dims_of(index, x)
        if elem_type(index, x) != _BOOL or elem_type(index, c) != _BOOL or dims is None:
            continue
        value = constant(index, c)
        if value is None:
            value = computed.value(c)
        if value is None or value.dtype != np.bool_:
            continue
        if not broadcast_keeps(dims, tuple(value.shape)):
            continue
        if bool(np.all(value == neutral)):
            return Unchanged(ref, x, why=f"{op.lower()} with all {str(neutral).lower()}")
    return None


def _zeros(value: np.ndarray) -> bool:
    return bool(np.all(value == 0))


def _sign_blind_readers(index: ModelIndex, ref: NodeRef) -> list[str]:
    """The op types reading the node's output if none can tell -0.0 from +0.0, else [].

    Only plain node inputs of the same graph count: not a graph output, not a read
    from inside a subgraph, not a name a side table mentions.
    """
    out = ref.node.output[0]
    if index.is_graph_output(out) or out in index.side_table_names:
        return []
    uses = index.uses_of(out)
    if not uses or not all(
        use.node is not None
        and use.scope is ref.scope
        and is_default_domain(use.node.node.domain)
        and use.node.node.op_type in _SIGN_BLIND
        for use in uses
    ):
        return []
    return sorted({use.node.node.op_type for use in uses if use.node is not None})


def _neutral(op: str, value: np.ndarray, is_float: bool) -> bool:
    if op in ("Mul", "Div"):
        return bool(np.all(value == 1))
    if not _zeros(value):
        return False
    if not is_float:
        return True
    negative = np.signbit(value.astype(np.float64))
    if op == "Sub":
        return not bool(np.any(negative))  # x - (+0.0) == x, even for x = -0.0
    return bool(np.all(negative))  # Add: only x + (-0.0) == x for every x
