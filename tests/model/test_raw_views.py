"""Zero-copy initializer views: the same bytes as raw_data, the same findings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.model.load import load_model
from onnxslim_lint.model.wire import initializer_views
from onnxslim_lint.pipeline import check_model
from onnxslim_lint.rules.registry import select_rules

EXPORTED = sorted((Path(__file__).resolve().parents[1] / "models" / "exported").glob("*.onnx"))


@pytest.mark.parametrize("path", EXPORTED, ids=lambda p: p.name)
def test_views_hold_exactly_the_raw_data(path: Path) -> None:
    data = path.read_bytes()
    views = initializer_views(data)
    model = onnx.ModelProto.FromString(data)
    with_raw = [t for t in model.graph.initializer if t.HasField("raw_data")]
    assert with_raw
    assert {t.name for t in with_raw} == set(views)
    for tensor in with_raw:
        assert bytes(views[tensor.name]) == tensor.raw_data


@pytest.mark.parametrize("path", EXPORTED, ids=lambda p: p.name)
def test_findings_are_the_same_with_and_without_views(path: Path) -> None:
    loaded = load_model(path)
    assert loaded.raw_views
    rules = [rule() for rule in select_rules(None)]
    with_views = check_model(loaded.model, rules, "m", loaded.raw_views)
    without = check_model(loaded.model, rules, "m")
    assert [f.as_dict() for f in with_views] == [f.as_dict() for f in without]


def test_tensor_data_uses_the_view_only_when_it_fits() -> None:
    weight = numpy_helper.from_array(np.arange(6, dtype=np.float32), "w")
    typed = helper.make_tensor("t", TensorProto.FLOAT, [2], [1.0, -0.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["w", "w"], ["y"]), helper.make_node("Add", ["t", "t"], ["z"])],
        "g",
        [],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [6]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [2]),
        ],
        initializer=[weight, typed],
    )
    data = helper.make_model(graph).SerializeToString()
    model = onnx.ModelProto.FromString(data)
    views = initializer_views(data)
    assert set(views) == {"w"}  # typed-field storage has no raw bytes to view
    index = ModelIndex.build(model, views)
    w = index.initializers["w"][1]
    assert isinstance(index.tensor_data(w), memoryview)
    assert bytes(index.tensor_data(w)) == np.arange(6, dtype=np.float32).tobytes()
    assert (
        index.tensor_data(index.initializers["t"][1])
        == np.array([1.0, -0.0], dtype=np.float32).tobytes()
    )
    # A view whose length does not match the dims is never used.
    stale = ModelIndex.build(model, {"w": memoryview(b"\0" * 4)})
    assert isinstance(stale.tensor_data(w), bytes)


def test_garbage_gives_no_views() -> None:
    assert initializer_views(b"\x3a\xff\xff\xff\x0f") == {}
    assert initializer_views(b"") == {}
