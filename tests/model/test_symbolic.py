"""model/symbolic: dims as symbols, shape tensors followed by value, on helper-made
graphs with dynamic dims and on the dynamic-axes exports in tests/models/dynamic/.

On the exports every claim is checked against onnxruntime: each intermediate value is
made a graph output and run at two sets of dims, and every dim and shape-tensor element
the analysis knows (symbols bound to the run's dims) must be what onnxruntime computed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.model.symbolic import (
    MAX_TERMS,
    MAX_VALUE_LENGTH,
    Dim,
    SymbolicShapes,
    add,
    exact_div,
    mul,
    sub,
    symbol,
)

DYNAMIC = Path(__file__).resolve().parent.parent / "models" / "dynamic"
MANIFEST = json.loads((DYNAMIC / "MANIFEST.json").read_text())["models"]

F, I64 = TensorProto.FLOAT, TensorProto.INT64
B, S = symbol("batch"), symbol("seq")


def analyze(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[str],
    initializers: Sequence[onnx.TensorProto] = (),
) -> SymbolicShapes:
    graph = helper.make_graph(
        nodes,
        "g",
        inputs,
        [helper.make_empty_tensor_value_info(name) for name in outputs],
        initializer=list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    return SymbolicShapes.analyze(ModelIndex.build(model))


def ints(name: str, values: Sequence[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def scalar(name: str, value: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, dtype=np.int64), name)


def x_input(*dims: int | str | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("x", F, list(dims))


# -- expressions ---------------------------------------------------------------------


def test_expressions_have_one_normal_form() -> None:
    assert add(B, S) == add(S, B)
    assert mul(B, S) == mul(S, B)
    assert sub(add(B, 3), 3) == B
    assert sub(B, B) == 0
    assert mul(add(B, 1), 2) == add(mul(B, 2), 2)
    assert str(add(mul(B, S), -1)) == "-1 + batch*seq"
    assert isinstance(sub(add(B, 5), B), int)


def test_division_is_exact_or_unknown() -> None:
    assert exact_div(mul(mul(B, S), 64), 16) == mul(mul(B, S), 4)
    assert exact_div(mul(B, S), S) == B
    assert exact_div(add(mul(B, 4), 2), 2) == add(mul(B, 2), 1)
    assert exact_div(add(B, 1), 2) is None  # floor and true division would differ
    assert exact_div(B, S) is None
    assert exact_div(mul(B, S), add(S, 1)) is None  # a divisor of two terms


def test_expressions_are_bounded() -> None:
    terms: Dim | None = 0
    for position in range(MAX_TERMS + 1):
        terms = None if terms is None else add(terms, symbol(f"d{position}"))
    assert terms is None
    assert mul(mul(mul(mul(B, B), B), B), B) is None  # degree 5


# -- shape tensors followed by value ---------------------------------------------------


def test_gather_of_shape_is_static_where_the_dim_is() -> None:
    sym = analyze(
        [
            helper.make_node("Shape", ["x"], ["s"]),
            helper.make_node("Gather", ["s", "two"], ["d2"], axis=0),
            helper.make_node("Gather", ["s", "zero"], ["d0"], axis=0),
            helper.make_node("Gather", ["s", "last"], ["dl"], axis=0),
        ],
        [x_input("batch", "seq", 64)],
        ["d2", "d0", "dl"],
        [scalar("two", 2), scalar("zero", 0), scalar("last", -1)],
    )
    assert sym.value("s") == (B, S, 64)
    assert sym.constant_value("d2") == (64,)
    assert sym.shape("d2") == ()
    assert sym.value("d0") == (B,)
    assert sym.constant_value("d0") is None
    assert sym.constant_value("dl") == (64,)
    assert [ref.node.input[1] for ref in sym.foldable()] == ["two", "last"]


def test_shape_start_and_end() -> None:
    sym = analyze(
        [
            helper.make_node("Shape", ["x"], ["tail"], start=-2),
            helper.make_node("Shape", ["x"], ["head"], end=1),
            helper.make_node("Shape", ["x"], ["none"], start=3, end=1),
        ],
        [x_input("batch", 12, 64)],
        ["tail", "head", "none"],
    )
    assert sym.constant_value("tail") == (12, 64)
    assert sym.value("head") == (B,)
    assert sym.value("none") == ()
    assert sym.shape("none") == (0,)


def test_concat_of_known_pieces_is_constant_and_mixed_names_its_symbols() -> None:
    sym = analyze(
        [
            helper.make_node("Shape", ["x"], ["s"]),
            helper.make_node("Slice", ["s", "one", "three"], ["static_part"]),
            helper.make_node("Concat", ["static_part", "minus_one"], ["known"], axis=0),
            helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
            helper.make_node("Unsqueeze", ["b", "zero_axis"], ["b1"]),
            helper.make_node("Concat", ["b1", "static_part"], ["mixed"], axis=0),
        ],
        [x_input("batch", 4, 16)],
        ["known", "mixed"],
        [
            ints("one", [1]),
            ints("three", [3]),
            ints("minus_one", [-1]),
            scalar("zero", 0),
            ints("zero_axis", [0]),
        ],
    )
    assert sym.constant_value("known") == (4, 16, -1)
    mixed = sym.value("mixed")
    assert mixed == (B, 4, 16)
    assert [isinstance(v, int) for v in mixed] == [False, True, True]
    assert Counter(ref.node.op_type for ref in sym.foldable()) == {"Slice": 1, "Concat": 1}


def test_arithmetic_on_shape_values() -> None:
    sym = analyze(
        [
            helper.make_node("Shape", ["x"], ["s"]),
            helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
            helper.make_node("Gather", ["s", "one"], ["n"], axis=0),
            helper.make_node("Mul", ["b", "n"], ["tokens"]),
            helper.make_node("Div", ["n", "four"], ["quarter"]),
            helper.make_node("Sub", ["n", "n"], ["nothing"]),
            helper.make_node("Add", ["s", "one"], ["plus_one"]),
            helper.make_node("Cast", ["tokens"], ["as_float"], to=F),
        ],
        [x_input("batch", "seq", 8)],
        ["tokens", "quarter", "nothing", "plus_one", "as_float"],
        [scalar("zero", 0), scalar("one", 1), scalar("four", 4)],
    )
    assert sym.value("tokens") == (mul(B, S),)
    assert sym.value("quarter") is None  # seq / 4 need not divide
    assert sym.constant_value("nothing") == (0,)
    assert sym.value("plus_one") == (add(B, 1), add(S, 1), 9)
    assert sym.value("as_float") is None  # only integer tensors are followed


def test_values_are_bounded_and_large_constants_never_read() -> None:
    long = ints("long", list(range(MAX_VALUE_LENGTH + 1)))
    sym = analyze(
        [
            helper.make_node("Range", ["zero", "big", "one"], ["r"]),
            helper.make_node("Identity", ["long"], ["copy"]),
        ],
        [x_input(2)],
        ["r", "copy"],
        [scalar("zero", 0), scalar("big", 1000), scalar("one", 1), long],
    )
    assert sym.shape("r") == (1000,)
    assert sym.value("r") is None
    assert sym.value("long") is None and sym.shape("long") == (MAX_VALUE_LENGTH + 1,)
    assert sym.value("copy") is None


# -- shapes ---------------------------------------------------------------------------


def test_reshape_resolves_zero_and_minus_one_symbolically() -> None:
    sym = analyze(
        [
            helper.make_node("Reshape", ["x", "flat"], ["tokens"]),
            helper.make_node("Reshape", ["x", "heads"], ["split_heads"]),
            helper.make_node("Transpose", ["split_heads"], ["t"], perm=[0, 2, 1, 3]),
            helper.make_node("MatMul", ["t", "w"], ["m"]),
        ],
        [x_input("batch", "seq", 64)],
        ["tokens", "m"],
        [
            ints("flat", [-1, 64]),
            ints("heads", [0, 0, 4, -1]),
            numpy_helper.from_array(np.zeros((16, 8), np.float32), "w"),
        ],
    )
    assert sym.shape("tokens") == (mul(B, S), 64)
    assert sym.shape("split_heads") == (B, S, 4, 16)
    assert sym.shape("t") == (B, 4, S, 16)
    assert sym.shape("m") == (B, 4, S, 8)


def test_reshape_target_from_the_input_own_shape_becomes_constant() -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "zero1", "two"], ["lead"]),
        helper.make_node("Concat", ["lead", "heads"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
        helper.make_node("Reshape", ["x", "target"], ["z"], allowzero=1),
    ]
    sym = analyze(
        nodes,
        [x_input("batch", "seq", 64)],
        ["y", "z"],
        [ints("zero1", [0]), ints("two", [2]), ints("heads", [4, 16])],
    )
    assert sym.value("target") == (B, S, 4, 16)
    assert sym.shape("y") == (B, S, 4, 16)
    assert sym.constant_reshape_target(nodes[3]) == (0, 0, 4, 16)
    # allowzero: 0 would mean a zero dim, so only one symbol can go, as -1
    assert sym.constant_reshape_target(nodes[4]) is None


def test_reshape_target_with_one_symbol_left_uses_minus_one() -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
        helper.make_node("Unsqueeze", ["b", "axis0"], ["b1"]),
        helper.make_node("Concat", ["b1", "rest"], ["target"], axis=0),
        helper.make_node("Reshape", ["flat", "target"], ["y"]),
    ]
    sym = analyze(
        nodes,
        [x_input("batch", 64), helper.make_tensor_value_info("flat", F, ["n"])],
        ["y"],
        [scalar("zero", 0), ints("axis0", [0]), ints("rest", [4, 16])],
    )
    assert sym.constant_reshape_target(nodes[4]) == (-1, 4, 16)


def test_equal_symbols_prove_expand_and_reshape_noops() -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Expand", ["x", "s"], ["same"]),
        helper.make_node("Expand", ["x", "ones"], ["ones_only"]),
        helper.make_node("Expand", ["x", "wider"], ["grown"]),
        helper.make_node("Reshape", ["x", "s"], ["reshaped"]),
        helper.make_node("Expand", ["x", "other_shape"], ["onto_y"]),
    ]
    sym = analyze(
        nodes,
        [x_input("batch", "seq", 64), helper.make_tensor_value_info("y", F, [None, "seq", 64])],
        ["same", "ones_only", "grown", "reshaped", "onto_y"],
        [ints("ones", [1, 1]), ints("wider", [2, 1, 1, 1])],
    )
    assert sym.expand_is_noop(nodes[1])
    assert sym.expand_is_noop(nodes[2])
    assert not sym.expand_is_noop(nodes[3])
    assert sym.reshape_is_noop(nodes[4])
    assert sym.same_shape("x", "same")
    assert not sym.expand_is_noop(nodes[5])  # its target is not known


def test_unnamed_dims_are_fresh_and_shared_names_are_equal() -> None:
    sym = analyze(
        [helper.make_node("Identity", ["a"], ["a2"])],
        [
            helper.make_tensor_value_info("a", F, [None, 3]),
            helper.make_tensor_value_info("b", F, [None, 3]),
            helper.make_tensor_value_info("c", F, ["n", 3]),
            helper.make_tensor_value_info("d", F, ["n", 3]),
        ],
        ["a2"],
    )
    assert not sym.same_shape("a", "b")
    assert sym.same_shape("a", "a2")
    assert sym.same_shape("c", "d")


def test_a_bounded_slice_of_a_symbolic_dim_is_unknown() -> None:
    sym = analyze(
        [
            helper.make_node("Slice", ["x", "zero", "five", "one"], ["first5"]),
            helper.make_node("Slice", ["x", "zero", "huge", "one"], ["all"]),
            helper.make_node("Slice", ["x", "one", "huge", "one"], ["but_first"]),
        ],
        [x_input(8, "seq")],
        ["first5", "all", "but_first"],
        [ints("zero", [0]), ints("five", [5]), ints("one", [1]), ints("huge", [2**63 - 1])],
    )
    first5, whole, rest = sym.shape("first5"), sym.shape("all"), sym.shape("but_first")
    assert first5 is not None and first5[0] == 8 and first5[1] not in (S, 5)
    assert whole == (8, S)
    assert rest is not None and rest[1] != sub(S, 1)  # seq may be 0: unknown


def test_broadcast_matmul_gemm_conv_and_pool_shapes() -> None:
    sym = analyze(
        [
            helper.make_node("Add", ["x", "bias"], ["added"]),
            helper.make_node("Conv", ["img", "k"], ["conv"], strides=[2, 2], pads=[1, 1, 1, 1]),
            helper.make_node("MaxPool", ["conv"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("GlobalAveragePool", ["pool"], ["gap"]),
            helper.make_node("Flatten", ["gap"], ["flat"]),
            helper.make_node("Gemm", ["flat", "fc"], ["logits"], transB=1),
            helper.make_node("Softmax", ["logits"], ["probs"]),
            helper.make_node("ReduceMean", ["x", "axes"], ["mean"], keepdims=0),
        ],
        [x_input("batch", 1, 64), helper.make_tensor_value_info("img", F, ["batch", 3, 32, 32])],
        ["added", "probs", "mean"],
        [
            numpy_helper.from_array(np.zeros((5, 64), np.float32), "bias"),
            numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "k"),
            numpy_helper.from_array(np.zeros((10, 8), np.float32), "fc"),
            ints("axes", [-1]),
        ],
    )
    assert sym.shape("added") == (B, 5, 64)
    assert sym.shape("conv") == (B, 8, 16, 16)
    assert sym.shape("pool") == (B, 8, 8, 8)
    assert sym.shape("flat") == (B, 8)
    assert sym.shape("probs") == (B, 10)
    assert sym.shape("mean") == (B, 1)


# -- the dynamic-axes exports ------------------------------------------------------------

# What a folding rule could use, per export: nodes whose outputs are known integer
# constants, and Reshape/Expand nodes proven to be no-ops. The serving exports were
# constant-folded by the exporter's optimizer, so what is left is mostly symbolic.
EXPECTED = {
    "bert_dynamo.onnx": ({"Slice": 2}, {}),
    "gpt2_dynamo.onnx": ({"Slice": 2}, {"Reshape": 3}),
    "whisper_decoder_dynamo.onnx": ({"Slice": 4}, {"Reshape": 4, "Expand": 2}),
}


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_dynamic_export_foldable_nodes_and_noops(name: str) -> None:
    index = ModelIndex.build(onnx.load(DYNAMIC / name))
    sym = SymbolicShapes.analyze(index)
    noops = Counter(
        ref.node.op_type
        for ref in index.nodes()
        if sym.expand_is_noop(ref.node) or sym.reshape_is_noop(ref.node)
    )
    foldable = Counter(ref.node.op_type for ref in sym.foldable())
    assert (dict(foldable), dict(noops)) == EXPECTED[name]
    # Shape -> Gather/Slice pieces: the known ones are the static dims
    concats = [ref for ref in index.nodes() if ref.node.op_type == "Concat"]
    mixed = [ref for ref in concats if sym.value(ref.node.output[0]) is not None]
    assert mixed and all(sym.constant_value(ref.node.output[0]) is None for ref in mixed)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_dynamic_export_claims_match_onnxruntime(name: str) -> None:
    model = onnx.load(DYNAMIC / name)
    sym = SymbolicShapes.analyze(ModelIndex.build(model))
    entry = MANIFEST[name]
    for dims in (entry["dims"], entry["ort_check"]["alt_dims"]):
        checked = _compare_with_onnxruntime(model, sym, dims)
        assert checked > 200


def _compare_with_onnxruntime(
    model: onnx.ModelProto, sym: SymbolicShapes, dims: Mapping[str, int]
) -> int:
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    declared = {value.name for value in probe.graph.output}
    for node in model.graph.node:
        for name in node.output:
            if name and name not in declared:
                probe.graph.output.append(helper.make_empty_tensor_value_info(name))
    feeds = {}
    for value in model.graph.input:
        tensor_type = value.type.tensor_type
        shape = [d.dim_value or dims[d.dim_param] for d in tensor_type.shape.dim]
        dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
        feeds[value.name] = np.ones(shape, dtype) if dtype.kind == "i" else np.zeros(shape, dtype)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    names = [value.name for value in probe.graph.output]
    checked = 0
    for name, array in zip(names, session.run(None, feeds), strict=True):
        shape = sym.shape(name)
        assert shape is not None and len(shape) == array.ndim, name
        for dim, actual in zip(shape, array.shape, strict=True):
            bound = _bind(dim, dims)
            if bound is not None:
                assert bound == actual, (name, shape, array.shape)
                checked += 1
        value = sym.value(name)
        if value is not None:
            flat = array.reshape(-1).tolist()
            assert len(value) == len(flat), name
            for element, actual in zip(value, flat, strict=True):
                bound = _bind(element, dims)
                assert bound is None or bound == actual, (name, value, flat)
    return checked


def _bind(dim: Dim, dims: Mapping[str, int]) -> int | None:
    """The dim's size when its symbols are the run's dims; None for a fresh symbol."""
    if isinstance(dim, int):
        return dim
    total = 0
    for monomial, coefficient in dim.terms:
        term = coefficient
        for atom in monomial:
            if atom not in dims:
                return None
            term *= dims[atom]
        total += term
    return total


def test_recurrent_outputs_carry_the_batch_and_seq_symbols() -> None:
    w = numpy_helper.from_array(np.zeros((2, 16, 3), np.float32), "W")
    r = numpy_helper.from_array(np.zeros((2, 16, 4), np.float32), "R")
    nodes = [
        helper.make_node(
            "LSTM", ["x", "W", "R"], ["y", "yh", "yc"], hidden_size=4, direction="bidirectional"
        ),
        helper.make_node(
            "DynamicQuantizeLSTM", ["x"], ["q"], domain="com.microsoft", hidden_size=8
        ),
    ]
    sym = analyze(nodes, [x_input("seq", "batch", 3)], ["y", "yh", "yc", "q"], [w, r])
    assert sym.shape("y") == (S, 2, B, 4)
    assert sym.shape("yh") == sym.shape("yc") == (2, B, 4)
    assert sym.shape("q") == (S, 1, B, 8)


def test_fills_follow_zeros_and_tell_minus_zero_apart() -> None:
    zero = numpy_helper.from_array(np.array(0.0, np.float32), "zero")
    minus = numpy_helper.from_array(np.array(-0.0, np.float32), "minus")
    mixed = numpy_helper.from_array(np.array([0.0, 1.0], np.float32), "mixed")
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("ConstantOfShape", ["s"], ["c"]),
        helper.make_node("Expand", ["zero", "s"], ["e"]),
        helper.make_node("Concat", ["c", "e"], ["both"], axis=0),
        helper.make_node("Cast", ["both"], ["ints"], to=TensorProto.INT32),
        helper.make_node("Expand", ["minus", "s"], ["m"]),
        helper.make_node("Concat", ["c", "m"], ["signs"], axis=0),
        helper.make_node("Expand", ["mixed", "s"], ["n"]),
        helper.make_node("Relu", ["c"], ["r"]),
    ]
    outputs = ["c", "e", "both", "ints", "m", "signs", "n", "r"]
    sym = analyze(nodes, [x_input("batch", 2)], outputs, [zero, minus, mixed])
    assert all(sym.is_zeros(name) for name in ("c", "e", "both", "ints"))
    assert sym.fill("m") == 0.0 and not sym.is_zeros("m")
    assert sym.fill("signs") is None  # +0.0 beside -0.0: not one number
    assert sym.fill("n") is None and sym.fill("r") is None  # not followed through Relu
