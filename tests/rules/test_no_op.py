"""OSL205 no-op: nodes that return their input unchanged."""

from __future__ import annotations

from functools import partial

import graphs
import numpy as np
import onnx
import pytest
from graphs import parse
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.rules.no_op import NoOp

check = partial(graphs.check, NoOp)
fixed_ok = partial(graphs.exact_fix_ok, NoOp)


def ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def test_finds_and_removes_the_no_ops() -> None:
    model = parse(
        """
        g (float[2,3] x, int64[4] i) => (float[3,2] y, int64[4] j) {
            one = Constant <value = float[1] {1.0}> ()
            zero = Constant <value = float {0.0}> ()
            nzero = Constant <value = float[1,1] {-0.0}> ()
            shape = Constant <value = int64[2] {2, 3}> ()
            pads = Constant <value = int64[4] {0, 0, 0, 0}> ()
            st = Constant <value = int64[2] {0, 0}> ()
            en = Constant <value = int64[2] {2, 9223372036854775807}> ()
            [c] a = Cast <to = 1> (x)
            [r] b = Reshape (a, shape)
            [m] d = Mul (one, b)
            [s] e = Sub (d, zero)
            [ad] f = Add (e, nzero)
            [p] h = Pad (f, pads)
            [sl] k = Slice (h, st, en)
            [cc] l = Concat <axis = 0> (k)
            [dv] n = Div (l, one)
            [t] y = Transpose <perm = [1, 0]> (n)
            izero = Constant <value = int64 {0}> ()
            ih = Neg (i)
            [ia] j = Add (ih, izero)
        }
        """
    )
    (finding,) = check(model)
    assert finding.code == "OSL205" and finding.name == "no-op"
    assert finding.count == finding.nodes == 10
    names = {"c", "r", "m", "s", "ad", "p", "sl", "cc", "dv", "ia"}
    assert {loc.name for loc in finding.locations} == names
    assert finding.nbytes == sum(n.ByteSize() for n in model.graph.node if n.name in names)
    fixed = fixed_ok(model)
    assert [n for n in ops(fixed) if n != "Constant"] == ["Transpose", "Neg"]


def test_unsqueeze_squeeze_and_expand() -> None:
    model = parse(
        """
        g (float[2,3] x) => (float[2,3] y) {
            ax = Constant <value = int64[1] {-1}> ()
            ax2 = Constant <value = int64[1] {2}> ()
            shape = Constant <value = int64[2] {1, 3}> ()
            h = Relu (x)
            [u] u = Unsqueeze (h, ax)
            [q] s = Squeeze (u, ax2)
            [e] y = Expand (s, shape)
        }
        """
    )
    (finding,) = check(model)
    # the Expand (a graph output) reads h, which the Squeeze's removal rewires: it goes
    # in the next round, and this finding counts only what this fix removes
    assert finding.nodes == 2
    fixed = fixed_ok(model)
    assert [n for n in ops(fixed) if n != "Constant"] == ["Relu"]
    assert fixed.graph.output[0].name == "y"


@pytest.mark.parametrize(
    "body",
    [
        # x + (+0.0) turns -0.0 into +0.0: not an identity
        "z = Constant <value = float {0.0}> ()\n y = Add (x, z)",
        # x - (-0.0) likewise
        "z = Constant <value = float {-0.0}> ()\n y = Sub (x, z)",
        # the broadcast grows x
        "z = Constant <value = float[2,3] {1,1,1,1,1,1}> ()\n y = Mul (x, z)",
        # 1 - x is not x
        "z = Constant <value = float {0.0}> ()\n y = Sub (z, x)",
        # a cast to another type
        "y = Cast <to = 11> (x)",
        "p = Constant <value = int64[2] {0, 1}> ()\n y = Pad (x, p)",
        "s = Constant <value = int64[1] {1}> ()\n e = Constant <value = int64[1] {3}> ()\n"
        " y = Slice (x, s, e)",
    ],
)
def test_leaves_alone(body: str) -> None:
    model = parse(f"g (float[3] x) => (y) {{\n {body}\n}}")
    assert check(model) == []


def test_negative_zero_add_is_removed_and_keeps_negative_zero() -> None:
    model = parse(
        """
        g (float[3] x) => (float[3] y) {
            z = Constant <value = float {-0.0}> ()
            a = Add (x, z)
            y = Relu (a)
        }
        """
    )
    assert check(model)[0].nodes == 1
    fixed = fixed_ok(model)
    assert "Add" not in ops(fixed)


def test_dynamic_reshape_and_stale_value_info_are_left_alone() -> None:
    dynamic = parse(
        """
        g (float[N,3] x) => (y) {
            s = Constant <value = int64[2] {2, 3}> ()
            y = Reshape (x, s)
        }
        """
    )
    assert check(dynamic) == []
    # value_info claims h is [2,3] but it is really [3,2]: the Reshape is not a no-op.
    stale = parse(
        """
        g (float[3,2] x) => (float[2,3] y) <float[2,3] h> {
            h = Identity (x)
            s = Constant <value = int64[2] {2, 3}> ()
            y = Reshape (h, s)
        }
        """
    )
    assert check(stale) == []
    # a Cast whose input type is unknown stays
    unknown = helper.make_model(
        helper.make_graph(
            [
                helper.make_node("Relu", ["x"], ["h"], domain="custom"),
                helper.make_node("Cast", ["h"], ["y"], to=TensorProto.FLOAT),
            ],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        ),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)],
    )
    assert check(unknown) == []


def test_overridable_constant_is_not_neutral() -> None:
    one = numpy_helper.from_array(np.ones([1], np.float32), "one")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "one"], ["y"])],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [3]),
            helper.make_tensor_value_info("one", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        [one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert check(model) == []


def test_graph_output_keeps_its_name() -> None:
    model = parse(
        """
        g (float[3] x) => (float[3] y, float[3] w) {
            h = Relu (x)
            y = Cast <to = 1> (h)
            w = Cast <to = 1> (x)
        }
        """
    )
    (finding,) = check(model)
    assert finding.nodes == 1  # w = Cast(x) cannot give x's name away
    fixed = fixed_ok(model)
    assert [o.name for o in fixed.graph.output] == ["y", "w"]
    assert ops(fixed) == ["Relu", "Cast"]


def test_opset_11_attribute_forms() -> None:
    model = parse(
        """
        g (float[2,3] x) => (float[2,3] y) {
            h = Relu (x)
            u = Unsqueeze <axes = [0]> (h)
            y = Squeeze <axes = [0]> (u)
        }
        """,
        opset=11,
    )
    assert check(model)[0].nodes == 2
    fixed_ok(model)


def test_applied_count_matches_removed_nodes() -> None:
    model = parse(
        """
        g (float[3] x) => (float[3] y, float[3] z) {
            h = Relu (x)
            a = Cast <to = 1> (h)
            y = Cast <to = 1> (a)
            z = Cast <to = 1> (y)
        }
        """
    )
    result = apply_fixes(model, [NoOp()])
    removed = len(model.graph.node) - len(result.model.graph.node)
    assert result.applied["OSL205"] == removed
    fixed_ok(model)


def test_squeeze_then_unsqueeze_of_the_same_axes() -> None:
    """The legacy exporter's Slice(Shape) -> Squeeze -> Unsqueeze round trip."""
    model = parse(
        """
        g (float[2,1,3] x) => (float[2,1,3] y) {
            ax = Constant <value = int64[1] {1}> ()
            axn = Constant <value = int64[1] {-2}> ()
            [q] s = Squeeze (x, ax)
            [u] u = Unsqueeze (s, axn)
            [r] y = Relu (u)
        }
        """
    )
    (finding,) = check(model)
    assert finding.nodes == 2
    fixed = fixed_ok(model)
    assert [n for n in ops(fixed) if n != "Constant"] == ["Relu"]


@pytest.mark.parametrize(
    "body",
    [
        # different axes: the dim comes back elsewhere
        "a = Constant <value = int64[1] {1}> ()\n b = Constant <value = int64[1] {0}> ()\n"
        " s = Squeeze (x, a)\n y = Unsqueeze (s, b)",
        # Squeeze without axes removes every 1-dim: not known to be undone
        "b = Constant <value = int64[1] {1}> ()\n s = Squeeze (x)\n y = Unsqueeze (s, b)",
    ],
)
def test_squeeze_unsqueeze_left_alone(body: str) -> None:
    model = parse(f"g (float[2,1,3] x) => (float[?,?,?] y) {{\n {body}\n}}")
    assert check(model) == []


def test_pair_first_node_stays_when_another_pair_reads_through_it() -> None:
    """Found by the all-rules property test: Unsqueeze, Squeeze, Unsqueeze, Squeeze."""
    model = parse(
        """
        g (float[3,3] x) => (float[3,3] v4, float[3,3] v5) {
            axis0 = Constant <value = int64[1] {0}> ()
            u0 = Unsqueeze (x, axis0)
            v0 = Squeeze (u0, axis0)
            v4 = Relu (v0)
            u5 = Unsqueeze (v0, axis0)
            v5 = Squeeze (u5, axis0)
        }
        """
    )
    fixed = fixed_ok(model)
    # v5 is a graph output fed from the graph input through the pair: one pair stays
    assert ops(fixed) == ["Constant", "Unsqueeze", "Relu", "Squeeze"]
    assert list(fixed.graph.node[2].input) == ["x"]
