"""OSL209 constant-node: Constant nodes of the main graph become initializers."""

from __future__ import annotations

from functools import partial

import graphs
import onnx
import pytest
from graphs import parse

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.rules.constant_node import ConstantNode

check = partial(graphs.check, ConstantNode)


def test_constants_become_initializers_and_verify_bit_exactly() -> None:
    model = parse(
        """
        g (float[2,3] x) => (float[2,1,3] y) {
            [c1] axes = Constant <value = int64[1] {1}> ()
            [c2] half = Constant <value_float = 0.5> ()
            [u] u = Unsqueeze (x, axes)
            [m] y = Mul (u, half)
        }
        """
    )
    (finding,) = check(model)
    assert finding.count == finding.nodes == 2
    assert {loc.name for loc in finding.locations} == {"axes", "half"}
    result = apply_fixes(model, [ConstantNode()])
    fixed = result.model
    assert [n.op_type for n in fixed.graph.node] == ["Unsqueeze", "Mul"]
    inits = {t.name: t for t in fixed.graph.initializer}
    assert set(inits) == {"axes", "half"}
    assert inits["half"].data_type == onnx.TensorProto.FLOAT  # value_float stays float32
    assert list(inits["half"].dims) == []
    onnx.checker.check_model(fixed, full_check=True)
    assert check_interface(model, fixed) is None
    assert check(fixed) == []
    report = verify_models(model, fixed, exact=True)
    assert report.passed and report.max_diff == 0.0
    assert fixed.ByteSize() < model.ByteSize()


@pytest.mark.parametrize(
    "text",
    [
        # a Constant that is the graph output keeps being a node
        "g (float[2] x) => (float[1] y) { y = Constant <value = float[1] {1.0}> () }",
        # inside a subgraph
        """g (bool c) => (float[1] y) {
            y = If (c) <
                then_branch = t () => (float[1] a) { a = Constant <value = float[1] {1.0}> () },
                else_branch = e () => (float[1] b) { b = Constant <value = float[1] {2.0}> () }
            >
        }""",
        # strings
        """g (string[1] x) => (string[2] y) {
            s = Constant <value_strings = ["a"]> ()
            y = Concat <axis = 0> (x, s)
        }""",
    ],
)
def test_left_alone(text: str) -> None:
    assert check(parse(text)) == []


def test_ir3_models_are_left_alone() -> None:
    model = parse(
        """
        g (float[2] x) => (float[2] y) {
            c = Constant <value = float[1] {1.0}> ()
            y = Add (x, c)
        }
        """,
        ir_version=3,
    )
    assert check(model) == []
