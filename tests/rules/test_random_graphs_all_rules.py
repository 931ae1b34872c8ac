"""Property test: every default rule (folding, no-ops, CSE, ...) on random graphs.

Random DAGs over one ``float[3, 3]`` input mixing elementwise ops with the patterns
the structural rules rewrite: neutral constants (including ``-0.0`` and ``+0.0``),
Casts, Reshapes, Squeeze/Unsqueeze pairs, Shape arithmetic, repeated nodes and
constant-only subgraphs. Whatever the rules do, the result must be valid, keep the
interface, verify in onnxruntime, never grow, and be a fixed point.
"""

from __future__ import annotations

import numpy as np
import onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface, check_model_valid
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.rules.registry import select_rules

SHAPE = [3, 3]
CONSTANTS = {
    "zero": np.zeros((3, 3), np.float32),
    "negzero": np.full((3, 3), -0.0, np.float32),
    "one": np.ones((1,), np.float32),
    "half": np.full((3, 3), 0.5, np.float32),
    "w": (np.arange(9, dtype=np.float32).reshape(3, 3) - 4.0) / 3,
    "w_copy": (np.arange(9, dtype=np.float32).reshape(3, 3) - 4.0) / 3,
    "shape33": np.array([3, 3], np.int64),
    "shape9": np.array([9], np.int64),
    "axis0": np.array([0], np.int64),
    "idx1": np.array(1, np.int64),
    "pads0": np.zeros(4, np.int64),
    "zero_scalar": np.array(0.0, np.float32),
    "half_scalar": np.array(0.5, np.float32),
    "starts0": np.array([0, 0], np.int64),
    "ends_big": np.array([100, 100], np.int64),
}
BINARY = ("Add", "Sub", "Mul", "Div")
UNARY = (
    "Relu",
    "Neg",
    "Identity",
    "Transpose",
    "CastSame",
    "ReshapeRound",
    "SqueezeRound",
    "Dropout",
    "ExpandSame",
    "ConcatOne",
    "PadZero",
    "SliceAll",
    "ConstantCopy",
    "IfOuter",
    "ReshapeAround",
)


@st.composite
def random_models(draw: st.DrawFn) -> onnx.ModelProto:
    nodes: list[onnx.NodeProto] = []
    floats = ["x"]
    used_constants: set[str] = set()

    def constant(name: str) -> str:
        used_constants.add(name)
        return name

    for i in range(draw(st.integers(1, 10))):
        op = draw(st.sampled_from(BINARY + UNARY + ("ShapeArith",)))
        out = f"v{i}"
        a = draw(st.sampled_from(floats))
        if op in BINARY:
            other = draw(
                st.sampled_from([*floats, "zero", "negzero", "one", "half", "w", "w_copy"])
            )
            if other in CONSTANTS:
                constant(other)
            pair = [a, other] if draw(st.booleans()) else [other, a]
            if op == "Div" and pair[1] in ("zero", "negzero"):
                pair = [a, constant("half")]
            nodes.append(helper.make_node(op, pair, [out], name=f"n{i}"))
        elif op == "Transpose":
            nodes.append(helper.make_node(op, [a], [out], name=f"n{i}", perm=[1, 0]))
        elif op == "CastSame":
            nodes.append(helper.make_node("Cast", [a], [out], name=f"n{i}", to=TensorProto.FLOAT))
        elif op == "ReshapeRound":
            nodes.append(helper.make_node("Reshape", [a, constant("shape9")], [f"f{i}"]))
            nodes.append(helper.make_node("Reshape", [f"f{i}", constant("shape33")], [out]))
        elif op == "SqueezeRound":
            nodes.append(helper.make_node("Unsqueeze", [a, constant("axis0")], [f"u{i}"]))
            nodes.append(helper.make_node("Squeeze", [f"u{i}", constant("axis0")], [out]))
        elif op == "ReshapeAround":  # Reshape, elementwise ops, Reshape back
            nodes.append(helper.make_node("Reshape", [a, constant("shape9")], [f"f{i}"]))
            nodes.append(helper.make_node("Tanh", [f"f{i}"], [f"t{i}"]))
            factor = draw(st.sampled_from(["half_scalar", "zero_scalar"]))
            nodes.append(helper.make_node("Mul", [f"t{i}", constant(factor)], [f"m{i}"]))
            nodes.append(helper.make_node("Add", [f"m{i}", f"f{i}"], [f"s{i}"]))
            nodes.append(helper.make_node("Reshape", [f"s{i}", constant("shape33")], [out]))
        elif op == "Dropout":
            nodes.append(helper.make_node("Dropout", [a], [out], name=f"n{i}"))
        elif op == "ExpandSame":
            nodes.append(helper.make_node("Expand", [a, constant("shape33")], [out]))
        elif op == "ConcatOne":
            nodes.append(helper.make_node("Concat", [a], [out], axis=0))
        elif op == "PadZero":
            nodes.append(helper.make_node("Pad", [a, constant("pads0")], [out]))
        elif op == "SliceAll":
            nodes.append(
                helper.make_node("Slice", [a, constant("starts0"), constant("ends_big")], [out])
            )
        elif op == "ConstantCopy":  # a Constant node holding a copy of an initializer
            value = numpy_helper.from_array(CONSTANTS["w"], "")
            nodes.append(helper.make_node("Constant", [], [f"k{i}"], value=value))
            nodes.append(helper.make_node("Add", [a, f"k{i}"], [out]))
        elif op == "IfOuter":  # a subgraph reading outer values, and an outer constant
            b = draw(st.sampled_from(floats))
            then_graph = helper.make_graph(
                [helper.make_node("Mul", [a, constant("w")], ["t_out"])],
                f"then{i}",
                [],
                [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, SHAPE)],
            )
            else_graph = helper.make_graph(
                [helper.make_node("Identity", [b], ["e_out"])],
                f"else{i}",
                [],
                [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, SHAPE)],
            )
            then_graph.node[0].output[0] = then_graph.output[0].name = f"t{i}"
            else_graph.node[0].output[0] = else_graph.output[0].name = f"e{i}"
            nodes.append(helper.make_node("ReduceSum", [a], [f"r{i}"], keepdims=0))
            nodes.append(helper.make_node("Greater", [f"r{i}", constant("zero_scalar")], [f"p{i}"]))
            nodes.append(
                helper.make_node(
                    "If", [f"p{i}"], [out], then_branch=then_graph, else_branch=else_graph
                )
            )
        elif op == "ShapeArith":  # Shape -> Gather -> Cast -> Mul: folds to a constant
            nodes.append(helper.make_node("Shape", [a], [f"s{i}"]))
            nodes.append(helper.make_node("Gather", [f"s{i}", constant("idx1")], [f"g{i}"]))
            nodes.append(helper.make_node("Cast", [f"g{i}"], [f"c{i}"], to=TensorProto.FLOAT))
            nodes.append(helper.make_node("Mul", [a, f"c{i}"], [out]))
        else:
            nodes.append(helper.make_node(op, [a], [out], name=f"n{i}"))
        floats.append(out)

    chosen = draw(st.lists(st.sampled_from(floats[1:]), min_size=1, max_size=3, unique=True))
    initializers = [numpy_helper.from_array(CONSTANTS[n], n) for n in sorted(used_constants)]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, SHAPE) for n in chosen],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


def _default_rules():  # type: ignore[no-untyped-def]
    return [rule() for rule in select_rules(None)]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(random_models())
def test_every_default_rule_on_random_graphs(model: onnx.ModelProto) -> None:
    result = apply_fixes(model, _default_rules())
    fixed = result.model
    assert check_model_valid(fixed) is None, check_model_valid(fixed)
    assert check_interface(model, fixed) is None, check_interface(model, fixed)
    report = verify_models(model, fixed, exact=result.exact)
    assert report.passed, report
    assert fixed.ByteSize() <= model.ByteSize()
    assert len(fixed.graph.node) <= len(model.graph.node)
    again = apply_fixes(fixed, _default_rules())
    assert not again.changed, [f.code for f in again.fixed]
