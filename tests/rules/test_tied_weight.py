"""OSL208 tied-weight."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from onnxslim_lint.config import VerifySettings
from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext
from onnxslim_lint.rules.registry import ALL_RULES
from onnxslim_lint.rules.tied_weight import TiedWeight as R

EXPORTED = Path(__file__).parent.parent / "models" / "exported"
F = onnx.TensorProto.FLOAT


def check(model):
    return R().check(CheckContext(ModelIndex.build(model), "m.onnx"))


def model_with(emb: np.ndarray, head: np.ndarray, *, head_is_input=False):
    nodes = [
        helper.make_node("Gather", ["emb", "ids"], ["h"], name="gather"),
        helper.make_node("MatMul", ["h", "head"], ["y"], name="matmul"),
    ]
    inputs = [helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, [2])]
    if head_is_input:
        inputs.append(helper.make_tensor_value_info("head", F, list(head.shape)))
    graph = helper.make_graph(
        nodes,
        "g",
        inputs,
        [helper.make_tensor_value_info("y", F, [2, emb.shape[0]])],
        [numpy_helper.from_array(emb, "emb"), numpy_helper.from_array(head, "head")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def weights():
    emb = np.random.default_rng(0).standard_normal((10, 6)).astype(np.float32)
    return emb, np.ascontiguousarray(emb.T)


def fixed_ok(model, settings=None):
    fixed = R().run(model)
    assert fixed == apply_fixes(model, [R()]).model
    assert check(fixed) == []
    onnx.checker.check_model(fixed, full_check=True)
    assert check_interface(model, fixed) is None
    assert fixed.ByteSize() < model.ByteSize()
    args = (settings,) if settings else ()
    report = verify_models(model, fixed, *args, exact=True)
    assert report.passed, report
    assert report.max_diff == 0.0
    return fixed


def test_registered():
    assert R in ALL_RULES
    assert "constant-folds" in R.explanation()


def test_finds_and_fixes():
    model = model_with(*weights())
    (finding,) = check(model)
    assert finding.code == "OSL208" and finding.name == "tied-weight"
    assert finding.count == 1
    assert [loc.name for loc in finding.locations] == ["head"]
    assert 0 < finding.nbytes < 240
    fixed = fixed_ok(model)
    assert [t.name for t in fixed.graph.initializer] == ["emb"]
    node = fixed.graph.node[0]
    assert (node.op_type, list(node.input), list(node.output)) == ("Transpose", ["emb"], ["head"])
    assert list(node.attribute[0].ints) == [1, 0]


def test_one_bit_differs():
    emb, head = weights()
    bits = head.view(np.uint32).copy()
    bits[3, 4] ^= 1
    assert check(model_with(emb, bits.view(np.float32))) == []


def test_dims_do_not_swap():
    emb = np.arange(12, dtype=np.float32).reshape(3, 4)
    head = np.arange(12, dtype=np.float32).reshape(4, 3)  # same size, not a transpose
    assert check(model_with(emb, head)) == []
    # A reshape of the same bytes is no transpose either.
    assert check(model_with(emb, emb.reshape(4, 3).copy())) == []


def test_overridable_left_alone():
    model = model_with(*weights(), head_is_input=True)
    assert check(model) == []


def test_symmetric_and_tiny_left_alone():
    sym = np.eye(3, dtype=np.float32)
    assert check(model_with(sym, sym.copy())) == []
    tiny = np.array([[1.0, 2.0]], dtype=np.float32)
    assert check(model_with(tiny, np.ascontiguousarray(tiny.T))) == []


def test_gpt2_legacy_tied_embedding():
    manifest = json.loads((EXPORTED / "MANIFEST.json").read_text())["models"]
    entry = manifest["gpt2_legacy.onnx"]
    ((kept, removed),) = entry["transposed_initializer_pairs"]
    model = onnx.load(EXPORTED / "gpt2_legacy.onnx")
    (finding,) = check(model)
    assert [loc.name for loc in finding.locations] == [removed]
    fixed = fixed_ok(model, VerifySettings(dims=entry["dims"]))
    names = {t.name for t in fixed.graph.initializer}
    assert kept in names and removed not in names
