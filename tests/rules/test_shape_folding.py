"""OSL204 shape-folding."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext
from onnxslim_lint.rules.constant_folding import ConstantFolding
from onnxslim_lint.rules.shape_folding import ShapeFolding


def parse(text: str, opset: int = 17) -> onnx.ModelProto:
    return onnx.parser.parse_model(f'<ir_version: 8, opset_import: ["" : {opset}]>\n' + text)


def check(model: onnx.ModelProto):  # type: ignore[no-untyped-def]
    before = model.SerializeToString()
    found = ShapeFolding().check(CheckContext(ModelIndex.build(model), "m.onnx"))
    assert model.SerializeToString() == before
    return found


def fixed_ok(model: onnx.ModelProto, rules=(ShapeFolding,)) -> onnx.ModelProto:  # type: ignore[no-untyped-def]
    fixed = apply_fixes(model, [rule() for rule in rules]).model
    assert check(fixed) == []
    onnx.checker.check_model(fixed, full_check=True)
    assert check_interface(model, fixed) is None
    assert fixed.ByteSize() <= model.ByteSize()
    report = verify_models(model, fixed, exact=True)
    assert report.passed, report
    assert report.max_diff == 0.0
    return fixed


def ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def test_folds_shape_and_its_arithmetic() -> None:
    model = parse(
        """
        g (float[2,3,4] x) => (float[2,12] y) {
            h = Relu (x)
            [s] s = Shape <start = 0, end = 1> (h)
            m = Constant <value = int64[1] {-1}> ()
            [c] t = Concat <axis = 0> (s, m)
            y = Reshape (h, t)
        }
        """
    )
    (finding,) = check(model)
    assert finding.code == "OSL204" and finding.name == "shape-folding"
    assert {loc.name for loc in finding.locations if loc.kind == "node"} == {"s", "c"}
    assert finding.nodes == 3  # Shape, Concat, and the Constant only the Concat read
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Relu", "Reshape"]
    (init,) = fixed.graph.initializer
    assert numpy_helper.to_array(init).tolist() == [2, -1]


def test_size_folds() -> None:
    model = parse(
        """
        g (float[2,3] x) => (float[2,3] y) {
            n = Size (x)
            f = Cast <to = 1> (n)
            y = Mul (x, f)
        }
        """
    )
    fixed = fixed_ok(model, (ShapeFolding, ConstantFolding))
    assert ops(fixed) == ["Mul"]


def test_dynamic_input_is_not_folded() -> None:
    model = parse(
        """
        g (float[N,3] x) => (y) {
            s = Shape (x)
            y = Reshape (x, s)
        }
        """
    )
    assert check(model) == []
    # a Shape that returns only the static dims folds: it is [3] on every run
    sliced = parse(
        """
        g (float[N,3] x) => (float[N,3] y) <int64[1] m1 = {-1}> {
            s = Shape <start = 1> (x)
            t = Concat <axis = 0> (m1, s)
            y = Reshape (x, t)
        }
        """
    )
    assert len(check(sliced)) == 1
    assert "Shape" not in ops(fixed_ok(sliced))


def test_stale_value_info_is_not_trusted() -> None:
    # value_info claims h is [2,3]; it really is [N,3] (N dynamic)
    model = parse(
        """
        g (float[N,3] x) => (y) <float[2,3] h> {
            h = Relu (x)
            s = Shape (h)
            y = Reshape (x, s)
        }
        """
    )
    assert check(model) == []


def test_graph_output_keeps_its_name() -> None:
    model = parse(
        """
        g (float[2,3] x) => (int64[2] s) {
            s = Shape (x)
        }
        """
    )
    assert check(model) == []


def test_static_dim_of_a_dynamic_value_folds_the_dynamic_one_does_not() -> None:
    model = parse(
        """
        g (float[N,3,4] x) => (float[N,12] y) {
            s = Shape (x)
            i0 = Constant <value = int64[1] {0}> ()
            i1 = Constant <value = int64[1] {1}> ()
            i2 = Constant <value = int64[1] {-1}> ()
            [g0] b = Gather <axis = 0> (s, i0)
            [g1] c = Gather <axis = 0> (s, i1)
            [g2] d = Gather <axis = 0> (s, i2)
            [m] cd = Mul (c, d)
            t = Concat <axis = 0> (b, cd)
            y = Reshape (x, t)
        }
        """
    )
    (finding,) = check(model)
    assert {loc.name for loc in finding.locations if loc.kind == "node"} == {"g1", "g2", "m"}
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Shape", "Constant", "Gather", "Concat", "Reshape"]
    (init,) = fixed.graph.initializer
    assert numpy_helper.to_array(init).tolist() == [12]


def test_a_dim_of_a_reshape_with_a_computed_target_folds_the_width_stays() -> None:
    # A paddle CRNN head (opset 11): r = Reshape(t, [W, 1, C*H]) with the target
    # computed from t's own shape. onnx inference cannot say r's dims; symbolic
    # shapes can (W, 1, 32), so Gather(Shape(r), 2) folds to 32, while the width W
    # stays computed.
    model = parse(
        """
g (float[1, 8, 4, W] x) => (float[W, 1, 32] y) <int64[1] m1 = {-1}> {
    t = Transpose <perm = [3, 0, 1, 2]> (x)
    s = Shape(t)
    i0 = Constant <value = int64 {0}> ()
    i1 = Constant <value = int64 {1}> ()
    i2 = Constant <value = int64 {2}> ()
    i3 = Constant <value = int64 {3}> ()
    w = Gather(s, i0)
    one = Gather(s, i1)
    c = Gather(s, i2)
    h = Gather(s, i3)
    ch = Mul(c, h)
    wv = Unsqueeze <axes = [0]> (w)
    onev = Unsqueeze <axes = [0]> (one)
    chv = Unsqueeze <axes = [0]> (ch)
    target = Concat <axis = 0> (wv, onev, chv)
    r = Reshape(t, target)
    rs = Shape(r)
    k = Gather(rs, i2)
    kv = Unsqueeze <axes = [0]> (k)
    back = Concat <axis = 0> (m1, kv)
    z = Reshape(r, back)
    y = Reshape(z, target)
}
        """,
        opset=11,
    )
    assert check(model)
    fixed = fixed_ok(model)
    assert ops(fixed).count("Gather") == 1  # only the width's
    assert "Mul" not in ops(fixed)  # C*H = 32 folded


def test_a_branch_computing_from_a_static_shape_folds_with_it() -> None:
    # the main graph's Shape of a static value, picked and reshaped to inside a branch
    model = parse(
        """
        g (bool c, float[2,3,4] x) => (float[2,12] y) {
            h = Relu (x)
            [shape] s = Shape (h)
            y = If (c) <
                then_branch = t () => (float[2,12] a) {
                    zero = Constant <value = int64[1] {0}> ()
                    minus = Constant <value = int64[1] {-1}> ()
                    [pick] d = Gather <axis = 0> (s, zero)
                    [target] t = Concat <axis = 0> (d, minus)
                    a = Reshape (h, t)
                },
                else_branch = e () => (float[2,12] b) {
                    r = Constant <value = int64[2] {2, 12}> ()
                    b = Reshape (h, r)
                }
            >
        }
        """
    )
    (finding,) = check(model)
    assert {(loc.graph, loc.name) for loc in finding.locations if loc.kind == "node"} == {
        ("main", "shape"),
        ("main/If#2/then_branch", "pick"),
        ("main/If#2/then_branch", "target"),
    }
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Relu", "If"]
    then_branch = next(a.g for a in fixed.graph.node[1].attribute if a.name == "then_branch")
    assert [n.op_type for n in then_branch.node] == ["Reshape"]
    (target,) = then_branch.initializer
    assert (target.name, numpy_helper.to_array(target).tolist()) == ("t", [2, -1])
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for c in (True, False):
        feeds = {"c": np.array(c), "x": x}
        runs = [
            ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
                None, feeds
            )[0]
            for m in (model, fixed)
        ]
        assert runs[0].tobytes() == runs[1].tobytes()


def test_a_shape_of_a_constant_is_left_to_constant_folding() -> None:
    """Reported once, by OSL203: a Shape of an initializer is computed from constants
    (exporters' ``Expand(w, Shape(w))``), and OSL204 would list the same nodes."""
    model = parse(
        """
        g (float[2,3] x) => (float[2,3] y) <float[2,3] w = {1, 2, 3, 4, 5, 6}> {
            s = Shape (w)
            e = Expand (w, s)
            y = Add (x, e)
        }
        """
    )
    assert check(model) == []
    (finding,) = ConstantFolding().check(CheckContext(ModelIndex.build(model), "m.onnx"))
    assert finding.nodes == 2
    fixed = fixed_ok(model, rules=(ConstantFolding, ShapeFolding))
    assert [n.op_type for n in fixed.graph.node] == ["Add"]
