"""model/annotations: value_info an edit made stale is updated or dropped, so the full
checker accepts the edited model again.

Each test builds the pattern a fix leaves behind (seen on real exports): the model
passes the full checker, the edit makes it fail with the checker's own message, and
after ``repair_annotations`` it passes again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.model.annotations import AnnotationRepair, repair_annotations, stale_reason
from onnxslim_lint.model.shapes import infer_shapes

DYNAMIC = Path(__file__).resolve().parent.parent / "models" / "dynamic"
DYNAMIC_FILES = sorted(json.loads((DYNAMIC / "MANIFEST.json").read_text())["models"])

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def make(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    initializers: Sequence[onnx.TensorProto] = (),
    value_info: Sequence[onnx.ValueInfoProto] = (),
    opset: int = 18,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g", inputs, outputs, initializer=list(initializers), value_info=list(value_info)
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def checker_error(model: onnx.ModelProto) -> str | None:
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        return str(exc).splitlines()[0]
    return None


def entry(
    model: onnx.ModelProto, name: str, graph: onnx.GraphProto | None = None
) -> onnx.ValueInfoProto | None:
    found = [v for v in (model.graph if graph is None else graph).value_info if v.name == name]
    return found[0] if found else None


def annotation(
    model: onnx.ModelProto, name: str, graph: onnx.GraphProto | None = None
) -> onnx.ValueInfoProto:
    found = entry(model, name, graph)
    assert found is not None, f"no value_info for {name}"
    return found


def dims(value: onnx.ValueInfoProto) -> list[int | str | None]:
    return [
        d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
        for d in value.type.tensor_type.shape.dim
    ]


def axes(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def test_axes_rewritten_in_place_is_updated() -> None:
    """chain-merge's Unsqueeze merge writes three axes into the first node's two-axis
    initializer; the exporter's value_info still says [2] (BERT, GPT-2 and Whisper
    dynamo exports: "differ in dimension 0: (3) vs (2)")."""
    model = make(
        [
            helper.make_node("Unsqueeze", ["x", "a1"], ["u"], name="first"),
            helper.make_node("Unsqueeze", ["u", "a2"], ["y"], name="second"),
        ],
        [helper.make_tensor_value_info("x", F, ["batch"])],
        [helper.make_tensor_value_info("y", F, ["batch", 1, 1, 1])],
        [axes("a1", [1, 2]), axes("a2", [3])],
        [
            helper.make_tensor_value_info("a1", I64, [2]),
            helper.make_tensor_value_info("a2", I64, [1]),
            helper.make_tensor_value_info("u", F, ["batch", 1, 1]),
        ],
    )
    assert checker_error(model) is None
    # The merge: the second node reads x with all three axes, kept in a1.
    model.graph.initializer[0].CopyFrom(axes("a1", [1, 2, 3]))
    model.graph.node[1].input[:] = ["x", "a1"]
    del model.graph.node[0]
    assert "differ in dimension 0: (3) vs (2)" in (checker_error(model) or "")

    repair = repair_annotations(model)

    assert repair == AnnotationRepair(updated=("a1",), dropped=())
    assert dims(annotation(model, "a1")) == [3]
    assert checker_error(model) is None


def test_rank_placeholder_contradicted_after_a_fold_is_dropped() -> None:
    """paddle2onnx writes rank-0 placeholders; while a Reshape's target is computed
    nothing contradicts them, once the target is a constant the checker sees rank 2
    ("differ in rank: (2) vs (0)" at the Softmax)."""
    model = make(
        [
            helper.make_node("Shape", ["x"], ["s"]),
            helper.make_node("Slice", ["s", "start", "end"], ["target"]),
            helper.make_node("Reshape", ["x", "target"], ["r"]),
            helper.make_node("Softmax", ["r"], ["p"], axis=-1),
            helper.make_node("Size", ["p"], ["y"]),
        ],
        [
            helper.make_tensor_value_info("x", F, [4, 6]),
            helper.make_tensor_value_info("start", I64, [1]),
            helper.make_tensor_value_info("end", I64, [1]),
        ],
        [helper.make_tensor_value_info("y", I64, [])],
        value_info=[helper.make_tensor_value_info("p", F, [])],  # the placeholder
    )
    assert checker_error(model) is None
    # The fold: the target becomes a constant; start and end are no longer read.
    del model.graph.node[:2]
    del model.graph.input[1:]
    model.graph.initializer.append(axes("target", [4, 6]))
    assert "differ in rank" in (checker_error(model) or "")

    repair = repair_annotations(model)

    assert repair.updated == ("p",)
    assert dims(annotation(model, "p")) == [4, 6]
    assert checker_error(model) is None


def test_name_given_to_a_value_of_another_type_is_updated() -> None:
    """A value name reused for a value of another element type (a Cast chain merged
    onto the second node's output name)."""
    model = make(
        [
            helper.make_node("Relu", ["x"], ["v"]),
            helper.make_node("Cast", ["v"], ["y"], to=I64),
        ],
        [helper.make_tensor_value_info("x", F, ["n", 3])],
        [helper.make_tensor_value_info("y", I64, ["n", 3])],
        value_info=[helper.make_tensor_value_info("v", F, ["n", 3])],
    )
    model.graph.node[0].CopyFrom(helper.make_node("Cast", ["x"], ["v"], to=I64))
    model.graph.node[1].CopyFrom(helper.make_node("Identity", ["v"], ["y"]))
    assert checker_error(model) is not None

    repair = repair_annotations(model)

    assert repair.updated == ("v",)
    updated = annotation(model, "v")
    assert updated.type.tensor_type.elem_type == I64
    assert dims(updated) == ["n", 3]  # the symbolic name survives the rewrite
    assert checker_error(model) is None


def test_symbolic_dims_are_kept_where_inference_has_none() -> None:
    model = make(
        [
            helper.make_node("Concat", ["x", "x"], ["c"], axis=1),
            helper.make_node("Relu", ["c"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", F, ["batch", 2])],
        [helper.make_tensor_value_info("y", F, ["batch", 4])],
        value_info=[helper.make_tensor_value_info("c", F, ["batch", 3])],
    )
    assert "differ in dimension 1" in (checker_error(model) or "")

    assert repair_annotations(model).updated == ("c",)
    assert dims(annotation(model, "c")) == ["batch", 4]
    assert checker_error(model) is None


def test_stale_entry_in_a_subgraph_is_updated() -> None:
    then_graph = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["x", "t_axes"], ["t_u"]),
            helper.make_node("Identity", ["t_u"], ["t_out"]),
        ],
        "then",
        [],
        [helper.make_tensor_value_info("t_out", F, [1, 1, 4])],
        initializer=[axes("t_axes", [0, 1])],
        value_info=[helper.make_tensor_value_info("t_u", F, [1, 4])],  # rank 2: stale
    )
    else_graph = helper.make_graph(
        [helper.make_node("Unsqueeze", ["x", "e_axes"], ["e_out"])],
        "else",
        [],
        [helper.make_tensor_value_info("e_out", F, [1, 1, 4])],
        initializer=[axes("e_axes", [0, 1])],
    )
    model = make(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then_graph, else_branch=else_graph)],
        [
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", F, [4]),
        ],
        [helper.make_tensor_value_info("y", F, [1, 1, 4])],
    )
    assert "differ in rank" in (checker_error(model) or "")

    repair = repair_annotations(model)

    then_after = next(a.g for a in model.graph.node[0].attribute if a.name == "then_branch")
    assert repair.updated == ("t_u",)
    assert dims(annotation(model, "t_u", then_after)) == [1, 1, 4]
    assert checker_error(model) is None


def test_unknown_entries_are_kept_unless_their_value_changed() -> None:
    """Inference knows nothing about a custom op's output: its annotation stays, unless
    the caller says an edit replaced that value, when nothing vouches for it."""
    model = make(
        [
            helper.make_node("Fancy", ["x"], ["f"], domain="com.example"),
            helper.make_node("Relu", ["f"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", F, [2, 3])],
        [helper.make_tensor_value_info("y", F, [2, 3])],
        value_info=[helper.make_tensor_value_info("f", F, [2, 3])],
    )
    model.opset_import.append(helper.make_opsetid("com.example", 1))

    assert repair_annotations(model) == AnnotationRepair()
    assert entry(model, "f") is not None

    assert repair_annotations(model, changed={"f"}) == AnnotationRepair(dropped=("f",))
    assert entry(model, "f") is None


def test_stale_without_a_known_rank_is_dropped() -> None:
    # Only the element type is known from inference (the target's length is runtime).
    model = make(
        [
            helper.make_node("Reshape", ["x", "target"], ["r"]),
            helper.make_node("Relu", ["r"], ["y"]),
        ],
        [
            helper.make_tensor_value_info("x", F, [4, 6]),
            helper.make_tensor_value_info("target", I64, ["k"]),
        ],
        [helper.make_tensor_value_info("y", F, ["a"])],
        value_info=[helper.make_tensor_value_info("r", TensorProto.INT32, [24])],
    )
    inferred = infer_shapes(model)
    assert inferred["r"] == (F, None)
    assert stale_reason(model.graph.value_info[0], inferred["r"]) == "element type 6 vs 1"

    assert repair_annotations(model, inferred) == AnnotationRepair(dropped=("r",))
    assert checker_error(model) is None


def test_agreeing_entries_are_untouched() -> None:
    model = make(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Neg", ["r"], ["y"])],
        [helper.make_tensor_value_info("x", F, ["n", 3])],
        [helper.make_tensor_value_info("y", F, ["n", 3])],
        value_info=[helper.make_tensor_value_info("r", F, ["m", None])],
    )
    before = model.SerializeToString()
    assert not repair_annotations(model).changed
    assert model.SerializeToString() == before


@pytest.mark.parametrize("name", DYNAMIC_FILES)
def test_exporter_annotations_agree_with_inference(name: str) -> None:
    """The serving exports annotate almost every value; as exported, none is stale
    (so whatever repair_annotations finds after a fix, the fix made stale)."""
    model = onnx.load(DYNAMIC / name)
    assert len(model.graph.value_info) > 100
    assert not repair_annotations(model).changed
    assert checker_error(model) is None
