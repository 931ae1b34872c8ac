"""OSL212 reshaped-transpose: Reshape, Transpose, Reshape that only move whole axes."""

from __future__ import annotations

from functools import partial
from math import prod

import graphs
import numpy as np
import onnx
import pytest
from graphs import parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.rules.registry import select_rules
from onnxslim_lint.rules.reshaped_transpose import ReshapedTranspose

check = partial(graphs.check, ReshapedTranspose)
fixed_ok = partial(graphs.exact_fix_ok, ReshapedTranspose)


def ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node if n.op_type != "Constant"]


# How torch's dynamo exporter writes k.transpose(-1, -2) for a [1, 12, 128, 64] key:
# flatten batch and heads, swap the last two axes, split the heads back out.
KEY_T = """
g (float[1,128,768] k) => (float[1,12,64,128] y) {
    heads = Constant <value = int64[4] {1, 128, 12, 64}> ()
    flat = Constant <value = int64[3] {-1, 128, 64}> ()
    back = Constant <value = int64[4] {1, 12, 64, 128}> ()
    [view] v = Reshape <allowzero = 1> (k, heads)
    [split_heads] t = Transpose <perm = [0, 2, 1, 3]> (v)
    [flatten] a = Reshape (t, flat)
    [swap] b = Transpose <perm = [0, 2, 1]> (a)
    [unflatten] y = Reshape (b, back)
}
"""


def test_the_dynamo_key_transpose_becomes_one_transpose() -> None:
    model = parse(KEY_T)
    (finding,) = check(model)
    assert finding.code == "OSL212" and finding.name == "reshaped-transpose"
    assert finding.count == 1 and finding.nodes == 2
    assert graphs.location_names(finding) == ["flatten -> unflatten"]
    assert finding.locations[0].detail == "Transpose perm=[0, 1, 3, 2]"
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Reshape", "Transpose", "Transpose"]
    last = fixed.graph.node[-1]
    assert last.output[0] == "y" and list(last.attribute[0].ints) == [0, 1, 3, 2]


def test_with_every_default_rule_the_two_transposes_merge() -> None:
    model = parse(KEY_T)
    fixed = apply_fixes(model, [rule() for rule in select_rules(None)]).model
    assert ops(fixed) == ["Reshape", "Transpose"]
    assert list(fixed.graph.node[-1].attribute[0].ints) == [0, 2, 3, 1]
    graphs.verified(model, fixed)


def test_a_result_that_also_merges_axes_keeps_a_reshape() -> None:
    # [2,3,4] -> [2,12] -> [12,2] -> [24] is Transpose(x, [1,2,0]) flattened.
    model = parse(
        """
        g (float[2,3,4] x) => (float[24] y) {
            s1 = Constant <value = int64[2] {2, 12}> ()
            s2 = Constant <value = int64[1] {24}> ()
            [r1] a = Reshape (x, s1)
            [t] b = Transpose <perm = [1, 0]> (a)
            [r2] y = Reshape (b, s2)
        }
        """
    )
    (finding,) = check(model)
    assert finding.nodes == 1
    assert finding.locations[0].detail == "Transpose perm=[1, 2, 0] and Reshape"
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Transpose", "Reshape"]


def test_a_chain_that_moves_only_size_one_axes_is_a_reshape() -> None:
    model = parse(
        """
        g (float[1,6,4] x) => (float[6,4] y) {
            s1 = Constant <value = int64[3] {6, 1, 4}> ()
            s2 = Constant <value = int64[2] {6, 4}> ()
            [r1] a = Reshape (x, s1)
            [t] b = Transpose <perm = [1, 0, 2]> (a)
            [r2] y = Reshape (b, s2)
        }
        """
    )
    (finding,) = check(model)
    assert finding.nodes == 2
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Reshape"]


def test_the_last_reshape_reading_dims_with_zero_gets_its_own_shape() -> None:
    # The old shape {0, -1} copies dim 0 of the Transpose output (12 here); after the
    # fix that input is gone, so a Reshape left behind needs an explicit shape.
    model = parse(
        """
        g (float[2,3,4] x) => (float[12,2] y)
        <int64[2] s1 = {2, 12}, int64[2] s2 = {0, -1}> {
            [r1] a = Reshape (x, s1)
            [t] b = Transpose <perm = [1, 0]> (a)
            [r2] y = Reshape (b, s2)
        }
        """
    )
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Transpose", "Reshape"]
    shape = next(t for t in fixed.graph.initializer if t.name == fixed.graph.node[-1].input[1])
    assert numpy_helper.to_array(shape).tolist() == [12, 2]


@pytest.mark.parametrize(
    ("change", "outputs"),
    [
        # splitting 768 into heads and moving the parts apart is no transpose of k
        (("[unflatten] y = Reshape (b, back)", "[unflatten] y = Identity (a)"), None),
        # a value between read by something else
        (
            (
                "[unflatten] y = Reshape (b, back)",
                "[unflatten] y = Reshape (b, back)\n z = Neg (a)",
            ),
            "float[1,12,64,128] y, float[12,128,64] z",
        ),
        # a value between is a graph output
        (
            ("[unflatten] y = Reshape (b, back)", "[unflatten] y = Reshape (b, back)"),
            "float[1,12,64,128] y, float[12,64,128] b",
        ),
    ],
)
def test_left_alone(change: tuple[str, str], outputs: str | None) -> None:
    text = KEY_T.replace(*change)
    if outputs:
        text = text.replace("=> (float[1,12,64,128] y)", f"=> ({outputs})")
    if "Identity (a)" in text:
        text = text.replace("=> (float[1,12,64,128] y)", "=> (float[12,128,64] y)")
    graphs.assert_untouched(ReshapedTranspose, parse(text))


def test_symbolic_dims_are_left_alone() -> None:
    model = parse(
        """
        g (float[N,12,128,64] x) => (float[N,12,64,128] y) {
            flat = Constant <value = int64[3] {-1, 128, 64}> ()
            back = Constant <value = int64[4] {-1, 12, 64, 128}> ()
            [flatten] a = Reshape (x, flat)
            [swap] b = Transpose <perm = [0, 2, 1]> (a)
            [unflatten] y = Reshape (b, back)
        }
        """
    )
    graphs.assert_untouched(ReshapedTranspose, model)


def test_stale_value_info_is_not_trusted() -> None:
    model = parse(KEY_T)
    # An annotation that would make the chain a different permutation.
    model.graph.value_info.append(
        helper.make_tensor_value_info("a", TensorProto.FLOAT, [12, 64, 128])
    )
    fixed = fixed_ok(model)
    assert list(fixed.graph.node[-1].attribute[0].ints) == [0, 1, 3, 2]


def test_inside_a_subgraph_is_left_alone() -> None:
    body = onnx.parser.parse_graph(
        """
        body () => (float[1,12,64,128] y) {
            flat = Constant <value = int64[3] {-1, 128, 64}> ()
            back = Constant <value = int64[4] {1, 12, 64, 128}> ()
            a = Reshape (x, flat)
            b = Transpose <perm = [0, 2, 1]> (a)
            y = Reshape (b, back)
        }
        """
    )
    other = onnx.parser.parse_graph(
        "other () => (float[1,12,64,128] z) { z = Transpose <perm = [0, 1, 3, 2]> (x) }"
    )
    node = helper.make_node("If", ["c"], ["out"], then_branch=body, else_branch=other)
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12, 128, 64]),
        ],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 12, 64, 128])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    graphs.assert_untouched(ReshapedTranspose, model)


# -- random chains --------------------------------------------------------------------


@st.composite
def chains(draw):  # type: ignore[no-untyped-def]
    """x of random static dims; a Reshape to a random factorization of its size, a
    random Transpose and a Reshape to another random factorization."""
    x_dims = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    total = prod(x_dims)
    y_dims = draw(factorization(total))
    perm = draw(st.permutations(range(len(y_dims))))
    w_dims = draw(factorization(total))
    return x_dims, y_dims, list(perm), w_dims


@st.composite
def factorization(draw, total: int):  # type: ignore[no-untyped-def]
    """Dims with product ``total``: the prime factors dealt into groups, with 1s."""
    factors = []
    n, p = total, 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    factors = draw(st.permutations(factors))
    rank = draw(st.integers(1, 4))
    dims = [1] * rank
    for f in factors:
        dims[draw(st.integers(0, rank - 1))] *= f
    return dims


def chain_model(x_dims, y_dims, perm, w_dims) -> onnx.ModelProto:  # type: ignore[no-untyped-def]
    inits = [
        numpy_helper.from_array(np.array(y_dims, np.int64), "ys"),
        numpy_helper.from_array(np.array(w_dims, np.int64), "ws"),
    ]
    nodes = [
        helper.make_node("Reshape", ["x", "ys"], ["y"], name="r1"),
        helper.make_node("Transpose", ["y"], ["z"], name="t", perm=perm),
        helper.make_node("Reshape", ["z", "ws"], ["w"], name="r2"),
        helper.make_node("Neg", ["w"], ["out"], name="neg"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_dims)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, w_dims)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains())
def test_random_chains_fix_exactly(chain) -> None:  # type: ignore[no-untyped-def]
    model = chain_model(*chain)
    found = check(model)
    x_dims, y_dims, perm, _ = chain
    if found:
        fixed = fixed_ok(model)
        assert len(fixed.graph.node) < len(model.graph.node)
    # Whenever the chain is a transpose of x (with the result shaped as w), it is found.
    numbers = np.arange(prod(x_dims)).reshape(x_dims)
    moved = numbers.reshape(y_dims).transpose(perm).reshape(-1)
    is_transpose = any(
        np.array_equal(numbers.transpose(q).reshape(-1), moved) for q in _permutations(len(x_dims))
    )
    assert bool(found) == is_transpose, chain


def _permutations(n: int) -> list[tuple[int, ...]]:
    from itertools import permutations

    return list(permutations(range(n)))
