"""OSL215 constant-if: If nodes whose condition is known become the branch they take."""

from __future__ import annotations

from functools import partial

import graphs
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from graphs import parse
from onnx.reference import ReferenceEvaluator

from onnxslim_lint.model.graphs import all_nodes
from onnxslim_lint.rules.constant_if import ConstantIf

check = partial(graphs.check, ConstantIf)
exact_fix_ok = partial(graphs.exact_fix_ok, ConstantIf)
assert_untouched = partial(graphs.assert_untouched, ConstantIf)


def _ops(model: onnx.ModelProto) -> list[str]:
    return [node.op_type for node in all_nodes(model.graph)]


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(out) for out in session.run(None, feeds)]


def test_a_constant_true_initializer_takes_the_then_branch() -> None:
    model = parse(
        """
        g (float[2,3] x) => (float[2,3] y) <bool c = {1}> {
            [if] y = If (c) <
                then_branch = t () => (float[2,3] a) { [relu] a = Relu (x) },
                else_branch = e () => (float[2,3] b) { [neg] b = Neg (x) }
            >
        }
        """
    )
    (finding,) = check(model)
    assert finding.count == 1 and finding.nodes == 2  # the If and the dropped Neg
    (location,) = finding.locations
    assert location.name == "if" and location.graph == "main"
    assert location.detail == "takes then_branch (constant)"
    fixed = exact_fix_ok(model)
    assert [(n.op_type, list(n.output)) for n in fixed.graph.node] == [("Relu", ["y"])]


def test_a_constant_false_node_takes_the_else_branch_with_its_initializers() -> None:
    model = parse(
        """
        g (float[2] x) => (float[2] y) {
            [c] c = Constant <value = bool {0}> ()
            [if] y = If (c) <
                then_branch = t () => (float[2] a) { [relu] a = Relu (x) },
                else_branch = e () => (float[2] b) <float[2] w = {2.0, 3.0}> {
                    [mul] m = Mul (x, w)
                    [neg] b = Neg (m)
                }
            >
        }
        """
    )
    fixed = exact_fix_ok(model)
    assert _ops(fixed) == ["Constant", "Mul", "Neg"]
    assert [t.name for t in fixed.graph.initializer] == ["w"]
    feeds = {"x": np.array([1.0, -2.0], dtype=np.float32)}
    assert _run(fixed, feeds)[0].tolist() == [-2.0, 6.0]


def test_a_condition_proved_by_static_dims_folds() -> None:
    # if state.shape[0]: the dim is 2 in the declared input shape, batch is not
    model = parse(
        """
        g (float[2,N] state) => (float[2,N] y) <int64[1] zero = {0}> {
            [shape] s = Shape (state)
            [gather] d = Gather <axis = 0> (s, zero)
            [squeeze] d0 = Squeeze (d, zero)
            [cast] c = Cast <to = 9> (d0)
            [if] y = If (c) <
                then_branch = t () => (float[2,N] a) { [relu] a = Relu (state) },
                else_branch = e () => (float[2,N] b) { [neg] b = Neg (state) }
            >
        }
        """
    )
    (finding,) = check(model)
    assert finding.locations[0].detail == "takes then_branch (static shapes)"
    fixed = exact_fix_ok(model)
    assert "If" not in _ops(fixed) and "Relu" in _ops(fixed)


def test_the_rank_of_a_value_folds_through_size_of_shape() -> None:
    model = parse(
        """
        g (float[N,3] x) => (float[N,3] y) <int64 two = {2}> {
            [shape] s = Shape (x)
            [size] r = Size (s)
            [eq] e = Equal (r, two)
            [not] c = Not (e)
            [if] y = If (c) <
                then_branch = t () => (float[N,3] a) { [neg] a = Neg (x) },
                else_branch = e () => (float[N,3] b) { [relu] b = Relu (x) }
            >
        }
        """
    )
    fixed = exact_fix_ok(model)
    assert "If" not in _ops(fixed) and "Relu" in _ops(fixed)


def test_a_value_the_branch_returns_twice_goes_through_an_identity() -> None:
    model = parse(
        """
        g (float[2] x) => (float[2] y, float[2] z) <bool c = {1}> {
            [if] y, z = If (c) <
                then_branch = t () => (float[2] a, float[2] a) { [relu] a = Relu (x) },
                else_branch = e () => (float[2] b, float[2] d) {
                    [neg] b = Neg (x)
                    [abs] d = Abs (x)
                }
            >
        }
        """
    )
    (finding,) = check(model)
    assert finding.nodes == 2  # If, Neg and Abs go, an Identity comes
    fixed = graphs.fix_both(ConstantIf, model)
    assert [(n.op_type, list(n.input), list(n.output)) for n in fixed.graph.node] == [
        ("Relu", ["x"], ["y"]),
        ("Identity", ["y"], ["z"]),
    ]
    graphs.assert_fix_ok(ConstantIf, model, fixed, run=False)
    # onnxruntime mishandles a subgraph that lists one output twice (wrong values,
    # or no session at all with graph optimizations on): the original runs in
    # onnx's reference evaluator instead
    feeds = {"x": np.array([1.5, -2.0], dtype=np.float32)}
    expected = ReferenceEvaluator(model).run(None, feeds)
    assert [v.tolist() for v in ReferenceEvaluator(fixed).run(None, feeds)] == [
        v.tolist() for v in expected
    ]
    assert _run(fixed, feeds)[1].tolist() == [1.5, 0.0]


def test_names_a_sibling_subgraph_also_defines_are_renamed() -> None:
    # The branch's "h" moves into the main graph, where the second If's branch
    # defines an "h" too: the moved one takes a fresh name.
    model = parse(
        """
        g (float[2] x, bool p) => (float[2] y, float[2] z) <bool c = {1}> {
            [if] y = If (c) <
                then_branch = t () => (float[2] a) {
                    [relu] h = Relu (x)
                    [inner] a = If (p) <
                        then_branch = t2 () => (float[2] a2) { [n2] a2 = Neg (h) },
                        else_branch = e2 () => (float[2] b2) { [i2] b2 = Identity (h) }
                    >
                },
                else_branch = e () => (float[2] b) { [neg] b = Neg (x) }
            >
            [other] z = If (p) <
                then_branch = t3 () => (float[2] a3) {
                    [abs] h = Abs (x)
                    [n3] a3 = Neg (h)
                },
                else_branch = e3 () => (float[2] b3) { [i3] b3 = Identity (x) }
            >
        }
        """
    )
    fixed = exact_fix_ok(model)
    main = fixed.graph.node
    assert [n.op_type for n in main] == ["Relu", "If", "If"]
    assert main[0].output[0] not in ("h", "x", "y", "z", "p", "c")
    assert main[1].output[0] == "y"  # the nested If now writes the If's output
    inner_reads = [n.input[0] for n in all_nodes(main[1].attribute[0].g)]
    assert inner_reads == [main[0].output[0]]
    for p in (True, False):
        feeds = {"x": np.array([1.0, -2.0], dtype=np.float32), "p": np.array(p)}
        assert [v.tolist() for v in _run(fixed, feeds)] == [v.tolist() for v in _run(model, feeds)]


def test_nested_ifs_fold_round_by_round() -> None:
    model = parse(
        """
        g (float[2] x) => (float[2] y) <bool c = {1}, bool f = {0}> {
            [outer] y = If (c) <
                then_branch = t () => (float[2] a) {
                    [inner] a = If (f) <
                        then_branch = t2 () => (float[2] a2) { [n2] a2 = Neg (x) },
                        else_branch = e2 () => (float[2] b2) { [r2] b2 = Relu (x) }
                    >
                },
                else_branch = e () => (float[2] b) { [abs] b = Abs (x) }
            >
        }
        """
    )
    (finding,) = check(model)
    assert [loc.name for loc in finding.locations] == ["outer"]  # the inner one: next round
    fixed = exact_fix_ok(model)
    assert [(n.op_type, list(n.output)) for n in fixed.graph.node] == [("Relu", ["y"])]


@pytest.mark.parametrize(
    "text",
    [
        # silero VAD: the branch depends on the value of the sample-rate input
        """g (float[2] x, int64 sr) => (float[2] y) <int64 rate = {16000}> {
            e = Equal (sr, rate)
            y = If (e) <
                then_branch = t () => (float[2] a) { a = Relu (x) },
                else_branch = f () => (float[2] b) { b = Neg (x) }
            >
        }""",
        # a condition that is an overridable initializer (also a graph input)
        """g (float[2] x, bool c) => (float[2] y) <bool c = {1}> {
            y = If (c) <
                then_branch = t () => (float[2] a) { a = Relu (x) },
                else_branch = f () => (float[2] b) { b = Neg (x) }
            >
        }""",
        # a dynamic dim: the batch size is whatever the caller gives
        """g (float[N,3] x) => (float[N,3] y) <int64[1] zero = {0}, int64 one = {1}> {
            s = Shape (x)
            d = Gather <axis = 0> (s, zero)
            d0 = Squeeze (d, zero)
            e = Equal (d0, one)
            y = If (e) <
                then_branch = t () => (float[N,3] a) { a = Relu (x) },
                else_branch = f () => (float[N,3] b) { b = Neg (x) }
            >
        }""",
        # the dims of a value inside a Loop body are not trusted
        """g (int64 n, float[2] x) => (float[2] y) <bool go = {1}, int64[1] zero = {0}> {
            y = Loop (n, go, x) <body = b (int64 i, bool cin, float[2] v)
                => (bool cout, float[2] w) {
                cout = Identity (cin)
                s = Shape (v)
                d = Gather <axis = 0> (s, zero)
                d0 = Squeeze (d, zero)
                c = Cast <to = 9> (d0)
                w = If (c) <
                    then_branch = t () => (float[2] a) { a = Relu (v) },
                    else_branch = f () => (float[2] b) { b = Neg (v) }
                >
            }>
        }""",
    ],
    ids=["input-value", "overridable", "dynamic-dim", "loop-body"],
)
def test_left_alone(text: str) -> None:
    assert_untouched(parse(text))


def test_a_constant_condition_inside_a_loop_body_folds() -> None:
    model = parse(
        """
        g (int64 n, float[2] x) => (float[2] y) <bool go = {1}, bool c = {0}> {
            [loop] y = Loop (n, go, x) <body = b (int64 i, bool cin, float[2] v)
                => (bool cout, float[2] w) {
                [id] cout = Identity (cin)
                [if] w = If (c) <
                    then_branch = t () => (float[2] a) { [relu] a = Relu (v) },
                    else_branch = f () => (float[2] b) { [neg] b = Neg (v) }
                >
            }>
        }
        """
    )
    (finding,) = check(model)
    assert finding.locations[0].graph == "main/loop/body"
    fixed = exact_fix_ok(model)
    assert _ops(fixed) == ["Loop", "Identity", "Neg"]
    feeds = {"n": np.array(3, dtype=np.int64), "x": np.array([1.0, -2.0], dtype=np.float32)}
    assert _run(fixed, feeds)[0].tolist() == [-1.0, 2.0]


def test_ir3_branches_with_initializers_stay() -> None:
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) {
            k = Constant <value = bool {1}> ()
            y = If (k) <
                then_branch = t () => (float[2] a) <float[2] w = {1.0, 2.0}> { a = Mul (x, w) },
                else_branch = f () => (float[2] b) { b = Neg (x) }
            >
        }
        """,
        ir_version=3,
        opset=8,
    )
    assert check(model) == []
