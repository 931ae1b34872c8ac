"""Tests for onnxslim_lint.fixing.verify: running both models in onnxruntime and comparing."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.config import VerifySettings
from onnxslim_lint.fixing import runner as runner_module
from onnxslim_lint.fixing.gates import check_interface, check_model_valid
from onnxslim_lint.fixing.inputs import generate_inputs
from onnxslim_lint.fixing.verify import VerifyReport, verify_models
from onnxslim_lint.results import Verdict

PASSED, FAILED, COULD_NOT_VERIFY = Verdict.PASSED, Verdict.FAILED, Verdict.COULD_NOT_VERIFY

HEADER = '<ir_version: 8, opset_import: ["" : 17]>\n'


def parse(text: str, header: str = HEADER) -> onnx.ModelProto:
    return onnx.parser.parse_model(header + text)


def add_model(value: float = 1.0, name: str = "y") -> onnx.ModelProto:
    return parse(
        f"""
        g (float[2, 3] x) => (float[2, 3] {name}) {{
            c = Constant <value = float[1] {{{value!r}}}> ()
            {name} = Add(x, c)
        }}"""
    )


def make(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: list[onnx.TensorProto] = (),
    opset: int = 17,
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


# ------------------------------------------------------------------ settings and report


def test_settings_are_frozen_hashable_and_copy_their_mappings() -> None:
    dims = {"batch": 2}
    settings = VerifySettings(dims=dims, shapes={"x": [1, 2]})
    dims["batch"] = 99
    assert settings.dims == {"batch": 2}
    assert settings.shapes["x"] == (1, 2)
    assert hash(settings) == hash(VerifySettings(dims={"batch": 2}, shapes={"x": (1, 2)}))
    assert settings == VerifySettings(dims={"batch": 2}, shapes={"x": (1, 2)})
    assert pickle.loads(pickle.dumps(settings)) == settings
    with pytest.raises(AttributeError):
        settings.seed = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        VerifySettings(samples=0)


def test_report_passed_property() -> None:
    assert VerifyReport(PASSED, 0.0, None, "", 3).passed
    assert not VerifyReport(FAILED, 1.0, "y", "", 3).passed
    assert not VerifyReport(COULD_NOT_VERIFY, 0.0, None, "", 3).passed


def test_importing_verify_does_not_import_onnxruntime() -> None:
    code = (
        "import sys, onnxslim_lint.fixing.verify as v; "
        "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ numeric comparison


def test_identical_models_pass_with_zero_diff() -> None:
    report = verify_models(add_model(), add_model())
    assert report.verdict == PASSED
    assert report.passed
    assert report.max_diff == 0.0
    assert report.output is None
    assert report.samples == 3
    assert report.reason == "3 samples, 1 output compared"


def test_serialized_models_given_are_the_ones_run() -> None:
    # The pipeline hands over the file's bytes and the fixed model's payload; those
    # bytes, not the protos, are what onnxruntime runs.
    original, changed = add_model(1.0), add_model(1.5)
    same = verify_models(original, original, original_bytes=original.SerializeToString())
    assert same.passed and same.max_diff == 0.0
    report = verify_models(
        original, original, original_bytes=changed.SerializeToString(), exact=True
    )
    assert report.verdict == FAILED and report.max_diff == pytest.approx(0.5)
    report = verify_models(original, original, fixed_bytes=changed.SerializeToString())
    assert report.verdict == FAILED


def test_changed_constant_fails_naming_the_output() -> None:
    report = verify_models(add_model(1.0), add_model(1.001))
    assert report.verdict == FAILED
    assert report.output == "y"
    assert report.max_diff == pytest.approx(1e-3, rel=1e-2)
    assert report.reason.startswith("output 'y' differs: max abs diff 0.001")
    assert "rtol 0.0001, atol 1e-05" in report.reason
    assert report.reason.endswith("sample 0")


def test_change_within_tolerance_passes_but_not_exact() -> None:
    def scaled(factor: float) -> onnx.ModelProto:
        scale = numpy_helper.from_array(np.array([factor], dtype=np.float32), "s")
        node = helper.make_node("Mul", ["x", "s"], ["y"])
        return make(
            [node],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8])],
            [scale],
        )

    one = scaled(1.0)
    next_up = scaled(float(np.nextafter(np.float32(1.0), np.float32(2.0))))
    tolerant = verify_models(one, next_up)
    assert tolerant.verdict == PASSED
    assert 0.0 < tolerant.max_diff < 1e-5
    strict = verify_models(one, next_up, exact=True)
    assert strict.verdict == FAILED
    assert strict.output == "y"
    assert "bit-identical" in strict.reason
    assert strict.max_diff > 0.0
    assert verify_models(one, scaled(1.0), exact=True).verdict == PASSED


def test_exact_tells_negative_zero_from_zero() -> None:
    def const(value: float) -> onnx.ModelProto:
        return parse(
            f"""
            g (float[1] x) => (float[1] y) {{
                c = Constant <value = float[1] {{{value!r}}}> ()
                y = Identity(c)
            }}"""
        )

    assert verify_models(const(0.0), const(-0.0)).verdict == PASSED
    assert verify_models(const(0.0), const(-0.0), exact=True).verdict == FAILED


def nan_model(second: str) -> onnx.ModelProto:
    """y = x + sqrt([-1, 4]) as original, or x + a given constant."""
    if second == "sqrt":
        body = """
            c = Constant <value = float[2] {-1.0, 4.0}> ()
            s = Sqrt(c)"""
    else:
        body = f"""
            s = Constant <value = float[2] {{{second}}}> ()"""
    return parse(
        f"""
        g (float[3, 2] x) => (float[3, 2] y) {{{body}
            y = Add(x, s)
        }}"""
    )


def test_nan_on_both_sides_passes() -> None:
    # Division 0/0 in the fixed model gives NaN where Sqrt(-1) gave it.
    fixed = parse(
        """
        g (float[3, 2] x) => (float[3, 2] y) {
            n = Constant <value = float[2] {0.0, 2.0}> ()
            d = Constant <value = float[2] {0.0, 1.0}> ()
            s = Div(n, d)
            y = Add(x, s)
        }"""
    )
    report = verify_models(nan_model("sqrt"), fixed)
    assert report.verdict == PASSED, report.reason
    assert report.max_diff == 0.0
    assert verify_models(nan_model("sqrt"), fixed, exact=True).verdict == PASSED


def test_nan_on_one_side_fails() -> None:
    report = verify_models(nan_model("sqrt"), nan_model("1.0, 2.0"))
    assert report.verdict == FAILED
    assert report.output == "y"
    assert "nan vs" in report.reason
    assert report.max_diff == float("inf")


def test_plus_inf_vs_minus_inf_fails() -> None:
    def inf_model(numerator: float) -> onnx.ModelProto:
        return parse(
            f"""
            g (float[2] x) => (float[2] y) {{
                n = Constant <value = float[1] {{{numerator!r}}}> ()
                z = Constant <value = float[1] {{0.0}}> ()
                q = Div(n, z)
                y = Add(x, q)
            }}"""
        )

    assert verify_models(inf_model(1.0), inf_model(2.0)).verdict == PASSED
    report = verify_models(inf_model(1.0), inf_model(-1.0))
    assert report.verdict == FAILED
    assert "inf vs -inf" in report.reason
    assert report.max_diff == float("inf")


def test_integer_outputs_are_compared_exactly() -> None:
    def int_model(offset: int) -> onnx.ModelProto:
        return parse(
            f"""
            g (int64[4] ids) => (int64[4] y) {{
                c = Constant <value = int64[1] {{{offset}}}> ()
                y = Add(ids, c)
            }}"""
        )

    big = 10**12
    assert verify_models(int_model(big), int_model(big)).verdict == PASSED
    # A relative difference of 1e-12 would pass a float tolerance; integers must match.
    report = verify_models(int_model(big), int_model(big + 1))
    assert report.verdict == FAILED
    assert report.output == "y"
    assert "4 of 4 values differ" in report.reason
    assert report.max_diff == 1.0


def test_bool_outputs_are_compared_exactly() -> None:
    def cmp_model(op: str) -> onnx.ModelProto:
        return parse(
            f"""
            g (float[16] x) => (bool[16] y) {{
                z = Constant <value = float[1] {{0.0}}> ()
                y = {op}(x, z)
            }}"""
        )

    assert verify_models(cmp_model("Greater"), cmp_model("Greater")).verdict == PASSED
    assert verify_models(cmp_model("Greater"), cmp_model("Less")).verdict == FAILED


def test_sequence_outputs_are_compared_elementwise() -> None:
    def seq_model(value: float) -> onnx.ModelProto:
        return parse(
            f"""
            g (float[2] x) => (seq(float[2]) y) {{
                c = Constant <value = float[1] {{{value!r}}}> ()
                a = Add(x, c)
                y = SequenceConstruct(x, a)
            }}"""
        )

    assert verify_models(seq_model(1.0), seq_model(1.0)).verdict == PASSED
    report = verify_models(seq_model(1.0), seq_model(2.0))
    assert report.verdict == FAILED
    assert "element [1]" in report.reason


def test_zipmap_outputs_sequences_of_maps_of_python_floats_are_compared() -> None:
    # skl2onnx / onnxmltools classifiers end in ZipMap: [{label: probability}, ...].
    def zipmap_model(scale: float) -> onnx.ModelProto:
        value_type = helper.make_tensor_type_proto(TensorProto.FLOAT, [])
        seq = helper.make_sequence_type_proto(
            helper.make_map_type_proto(TensorProto.INT64, value_type)
        )
        weight = numpy_helper.from_array(np.array([scale], dtype=np.float32), "scale")
        graph = helper.make_graph(
            [
                helper.make_node("Mul", ["x", "scale"], ["p"]),
                helper.make_node(
                    "ZipMap", ["p"], ["y"], domain="ai.onnx.ml", classlabels_int64s=[0, 1, 2]
                ),
            ],
            "zipmap",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
            [helper.make_value_info("y", seq)],
            [weight],
        )
        opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
        return helper.make_model(graph, opset_imports=opsets)

    assert verify_models(zipmap_model(0.5), zipmap_model(0.5)).verdict == PASSED
    report = verify_models(zipmap_model(0.5), zipmap_model(0.75))
    assert report.verdict == FAILED
    assert "element [0]: element [0]" in report.reason


def test_dtype_change_of_an_untyped_output_fails() -> None:
    def cast_to(to: int) -> onnx.ModelProto:
        # The output carries no declared type, so onnxruntime accepts either.
        return make(
            [helper.make_node("Cast", ["x"], ["y"], to=to)],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
            [helper.make_empty_tensor_value_info("y")],
        )

    assert check_interface(cast_to(TensorProto.FLOAT), cast_to(TensorProto.DOUBLE)) is None
    report = verify_models(cast_to(TensorProto.FLOAT), cast_to(TensorProto.DOUBLE))
    assert report.verdict == FAILED
    assert report.reason == "output 'y' differs: dtype float32 vs float64, sample 0"


def test_bfloat16_inputs_and_outputs() -> None:
    def bf16(offset: float) -> onnx.ModelProto:
        return parse(
            f"""
            g (bfloat16[4] x) => (bfloat16[4] y) {{
                f = Cast <to = 1> (x)
                c = Constant <value = float[1] {{{offset!r}}}> ()
                s = Add(f, c)
                y = Cast <to = 16> (s)
            }}"""
        )

    assert verify_models(bf16(0.0), bf16(0.0)).verdict == PASSED
    report = verify_models(bf16(0.0), bf16(1.0))
    assert report.verdict == FAILED
    assert report.output == "y"


def test_string_inputs_are_generated() -> None:
    model = parse(
        "g (string[batch] s) => (string[batch] y) { y = Identity(s) }",
    )
    feeds = generate_inputs(model, VerifySettings(dims={"batch": 5}))
    assert feeds["s"].shape == (5,)
    assert all(isinstance(v, str) for v in feeds["s"])
    assert verify_models(model, model).verdict == PASSED


# ------------------------------------------------------------------ onnxruntime failures


def test_custom_domain_op_could_not_verify() -> None:
    model = parse(
        "g (float[2] x) => (float[2] y) { y = com.example.Frobnicate(x) }",
        header='<ir_version: 8, opset_import: ["" : 17, "com.example" : 1]>\n',
    )
    report = verify_models(model, model)
    assert report.verdict == COULD_NOT_VERIFY
    assert report.reason.startswith("onnxruntime cannot load the original model: ")
    assert "\n" not in report.reason


def test_original_that_fails_at_run_time_could_not_verify() -> None:
    # Reshape's target shape is a small random input: its product never is 7.
    model = parse(
        "g (float[7] x, int64[2] s) => (float[?, ?] y) { y = Reshape <allowzero = 1> (x, s) }"
    )
    report = verify_models(model, model)
    assert report.verdict == COULD_NOT_VERIFY
    assert "does not run on generated inputs" in report.reason


def test_fixed_model_that_does_not_load_fails() -> None:
    fixed = add_model()
    fixed.graph.node[1].input[1] = "nowhere"
    report = verify_models(add_model(), fixed)
    assert report.verdict == FAILED
    assert report.reason.startswith("the fixed model does not run: ")


def test_fixed_model_that_fails_at_run_time_fails() -> None:
    original = parse("g (float[6] x) => (float[?] y) { y = Identity(x) }")
    # Loads fine; fails once it runs: 6 elements cannot be reshaped to [7].
    fixed = parse(
        """
        g (float[6] x) => (float[?] y) {
            s = Shape(x)
            one = Constant <value = int64[1] {1}> ()
            t = Add(s, one)
            y = Reshape(x, t)
        }"""
    )
    report = verify_models(original, fixed)
    assert report.verdict == FAILED
    assert "the fixed model does not run" in report.reason


def test_changed_interface_fails_before_running() -> None:
    report = verify_models(add_model(name="y"), add_model(name="z"))
    assert report.verdict == FAILED
    assert report.reason.startswith("the interface changed: ")


def test_model_over_protobuf_limit_could_not_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "_PROTOBUF_LIMIT", 16)
    report = verify_models(add_model(), add_model())
    assert report.verdict == COULD_NOT_VERIFY
    assert "2 GB" in report.reason


def test_non_tensor_input_could_not_verify() -> None:
    model = parse("g (seq(float[2]) xs) => (int64 n) { n = SequenceLength(xs) }")
    report = verify_models(model, model)
    assert report.verdict == COULD_NOT_VERIFY
    assert "'xs'" in report.reason


# ------------------------------------------------------------------ random ops


def random_model(seed: float, scale: float = 2.0) -> onnx.ModelProto:
    return parse(
        f"""
        g (float[3] x) => (float[3] noisy, float[3] clean) {{
            r = RandomNormal <shape = [3], seed = {seed!r}> ()
            noisy = Add(x, r)
            s = Constant <value = float[1] {{{scale!r}}}> ()
            clean = Mul(x, s)
        }}"""
    )


def test_random_output_is_not_compared_numerically() -> None:
    report = verify_models(random_model(1.0), random_model(2.0))
    assert report.verdict == PASSED, report.reason
    assert "1 output compared" in report.reason
    assert "1 random-dependent" in report.reason


def test_deterministic_output_beside_random_one_is_compared() -> None:
    report = verify_models(random_model(1.0), random_model(1.0, scale=3.0))
    assert report.verdict == FAILED
    assert report.output == "clean"


def test_random_output_shape_is_still_checked() -> None:
    fixed = parse(
        """
        g (float[3] x) => (float[3] noisy, float[3] clean) {
            noisy = RandomNormal <shape = [1], seed = 1.0> ()
            s = Constant <value = float[1] {2.0}> ()
            clean = Mul(x, s)
        }"""
    )
    report = verify_models(random_model(1.0), fixed)
    assert report.verdict == FAILED
    assert report.output == "noisy"
    assert "shape (3,) vs (1,)" in report.reason


def if_model(seed: float, outer: bool) -> onnx.ModelProto:
    """An If whose branches draw random numbers, or read an outer random value."""

    def branch(name: str, op: str) -> onnx.GraphProto:
        if outer:
            nodes = [helper.make_node(op, ["r"], [name])]
        else:
            nodes = [helper.make_node("RandomUniform", [], [name], shape=[2], seed=seed)]
        return helper.make_graph(
            nodes, name, [], [helper.make_tensor_value_info(name, TensorProto.FLOAT, [2])]
        )

    nodes = []
    if outer:
        nodes.append(helper.make_node("RandomUniform", [], ["r"], shape=[2], seed=seed))
    nodes.append(
        helper.make_node(
            "If",
            ["c"],
            ["y"],
            then_branch=branch("t", "Identity"),
            else_branch=branch("e", "Neg"),
        )
    )
    nodes.append(helper.make_node("Identity", ["y"], ["z"]))
    return make(
        nodes,
        [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
    )


@pytest.mark.parametrize("outer", [False, True])
def test_random_ops_inside_or_read_by_subgraphs_taint_outputs(outer: bool) -> None:
    report = verify_models(if_model(1.0, outer), if_model(2.0, outer))
    assert report.verdict == PASSED, report.reason
    assert "0 outputs compared" in report.reason


# ------------------------------------------------------------------ input generation


def gather_model(ids_type: str = "int64", cast: bool = False) -> onnx.ModelProto:
    table = numpy_helper.from_array(np.arange(200, dtype=np.float32).reshape(50, 4), "table")
    nodes = []
    ids = "ids"
    if cast:
        nodes.append(helper.make_node("Cast", ["ids"], ["ids64"], to=TensorProto.INT64))
        nodes.append(helper.make_node("Unsqueeze", ["ids64", "axes"], ["ids_u"]))
        ids = "ids_u"
    nodes.append(helper.make_node("Gather", ["table", ids], ["y"]))
    elem = TensorProto.INT32 if ids_type == "int32" else TensorProto.INT64
    inits = [table, numpy_helper.from_array(np.array([0], dtype=np.int64), "axes")]
    return make(
        nodes,
        [helper.make_tensor_value_info("ids", elem, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )


def test_gather_indices_stay_in_range_and_cover_the_table() -> None:
    model = gather_model()
    seen: set[int] = set()
    for seed in range(10):
        settings = VerifySettings(seed=seed, samples=2)
        report = verify_models(model, model, settings)
        assert report.verdict == PASSED, report.reason
        ids = generate_inputs(model, settings, 0)["ids"]
        assert ids.dtype == np.int64
        assert ids.min() >= 0
        assert ids.max() < 50
        seen.update(int(v) for v in ids.ravel())
    assert max(seen) > 3
    assert len(seen) > 20


def test_gather_indices_found_through_cast_and_unsqueeze() -> None:
    model = gather_model("int32", cast=True)
    ids = generate_inputs(model, VerifySettings(seed=3), 0)["ids"]
    assert ids.dtype == np.int32
    assert 3 < ids.max() < 50
    assert verify_models(model, model).verdict == PASSED


def test_gather_axis_and_minimum_over_uses() -> None:
    wide = numpy_helper.from_array(np.zeros((4, 50), dtype=np.float32), "wide")
    small = numpy_helper.from_array(np.zeros((10, 4), dtype=np.float32), "small")
    nodes = [
        helper.make_node("Gather", ["wide", "i"], ["a"], axis=-1),  # axis of size 50
        helper.make_node("Gather", ["wide", "j"], ["b"], axis=1),
        helper.make_node("Gather", ["small", "j"], ["c"]),  # and of size 10
    ]
    model = make(
        nodes,
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, [64]),
            helper.make_tensor_value_info("j", TensorProto.INT64, [64]),
        ],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in "abc"],
        [wide, small],
    )
    feeds = generate_inputs(model, VerifySettings(), 0)
    assert 10 <= feeds["i"].max() < 50
    assert 3 <= feeds["j"].max() < 10
    assert verify_models(model, model).verdict == PASSED


def test_other_integer_inputs_are_small_and_non_negative() -> None:
    model = parse("g (int64[100] mask) => (int64[100] y) { y = Identity(mask) }")
    values = generate_inputs(model, VerifySettings(), 0)["mask"]
    assert set(np.unique(values)) == {0, 1, 2}


def test_inputs_depend_on_seed_and_sample() -> None:
    model = add_model()
    a = generate_inputs(model, VerifySettings(seed=0), 1)["x"]
    b = generate_inputs(model, VerifySettings(seed=1), 0)["x"]
    c = generate_inputs(model, VerifySettings(seed=0), 0)["x"]
    np.testing.assert_array_equal(a, b)  # rng seed is seed + sample index
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32


def test_dynamic_dims_from_settings() -> None:
    model = parse(
        """
        g (float[batch, sequence, 4] x, float[N, ?] w) => (int64[3] shape, float[N, ?] v) {
            shape = Shape(x)
            v = Identity(w)
        }"""
    )
    settings = VerifySettings(dims={"batch": 2, "sequence": 5}, default_dim=3)
    feeds = generate_inputs(model, settings)
    assert feeds["x"].shape == (2, 5, 4)
    assert feeds["w"].shape == (3, 3)

    settings = VerifySettings(dims={"batch": 2, "N": 1}, shapes={"x": (1, 7, 4)})
    feeds = generate_inputs(model, settings)
    assert feeds["x"].shape == (1, 7, 4)
    assert feeds["w"].shape == (1, 2)
    assert verify_models(model, model, settings).verdict == PASSED


def test_configured_shape_of_wrong_rank_could_not_verify() -> None:
    settings = VerifySettings(shapes={"x": (2, 3, 4)})
    report = verify_models(add_model(), add_model(), settings)
    assert report.verdict == COULD_NOT_VERIFY
    assert "rank" in report.reason
    with pytest.raises(ValueError, match="rank"):
        generate_inputs(add_model(), settings)


def overridable(default: float) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.full((2,), default, dtype=np.float32), "w")
    return make(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("w", TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [w],
    )


def test_overridable_initializer_inputs_are_not_fed() -> None:
    assert set(generate_inputs(overridable(1.0))) == {"x"}
    assert verify_models(overridable(1.0), overridable(1.0)).verdict == PASSED
    # The defaults are what runs, so changing one is a different computation.
    report = verify_models(overridable(1.0), overridable(1.5))
    assert report.verdict == FAILED
    assert report.output == "y"


# ------------------------------------------------------------------ check_interface


def two_inputs(order: str = "ab", elem: str = "float", rank: int = 1) -> onnx.ModelProto:
    dims = ", ".join(["4"] * rank)
    decl = {"a": f"{elem}[{dims}] a", "b": f"{elem}[{dims}] b"}
    inputs = ", ".join(decl[n] for n in order)
    return parse(f"g ({inputs}) => ({elem}[{dims}] y) {{ y = Add(a, b) }}")


def test_check_interface_same_is_none() -> None:
    assert check_interface(two_inputs(), two_inputs()) is None
    assert check_interface(overridable(1.0), overridable(2.0)) is None


def test_check_interface_renamed_output() -> None:
    message = check_interface(add_model(name="y"), add_model(name="out"))
    assert message == "output 'y' is missing from the fixed model"


def test_check_interface_reordered_inputs() -> None:
    message = check_interface(two_inputs("ab"), two_inputs("ba"))
    assert message is not None
    assert message.startswith("inputs are reordered: input 0 is 'a'")


def test_check_interface_changed_element_type() -> None:
    message = check_interface(two_inputs(), two_inputs(elem="double"))
    assert message == "input 'a': element type float in the original but double in the fixed model"


def test_check_interface_changed_rank_and_dims() -> None:
    message = check_interface(two_inputs(rank=1), two_inputs(rank=2))
    assert message == "input 'a': rank 1 in the original but 2 in the fixed model"
    dynamic = parse("g (float[N] x) => (float[N] y) { y = Identity(x) }")
    static = parse("g (float[N] x) => (float[4] y) { y = Identity(x) }")
    assert check_interface(dynamic, static) == (
        "output 'y': dim 0 is 'N' in the original but 4 in the fixed model"
    )


def test_check_interface_initializer_inputs_are_part_of_it() -> None:
    fixed = overridable(1.0)
    del fixed.graph.input[1]
    assert check_interface(overridable(1.0), fixed) == "input 'w' is missing from the fixed model"
    required = overridable(1.0)
    del required.graph.initializer[:]
    message = check_interface(overridable(1.0), required)
    assert message == (
        "input 'w' has an initializer default in the original but is required in the fixed model"
    )


# ------------------------------------------------------------------ check_model_valid


def test_check_model_valid() -> None:
    assert check_model_valid(add_model()) is None
    broken = add_model()
    broken.graph.node[1].input[1] = "undefined_name"
    message = check_model_valid(broken)
    assert message is not None
    assert "undefined_name" in message
    assert "\n" not in message


def test_a_weight_made_constant_compares_bit_for_bit() -> None:
    """Folding Transpose(W) into a constant W^T changes how onnxruntime runs MatMul
    (constant weights are prepacked); verification turns prepacking off, so the
    exact comparison sees the graphs' values, not kernel choices."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((768, 3072)).astype(np.float32)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16, 768])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16, 3072])
    original = helper.make_model(
        helper.make_graph(
            [
                helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
                helper.make_node("MatMul", ["x", "wt"], ["y"]),
            ],
            "g",
            [x],
            [y],
            [numpy_helper.from_array(np.ascontiguousarray(weight.T), "w")],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    folded = helper.make_model(
        helper.make_graph(
            [helper.make_node("MatMul", ["x", "wt"], ["y"])],
            "g",
            [x],
            [y],
            [numpy_helper.from_array(weight, "wt")],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    report = verify_models(original, folded, exact=True)
    assert report.passed and report.max_diff == 0.0, report
