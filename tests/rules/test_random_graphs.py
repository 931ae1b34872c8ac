"""Property test: the five core rules on random small graphs, through the fix loop.

Random DAGs of elementwise ops over one ``float[3, 3]`` input, with duplicate and
unused initializers (and Constant copies), dead branches and random graph outputs.
Whatever the rules do, the fixed model must be valid, keep the interface, compute
bit-identical outputs, never grow, and be a fixed point of the loop.
"""

from __future__ import annotations

import numpy as np
import onnx
from graphs import CORE_RULES, all_nodes, check, initializer_names
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface, check_model_valid
from onnxslim_lint.fixing.verify import verify_models

SHAPE = [3, 3]
# A small pool, so that initializers are often byte-identical copies of each other.
POOL = [
    np.arange(9, dtype=np.float32).reshape(3, 3) - 4.0,
    np.full((3, 3), 0.5, dtype=np.float32),
    np.eye(3, dtype=np.float32),
]
BINARY = ("Add", "Mul")
UNARY = ("Relu", "Neg", "Identity", "Transpose", "Dropout")


def _tensor(name: str, pool_index: int, raw: bool) -> onnx.TensorProto:
    array = POOL[pool_index]
    if raw:
        return numpy_helper.from_array(array, name)
    return helper.make_tensor(name, TensorProto.FLOAT, SHAPE, array.reshape(-1).tolist())


@st.composite
def random_models(draw: st.DrawFn) -> onnx.ModelProto:
    floats = ["x"]  # float[3, 3] values a node may read
    masks: list[str] = []  # bool[3, 3] Dropout masks (only ever graph outputs)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)]
    initializers: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    for i in range(draw(st.integers(0, 4))):
        name = f"k{i}"
        initializers.append(_tensor(name, draw(st.integers(0, 2)), draw(st.booleans())))
        if draw(st.integers(0, 5)) == 0:  # sometimes an overridable default
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, SHAPE))
        floats.append(name)
    for i in range(draw(st.integers(0, 2))):
        name = f"c{i}"
        value = _tensor("", draw(st.integers(0, 2)), draw(st.booleans()))
        nodes.append(helper.make_node("Constant", [], [name], name=f"const{i}", value=value))
        floats.append(name)

    for i in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(BINARY + UNARY))
        out = f"v{i}"
        name = f"n{i}_{op}"
        if op in BINARY:
            a, b = draw(st.sampled_from(floats)), draw(st.sampled_from(floats))
            nodes.append(helper.make_node(op, [a, b], [out], name=name))
        elif op == "Transpose":
            a = draw(st.sampled_from(floats))
            nodes.append(helper.make_node(op, [a], [out], name=name, perm=[1, 0]))
        elif op == "Dropout":
            a = draw(st.sampled_from(floats))
            outs = [out]
            if draw(st.booleans()):
                outs.append(f"m{i}")
                masks.append(f"m{i}")
            nodes.append(helper.make_node(op, [a], outs, name=name))
        else:
            a = draw(st.sampled_from(floats))
            nodes.append(helper.make_node(op, [a], [out], name=name))
        floats.append(out)

    candidates = floats + masks
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=4, unique=True))
    outputs = [
        helper.make_tensor_value_info(
            name, TensorProto.BOOL if name in masks else TensorProto.FLOAT, SHAPE
        )
        for name in chosen
    ]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


def _node_count(model: onnx.ModelProto) -> int:
    return sum(1 for _ in all_nodes(model.graph))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(random_models())
def test_fix_loop_on_random_graphs(model: onnx.ModelProto) -> None:
    before = model.SerializeToString()
    rules = [rule() for rule in CORE_RULES]
    result = apply_fixes(model, rules)
    fixed = result.model
    assert model.SerializeToString() == before, "apply_fixes changed its input"

    assert check_model_valid(fixed) is None, check_model_valid(fixed)
    assert check_interface(model, fixed) is None, check_interface(model, fixed)
    report = verify_models(model, fixed, exact=True)
    assert report.passed, report
    assert report.max_diff == 0.0

    assert _node_count(fixed) <= _node_count(model)
    assert len(initializer_names(fixed)) <= len(initializer_names(model))
    assert result.exact

    again = apply_fixes(fixed, [rule() for rule in CORE_RULES])
    assert not again.changed
    assert again.model == fixed
    for rule in CORE_RULES:
        assert check(rule, fixed) == [], rule.code
