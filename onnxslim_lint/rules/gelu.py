"""OSL405 gelu."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from onnxslim_lint.findings import FixAvailability, FixSafety
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.rules._fusion import (
    Pattern,
    PatternRule,
    chain_next,
    other_input,
    scalar,
)
from onnxslim_lint.rules.base import Requires, Saving, plural, size_note

_SQRT2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@dataclass(eq=False)
class _Gelu(Pattern):
    approximate: str  # "none" (erf) or "tanh"


class Gelu(PatternRule[_Gelu]):
    """
    ## What it does
    Finds the GELU activation spelled out in elementary ops and replaces it by one
    ``Gelu`` node (opset 20 or later):

    - the exact form ``0.5 * x * (1 + Erf(x / sqrt(2)))``;
    - the tanh approximation
      ``0.5 * x * (1 + Tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))``, as
      ``Gelu(approximate = "tanh")``.

    ## Why is this bad?
    Exporters write GELU as five to eight nodes when the model computes it by hand
    (GPT-2's ``gelu_new``, or any export below opset 20): that many kernels and
    intermediate tensors per layer for one activation.

    ## What it leaves alone
    - Models before opset 20, where ``Gelu`` does not exist.
    - A pattern whose intermediate values are read elsewhere or are graph outputs.
    - Constants that differ from the GELU constants by more than a relative 1e-5.
    - Nodes inside subgraphs.

    ## Example
    ``d = Div(x, 1.4142135); e = Erf(d); a = Add(e, 1); m = Mul(x, a);
    y = Mul(m, 0.5)`` becomes ``y = Gelu(x)``.

    ## Fix safety
    Numeric: the fused kernel rounds differently from the chain of elementary ops
    (differences around 1e-7 for float32). Applied with ``--unsafe-fixes``, or when
    the rule is named in ``fixable``.
    """

    code = "OSL405"
    name = "gelu"
    summary = "GELU written as elementary ops that can be one Gelu node"
    fix_title = "Replace each pattern by a Gelu node"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.NUMERIC
    requires = Requires(min_opset=20)  # Gelu is an opset-20 op

    def find(self, index: ModelIndex, ref: NodeRef) -> _Gelu | None:
        if not is_default_domain(ref.node.domain):
            return None
        if ref.node.op_type == "Erf":
            return _erf_form(index, ref)
        if ref.node.op_type == "Tanh":
            return _tanh_form(index, ref)
        return None

    def describe(self, pattern: _Gelu) -> str:
        return f"Gelu(approximate={pattern.approximate}) of {pattern.x}"

    def fused(self, pattern: _Gelu) -> tuple[str, list[str], dict[str, object]]:
        approximate = {"approximate": "tanh"} if pattern.approximate == "tanh" else {}
        return "Gelu", [pattern.x], dict(approximate)

    def message(self, items: Sequence[_Gelu], total: Saving) -> str:
        return (
            f"{plural(len(items), 'GELU pattern')} that can be Gelu nodes"
            f" ({total.nodes} nodes){size_note(total.nbytes)}"
        )


def _erf_form(index: ModelIndex, erf: NodeRef) -> _Gelu | None:
    scaled = _producer(index, erf.node.input[0])
    if scaled is None:
        return None
    x = _operand(index, scaled, "Div", _SQRT2) or _operand(index, scaled, "Mul", 1 / _SQRT2)
    if x is None or not _sole_reader_is(index, scaled, erf):
        return None
    return _finish(index, x, [scaled, erf], erf, "none")


def _tanh_form(index: ModelIndex, tanh: NodeRef) -> _Gelu | None:
    scaled = _producer(index, tanh.node.input[0])
    if scaled is None or not _sole_reader_is(index, scaled, tanh):
        return None
    inner_name = _operand(index, scaled, "Mul", _SQRT_2_OVER_PI)
    inner = _producer(index, inner_name) if inner_name else None
    if inner is None or inner.node.op_type != "Add" or not _sole_reader_is(index, inner, scaled):
        return None
    for x, cube_term in (inner.node.input, reversed(inner.node.input)):
        term = _producer(index, cube_term)
        if term is None or not _sole_reader_is(index, term, inner):
            continue
        cube_name = _operand(index, term, "Mul", 0.044715)
        cube = _producer(index, cube_name) if cube_name else None
        if cube is None or cube.node.op_type != "Pow" or not _sole_reader_is(index, cube, term):
            continue
        if cube.node.input[0] != x or scalar(index, cube.node.input[1]) != 3.0:
            continue
        return _finish(index, x, [cube, term, inner, scaled, tanh], tanh, "tanh")
    return None


def _finish(
    index: ModelIndex, x: str, chain: list[NodeRef], last: NodeRef, approximate: str
) -> _Gelu | None:
    """``0.5 * x * (1 + last)``, in either of the two orders exporters write it."""
    match = _final_product(index, x, chain, last, approximate)
    if match is None:
        return None
    # The constants must not broadcast x to another shape (Gelu keeps x's shape).
    shapes = index.inferred_shapes()
    before, after = shapes.get(x), shapes.get(match.final.node.output[0])
    if before is None or before[1] is None or before != after:
        return None
    return match


def _final_product(
    index: ModelIndex, x: str, chain: list[NodeRef], last: NodeRef, approximate: str
) -> _Gelu | None:
    plus_one = chain_next(index, last)
    if plus_one is None or _operand(index, plus_one, "Add", 1.0) != last.node.output[0]:
        return None
    product = chain_next(index, plus_one)
    if product is None or product.node.op_type != "Mul":
        return None
    other = other_input(product, plus_one.node.output[0])
    if other == x:  # (x * (1 + t)) * 0.5
        half = chain_next(index, product)
        if half is None or _operand(index, half, "Mul", 0.5) != product.node.output[0]:
            return None
        return _Gelu(x, half, [*chain, plus_one, product], approximate)
    halved = _producer(index, other) if other else None  # (0.5 * x) * (1 + t)
    if halved is None or _operand(index, halved, "Mul", 0.5) != x:
        return None
    if not _sole_reader_is(index, halved, product):
        return None
    return _Gelu(x, product, [*chain, plus_one, halved], approximate)


def _producer(index: ModelIndex, name: str | None) -> NodeRef | None:
    ref = index.producer.get(name) if name else None
    if ref is None or ref.scope is not index.main or not is_default_domain(ref.node.domain):
        return None
    return ref


def _sole_reader_is(index: ModelIndex, ref: NodeRef, reader: NodeRef) -> bool:
    return chain_next(index, ref) is reader


def _operand(index: ModelIndex, ref: NodeRef, op: str, constant: float) -> str | None:
    """For ``ref = op(v, c)`` (or ``op(c, v)`` when op commutes) with the scalar
    constant ``c`` equal to ``constant``: the other input ``v``."""
    node = ref.node
    if node.op_type != op or len(node.input) != 2:
        return None
    orders = [(0, 1), (1, 0)] if op in ("Add", "Mul") else [(0, 1)]
    for value, const in orders:
        number = scalar(index, node.input[const])
        if number is not None and math.isclose(number, constant, rel_tol=1e-5, abs_tol=1e-7):
            return node.input[value]
    return None
