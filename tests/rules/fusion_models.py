"""Small Conv/MatMul models for the fusion rule tests (OSL401-404)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext

F = onnx.TensorProto.FLOAT
RNG = np.random.default_rng(0)


def arr(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, size=shape).astype(np.float32)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def model(nodes, inputs, outputs, inits, opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def vi(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def check(rule, m):
    before = m.SerializeToString()
    found = rule().check(CheckContext(ModelIndex.build(m), "m.onnx"))
    assert m.SerializeToString() == before
    return found


def fixed_ok(rule, m):
    fixed = rule().run(m)
    assert fixed == apply_fixes(m, [rule()], may_fix=lambda f: True).model
    assert check(rule, fixed) == []
    onnx.checker.check_model(fixed, full_check=True)
    assert check_interface(m, fixed) is None
    assert fixed.ByteSize() <= m.ByteSize()
    report = verify_models(m, fixed)
    assert report.passed, report
    return fixed


def ops(m):
    return [n.op_type for n in m.graph.node]
