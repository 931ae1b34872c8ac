"""OSL206 chain-merge: Reshape and Cast chains."""

from __future__ import annotations

from functools import partial

import graphs
import onnx
import pytest
from graphs import parse

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.rules.chain_merge import ChainMerge

check = partial(graphs.check, ChainMerge)
fixed_ok = partial(graphs.exact_fix_ok, ChainMerge)


def ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node if n.op_type != "Constant"]


def test_reshape_chains_merge() -> None:
    model = parse(
        """
        g (float[2,3,4] x) => (float[4,6] y) {
            s1 = Constant <value = int64[1] {24}> ()
            s2 = Constant <value = int64[2] {4, -1}> ()
            [f] a = Flatten <axis = 2> (x)
            [r1] b = Reshape (a, s1)
            [r2] y = Reshape (b, s2)
        }
        """
    )
    (finding,) = check(model)
    assert finding.code == "OSL206" and finding.name == "chain-merge"
    assert finding.nodes == finding.count == 1  # f->r1 and r1->r2 overlap: one per round
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Reshape"]
    assert fixed.graph.node[-1].input[0] == "x"
    assert fixed.graph.output[0].name == "y"


def test_cast_chains() -> None:
    model = parse(
        """
        g (int32[3] x, float16[3] h) => (int32[3] y, double[3] d) {
            [c1] a = Cast <to = 7> (x)
            [c2] y = Cast <to = 6> (a)
            [c3] b = Cast <to = 1> (h)
            [c4] d = Cast <to = 11> (b)
        }
        """
    )
    (finding,) = check(model)
    # y = Cast(Cast(x)) can give up y's name only if x were made by a node: it is a
    # graph input, so that pair stays; the float16 chain loses its first Cast.
    assert finding.nodes == 1
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Cast", "Cast", "Cast"]
    assert fixed.graph.node[-1].input[0] == "h"


def test_cast_round_trip_is_removed() -> None:
    model = parse(
        """
        g (int32[3] x) => (int32[3] y) {
            r = Neg (x)
            [c1] a = Cast <to = 7> (r)
            [c2] y = Cast <to = 6> (a)
        }
        """
    )
    (finding,) = check(model)
    assert finding.nodes == 2
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Neg"]


@pytest.mark.parametrize(
    "body",
    [
        # float32 -> float16 -> float32 rounds
        "a = Cast <to = 10> (x)\n y = Cast <to = 1> (a)",
        # float -> int after a widening: conversions of out-of-range values differ
        "a = Cast <to = 11> (x)\n y = Cast <to = 6> (a)",
        # a Reshape whose shape has a 0 (copy a dim) refers to the first's dims
        "s = Constant <value = int64[2] {3, 1}> ()\n t = Constant <value = int64[2] {0, 3}> ()\n"
        " a = Reshape (x, s)\n y = Reshape (a, t)",
        # a dynamic shape
        "a = Flatten (x)\n s = Shape (x)\n y = Reshape (a, s)",
    ],
)
def test_leaves_alone(body: str) -> None:
    model = parse(f"g (float[3] x) => (y) {{\n {body}\n}}")
    assert check(model) == []


def test_first_with_other_readers_stays() -> None:
    model = parse(
        """
        g (float[2,3] x) => (float[6] y, float[3,2] z) {
            s = Constant <value = int64[1] {6}> ()
            t = Constant <value = int64[2] {3, 2}> ()
            a = Reshape (x, t)
            y = Reshape (a, s)
            z = Relu (a)
        }
        """
    )
    assert check(model) == []


def test_two_chains_from_one_source_count_what_each_round_removes() -> None:
    model = parse(
        """
        g (float[2,3] x) => (float[3,2] y, float[3,2] z) {
            s = Constant <value = int64[1] {6}> ()
            t = Constant <value = int64[2] {3, 2}> ()
            a = Reshape (x, s)
            y = Reshape (a, t)
            b = Reshape (x, s)
            z = Reshape (b, t)
        }
        """
    )
    result = apply_fixes(model, [ChainMerge()])
    removed = len(model.graph.node) - len(result.model.graph.node)
    assert removed == 2
    assert result.applied["OSL206"] == removed
    fixed_ok(model)


@pytest.mark.parametrize(
    ("inner", "outer", "merged", "out_shape"),
    [
        ("1", "2", [1, 2], "float[5,1,1,7]"),
        ("0", "0", [0, 1], "float[1,1,5,7]"),
        ("2", "0", [0, 3], "float[1,5,7,1]"),
        ("0, 3", "1", [0, 1, 4], "float[1,1,5,7,1]"),
        ("-1", "-3", [1, 3], "float[5,1,7,1]"),  # negative: the ranks are known
    ],
)
def test_unsqueeze_chains_merge(inner: str, outer: str, merged: list[int], out_shape: str) -> None:
    n_inner, n_outer = inner.count(",") + 1, outer.count(",") + 1
    model = parse(
        f"""
        g (float[5,7] x) => ({out_shape} y) <int64[{n_inner}] a1 = {{{inner}}},
                                             int64[{n_outer}] a2 = {{{outer}}}> {{
            [u1] a = Unsqueeze (x, a1)
            [u2] b = Unsqueeze (a, a2)
            [neg] y = Neg (b)
        }}
        """
    )
    (finding,) = check(model)
    assert finding.locations[0].detail == "unsqueeze"
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Unsqueeze", "Neg"]
    node = fixed.graph.node[0]
    axes = next(t for t in fixed.graph.initializer if t.name == node.input[1])
    assert onnx.numpy_helper.to_array(axes).tolist() == merged


def test_unsqueeze_chain_before_opset_13_uses_the_attribute() -> None:
    model = parse(
        """
        g (float[5,7] x) => (float[5,1,1,7] y) {
            [u1] a = Unsqueeze <axes = [1]> (x)
            [u2] b = Unsqueeze <axes = [2]> (a)
            [neg] y = Neg (b)
        }
        """,
        opset=11,
    )
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Unsqueeze", "Neg"]
    assert list(fixed.graph.node[0].attribute[0].ints) == [1, 2]


# The causal mask of the dynamo exports: arange unsqueezed once, then to rows and to
# columns; the columns' axes tensor is read by another Unsqueeze too, so it stays.
FAN_OUT = """
g (float[seq] x, float[4] w) => (float[1,1,seq,seq] y, float[4,1] z)
    <int64[2] a01 = {0, 1}, int64[1] a3 = {3}, int64[1] a2 = {1}> {
    [u] u = Unsqueeze (x, a01)
    [rows] r = Unsqueeze (u, a3)
    [cols] c = Unsqueeze (u, a2)
    [le] y = Add (c, r)
    [other] z = Unsqueeze (w, a2)
}
"""


def test_unsqueeze_read_by_unsqueezes_alone_merges_into_each() -> None:
    model = parse(FAN_OUT)
    (finding,) = check(model)
    assert [loc.name for loc in finding.locations] == ["u -> rows, cols"]
    assert finding.nodes == 1
    fixed = fixed_ok(model)
    nodes = {n.name: n for n in fixed.graph.node}
    assert sorted(nodes) == ["cols", "le", "other", "rows"]
    axes = {t.name: onnx.numpy_helper.to_array(t).tolist() for t in fixed.graph.initializer}
    assert nodes["rows"].input[0] == nodes["cols"].input[0] == "x"
    assert axes[nodes["rows"].input[1]] == [0, 1, 3]
    assert axes[nodes["cols"].input[1]] == [0, 1, 2]
    assert nodes["other"].input[1] == "a2" and axes["a2"] == [1]


@pytest.mark.parametrize(
    "change",
    [
        # a reader that is no Unsqueeze
        ("[le] y = Add (c, r)", "[le] y = Add (c, r)\n    [neg] q = Neg (u)"),
        # the first's output is a graph output
        ("=> (float[1,1,seq,seq] y,", "=> (float[1,1,seq] u, float[1,1,seq,seq] y,"),
    ],
)
def test_unsqueeze_fan_out_left_alone(change: tuple[str, str]) -> None:
    text = FAN_OUT.replace(*change)
    if "Neg (u)" in text:
        text = text.replace("float[4,1] z)", "float[4,1] z, float[1,1,seq] q)")
    assert check(parse(text)) == []


def test_unsqueeze_fan_out_into_a_subgraph_stays() -> None:
    # one reader is inside a branch (an outer-scope read of u): u must stay defined
    model = parse(
        """
        g (bool b, float[seq] x) => (float[1,1,seq,1] y, float[1,1,1,seq] c)
            <int64[2] a01 = {0, 1}, int64[1] a3 = {3}, int64[1] a2 = {2}> {
            [u] u = Unsqueeze (x, a01)
            [rows] y = Unsqueeze (u, a3)
            [if] c = If (b) <
                then_branch = g1 () => (float[1,1,1,seq] t) {
                    [cols] t = Unsqueeze (u, a2)
                },
                else_branch = g2 () => (float[1,1,1,seq] e) {
                    [cols2] e = Unsqueeze (u, a2)
                }
            >
        }
        """
    )
    assert check(model) == []


def test_unsqueeze_read_elsewhere_stays() -> None:
    model = parse(
        """
        g (float[5,7] x) => (float[5,1,1,7] y, float[5,1,7] z) <int64[1] a1 = {1}> {
            a = Unsqueeze (x, a1)
            b = Unsqueeze (a, a1)
            y = Neg (b)
            z = Neg (a)
        }
        """
    )
    assert check(model) == []
