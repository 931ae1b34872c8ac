"""Property test: no fix leaves a ``value_info`` annotation the full checker rejects.

Random graphs carry ``value_info`` for their intermediate values as exporters write
them: exactly what onnx shape inference says (the builders of the other random-graph
tests, annotated), and graphs with a dynamic batch and sequence dim (``dim_param``
on the input, propagated by inference, unknown dims renamed as exporters name them
or given a trace-time size), with the patterns the rules rewrite: Unsqueeze chains
with constant axes, Reshape round trips, Transpose pairs, Cast chains, Identity,
constants to fold, Shape -> Gather on static and dynamic dims, MatMul + Add, Gelu.
For every rule with a fix, and for all of them together: whenever the original
passes ``onnx.checker.check_model(full_check=True)``, the fixed model does too.
Without the fix loop's annotation repair, this finds chain-merge's merged Unsqueeze
axes written into an axes tensor whose ``value_info`` still has the old length.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from test_random_graphs import random_models as core_models
from test_random_graphs_all_rules import random_models as structural_models

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.model.graphs import all_graphs
from onnxslim_lint.rules.base import Rule
from onnxslim_lint.rules.registry import ALL_RULES

FIXING_RULES: tuple[type[Rule], ...] = tuple(rule for rule in ALL_RULES if rule.safety)

FLOAT = TensorProto.FLOAT
# The dynamic input: float[batch, seq, 4], as a dynamic-axes export declares it.
INPUT_DIMS: list[str | int] = ["batch", "seq", 4]
CONSTANTS = {
    "axes0": np.array([0], np.int64),
    "axes01": np.array([0, 1], np.int64),
    "shape_split": np.array([0, 0, 2, 2], np.int64),
    "shape_back": np.array([0, 0, 4], np.int64),
    "shape_flat": np.array([-1, 4], np.int64),
    "pair": np.array([2, 2], np.int64),
    "idx0": np.array(0, np.int64),
    "idx1": np.array(1, np.int64),
    "idx2": np.array(2, np.int64),
    "bias": np.linspace(-1.0, 1.0, 4, dtype=np.float32),
    "bias_copy": np.linspace(-1.0, 1.0, 4, dtype=np.float32),
    "scale": np.full((4,), 0.5, np.float32),
    "weight": (np.arange(16, dtype=np.float32).reshape(4, 4) - 8.0) / 8,
    "sqrt2": np.array(1.4142135, np.float32),
    "one": np.array(1.0, np.float32),
    "half": np.array(0.5, np.float32),
}
PATTERNS = (
    "Relu",
    "Identity",
    "Softmax",
    "AddBias",
    "Mul",
    "UnsqueezeChain",
    "ReshapeRound",
    "ReshapeToShapeOf",
    "ShapeConcatReshape",
    "TransposePair",
    "CastChain",
    "FoldConstants",
    "ShapeGatherStatic",
    "ShapeGatherDynamic",
    "MatMulAdd",
    "Gelu",
)


@st.composite
def dynamic_models(draw: st.DrawFn) -> onnx.ModelProto:
    """A chain of rewritable patterns over ``float[batch, seq, 4]`` values."""
    nodes: list[onnx.NodeProto] = []
    values = ["x"]  # float[batch, seq, 4] values a pattern may read
    used: set[str] = set()

    def const(name: str) -> str:
        """``name``, or a private copy of it (exporters write one tensor per use)."""
        if draw(st.integers(0, 3)):  # mostly private, as in dynamo exports
            name = f"{name}.{len(used)}"
        used.add(name)
        return name

    def add(op: str, inputs: list[str], output: str, **attrs: object) -> None:
        nodes.append(helper.make_node(op, inputs, [output], name=f"{output}_{op}", **attrs))

    for i in range(draw(st.integers(1, 7))):
        pattern = draw(st.sampled_from(PATTERNS))
        a = draw(st.sampled_from(values))
        out = f"v{i}"
        if pattern in ("Relu", "Identity"):
            add(pattern, [a], out)
        elif pattern == "Softmax":
            add("Softmax", [a], out, axis=-1)
        elif pattern == "AddBias":
            add("Add", [a, const(draw(st.sampled_from(["bias", "bias_copy"])))], out)
        elif pattern == "Mul":
            add("Mul", [a, draw(st.sampled_from(values))], out)
        elif pattern == "UnsqueezeChain":  # [B,S,4] -> [1,B,S,4] -> [1,1,B,S,4] -> back
            add("Unsqueeze", [a, const("axes0")], f"u{i}")
            add("Unsqueeze", [f"u{i}", const("axes0")], f"uu{i}")
            add("Squeeze", [f"uu{i}", const("axes01")], out)
        elif pattern == "ReshapeRound":
            add("Reshape", [a, const("shape_split")], f"r{i}")
            add("Reshape", [f"r{i}", const("shape_back")], out)
        elif pattern == "ReshapeToShapeOf":  # flatten, then back to a computed shape
            add("Reshape", [a, const("shape_flat")], f"f{i}")
            add("Shape", [a], f"s{i}")
            add("Reshape", [f"f{i}", f"s{i}"], out)
        elif pattern == "ShapeConcatReshape":  # the exporters' dynamic target shape
            add("Shape", [a], f"s{i}")
            add("Gather", [f"s{i}", const("idx0")], f"b{i}")
            add("Unsqueeze", [f"b{i}", const("axes0")], f"bu{i}")
            add("Gather", [f"s{i}", const("idx1")], f"l{i}")
            add("Unsqueeze", [f"l{i}", const("axes0")], f"lu{i}")
            add("Concat", [f"bu{i}", f"lu{i}", const("pair")], f"target{i}", axis=0)
            add("Reshape", [a, f"target{i}"], f"r{i}")
            add("Reshape", [f"r{i}", const("shape_back")], out)
        elif pattern == "TransposePair":
            add("Transpose", [a], f"t{i}", perm=[1, 0, 2])
            add("Transpose", [f"t{i}"], out, perm=[1, 0, 2])
        elif pattern == "CastChain":
            add("Cast", [a], f"d{i}", to=TensorProto.DOUBLE)
            add("Cast", [f"d{i}"], f"c{i}", to=FLOAT)
            add("Cast", [f"c{i}"], out, to=FLOAT)
        elif pattern == "FoldConstants":
            add("Mul", [const("bias"), const("scale")], f"k{i}")
            add("Neg", [f"k{i}"], f"kn{i}")
            add("Add", [a, f"kn{i}"], out)
        elif pattern in ("ShapeGatherStatic", "ShapeGatherDynamic"):
            index = "idx2" if pattern == "ShapeGatherStatic" else "idx0"
            add("Shape", [a], f"s{i}")
            add("Gather", [f"s{i}", const(index)], f"g{i}")
            add("Cast", [f"g{i}"], f"c{i}", to=FLOAT)
            add("Mul", [a, f"c{i}"], out)
        elif pattern == "MatMulAdd":
            add("Reshape", [a, const("shape_flat")], f"f{i}")  # 2-D, as Gemm needs
            add("MatMul", [f"f{i}", const("weight")], f"m{i}")
            add("Add", [f"m{i}", const("bias")], f"n{i}")
            add("Shape", [a], f"s{i}")
            add("Reshape", [f"n{i}", f"s{i}"], out)
        else:  # Gelu, written out as exporters do
            add("Div", [a, const("sqrt2")], f"q{i}")
            add("Erf", [f"q{i}"], f"e{i}")
            add("Add", [f"e{i}", const("one")], f"p{i}")
            add("Mul", [a, f"p{i}"], f"w{i}")
            add("Mul", [f"w{i}", const("half")], out)
        values.append(out)

    initializers = [
        numpy_helper.from_array(CONSTANTS[name.split(".")[0]], name) for name in sorted(used)
    ]
    chosen = draw(st.lists(st.sampled_from(values[1:]), min_size=1, max_size=2, unique=True))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", FLOAT, INPUT_DIMS)],
        [helper.make_tensor_value_info(name, FLOAT, None) for name in chosen],
        initializers,
    )
    opset = draw(st.sampled_from([17, 20]))  # Gelu is an opset-20 op
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)
    return _with_output_shapes(model)


def _with_output_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Graph outputs typed by inference (symbolic dims included), as exporters write them."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    for output, typed in zip(model.graph.output, inferred.graph.output, strict=True):
        output.type.CopyFrom(typed.type)
    return model


@st.composite
def annotated_models(draw: st.DrawFn) -> onnx.ModelProto:
    """A random graph with ``value_info`` from shape inference, edited as exporters do.

    Every entry is the inferred one, or is left out, or has its unknown dims renamed
    (``unk__3`` -> ``s3``) or given a trace-time size; initializers are sometimes
    annotated too.
    """
    model = draw(st.one_of(core_models(), structural_models(), dynamic_models(), dynamic_models()))
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    for graph, annotated in zip(all_graphs(model.graph), all_graphs(inferred.graph), strict=True):
        del graph.value_info[:]
        for value in annotated.value_info:
            edit = draw(st.sampled_from(["exact", "exact", "omit", "rename", "trace-size"]))
            if edit == "omit":
                continue
            entry = graph.value_info.add()
            entry.CopyFrom(value)
            for dim in entry.type.tensor_type.shape.dim:
                if dim.HasField("dim_value"):
                    continue
                if edit == "rename":
                    dim.dim_param = dim.dim_param.replace("unk__", "s")
                elif edit == "trace-size" and not dim.dim_param.startswith(("batch", "seq")):
                    dim.dim_value = draw(st.integers(1, 4))
        if draw(st.integers(0, 3)):  # exporters often annotate their weights too
            for tensor in graph.initializer:
                graph.value_info.append(
                    helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims)
                )
    return model


def _checker_problem(model: onnx.ModelProto) -> str | None:
    """None when ``model`` passes the full checker, else the checker's message."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        return str(exc)
    return None


def _assert_fix_keeps_checker(model: onnx.ModelProto, rules: list[Rule]) -> None:
    if _checker_problem(model) is not None:
        return  # the property is about models the checker accepts
    fixed = apply_fixes(model, rules, may_fix=lambda finding: True).model
    problem = _checker_problem(fixed)
    assert problem is None, f"{[rule.code for rule in rules]}: {problem}"


def _unsqueeze_chain_export() -> onnx.ModelProto:
    """The dynamo case always tried: an Unsqueeze chain with one annotated axes tensor
    per node, which chain-merge rewrites in place to the merged, longer axes."""
    graph = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["x", "axes_a"], ["u"]),
            helper.make_node("Unsqueeze", ["u", "axes_b"], ["uu"]),
            helper.make_node("Relu", ["uu"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", FLOAT, INPUT_DIMS)],
        [helper.make_tensor_value_info("y", FLOAT, [1, 1, *INPUT_DIMS])],
        [numpy_helper.from_array(CONSTANTS["axes0"], name) for name in ("axes_a", "axes_b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    for tensor in model.graph.initializer:
        model.graph.value_info.append(
            helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims)
        )
    return model


PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("rule", FIXING_RULES, ids=lambda rule: rule.code)
@PROPERTY_SETTINGS
@given(model=annotated_models())
@example(model=_unsqueeze_chain_export())
def test_each_rule_keeps_annotations_valid(rule: type[Rule], model: onnx.ModelProto) -> None:
    _assert_fix_keeps_checker(model, [rule()])


@PROPERTY_SETTINGS
@given(model=annotated_models())
@example(model=_unsqueeze_chain_export())
def test_all_rules_keep_annotations_valid(model: onnx.ModelProto) -> None:
    _assert_fix_keeps_checker(model, [rule() for rule in FIXING_RULES])
