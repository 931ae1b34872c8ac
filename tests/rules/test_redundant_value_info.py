"""OSL108 redundant-value-info."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import graphs
import onnx
from graphs import parse
from onnx import TensorProto, helper

from onnxslim_lint.rules.redundant_value_info import RedundantValueInfo

check = partial(graphs.check, RedundantValueInfo)
fixed_ok = partial(graphs.exact_fix_ok, RedundantValueInfo)
EXPORTED = Path(__file__).parent.parent / "models" / "exported"

MODEL = """
g (float[2,3] x) => (float[2,3] y) <float[3] w = {1.0, 2.0, 3.0}> {
    t = Add (x, w)
    y = Relu (t)
}
"""


def annotate(model: onnx.ModelProto, *infos: onnx.ValueInfoProto) -> onnx.ModelProto:
    model.graph.value_info.extend(infos)
    return model


def vi(name: str, elem: int = TensorProto.FLOAT, shape=None) -> onnx.ValueInfoProto:  # type: ignore[no-untyped-def]
    return helper.make_tensor_value_info(name, elem, shape)


def test_finds_and_removes_what_repeats_or_names_nothing() -> None:
    model = annotate(
        parse(MODEL),
        vi("w", shape=[3]),  # repeats the initializer
        vi("t", shape=[2, 3]),  # a computed value: kept
        vi("x", shape=[2, 3]),  # repeats the graph input
        vi("t", shape=[2, 3]),  # second entry
        vi("gone", shape=[4]),  # names nothing
    )
    (finding,) = check(model)
    assert finding.code == "OSL108" and finding.name == "redundant-value-info"
    assert finding.count == 4 and finding.nodes == 0
    assert [(loc.name, loc.detail) for loc in finding.locations] == [
        ("w", "repeats the initializer"),
        ("x", "repeats the graph's input or output"),
        ("t", "second entry for the name"),
        ("gone", "names no value"),
    ]
    fixed = fixed_ok(model)
    assert [v.name for v in fixed.graph.value_info] == ["t"]
    # the graph's own length prefix may shrink by a byte as well
    assert 0 <= model.ByteSize() - fixed.ByteSize() - finding.nbytes <= 2


def test_an_initializer_entry_without_shape_repeats_it_too() -> None:
    model = annotate(parse(MODEL), vi("w"))
    fixed = fixed_ok(model)
    assert list(fixed.graph.value_info) == []


def test_left_alone() -> None:
    with_meta = vi("w", shape=[3])
    helper.set_metadata_props(with_meta, {"pkg.torch.export.kind": "PARAMETER"})
    cases = [
        vi("w", shape=[1, 3]),  # another shape than the initializer's
        vi("w", TensorProto.DOUBLE, [3]),  # another type
        vi("w", shape=["n"]),  # symbolic
        vi("x", shape=[2, "n"]),  # not what the input declares
        vi("t", shape=[2, 3]),  # a computed value
        with_meta,
    ]
    for info in cases:
        graphs.assert_untouched(RedundantValueInfo, annotate(parse(MODEL), info))


def test_subgraph_annotations() -> None:
    branch = onnx.parser.parse_graph(
        "b () => (float[2,3] z) <float[3] v = {1.0, 1.0, 1.0}> { z = Mul(x, v) }"
    )
    branch.value_info.extend([vi("v", shape=[3]), vi("x", shape=[2, 3])])
    model = parse(
        """
        g (float[2,3] x, bool c) => (float[2,3] y) {
            y = Relu (x)
        }
        """
    )
    model.graph.node.append(
        helper.make_node("If", ["c"], ["u"], name="if", then_branch=branch, else_branch=branch)
    )
    model.graph.output.append(vi("u", shape=[2, 3]))
    (finding,) = check(model)
    # v repeats the branch's initializer; x is the outer graph's input, read from the
    # branch: its annotation there is kept (it is no input of the branch itself).
    assert sorted((loc.name, loc.graph) for loc in finding.locations) == [
        ("v", "main/if/else_branch"),
        ("v", "main/if/then_branch"),
    ]
    fixed = fixed_ok(model)
    then = fixed.graph.node[-1].attribute[0].g
    assert [v.name for v in then.value_info] == ["x"]


def test_dynamo_export_parameters() -> None:
    model = onnx.load(EXPORTED / "bert_dynamo.onnx")
    for info in model.graph.value_info:
        del info.metadata_props[:]
    initializers = {t.name for t in model.graph.initializer}
    (finding,) = check(model)
    assert {loc.name for loc in finding.locations} == {
        v.name for v in model.graph.value_info if v.name in initializers
    }
    fixed = RedundantValueInfo().run(model)
    assert not any(v.name in initializers for v in fixed.graph.value_info)
    assert fixed.ByteSize() < model.ByteSize()
