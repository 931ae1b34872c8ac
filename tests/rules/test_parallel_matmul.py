"""OSL407 parallel-matmul: MatMuls of one input by constant weights, merged."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import partial

import fusion_models
import graphs
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.rules.parallel_matmul import ParallelMatMul

check = partial(graphs.check, ParallelMatMul)


def fixed_ok(model: onnx.ModelProto) -> onnx.ModelProto:
    """The rule's fix (numeric: applied as with --unsafe-fixes), valid, same interface,
    not larger, nothing left to report, outputs within tolerance in onnxruntime."""
    return fusion_models.fixed_ok(ParallelMatMul, model)


def untouched(model: onnx.ModelProto) -> None:
    assert check(model) == []
    assert ParallelMatMul().run(model) == model


ROLES = ("query", "key", "value", "extra")
X = "/encoder/layer.0/attention/LayerNorm_output_0"


def _prefix(role: str, layer: int = 0) -> str:
    return f"/encoder/layer.{layer}/attention/self/{role}"


def attention(
    x_shape: Sequence[int | str] = (1, 3, 4),
    ns: Sequence[int] = (4, 4, 4),
    bias: Sequence[bool | tuple[int, ...]] = (True, True, True),
    *,
    opset: int = 17,
    seed: int = 0,
    scale: float = 1.0,
    k: int | None = None,
    layer: int = 0,
    x: str = X,
) -> onnx.ModelProto:
    """Projections of one input as the legacy torch exporter names them.

    Member ``i`` is ``MatMul(x, W_i)``, then ``Add`` of a bias when ``bias[i]`` (a
    1-D ``[n]`` bias for ``True``, that shape for a tuple), then a ``Relu`` whose
    output is a graph output. The members are interleaved with their readers.
    """
    rng = np.random.default_rng(seed)
    k = k if k is not None else int(x_shape[-1])
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    outputs: list[onnx.ValueInfoProto] = []
    for i, (n, b) in enumerate(zip(ns, bias, strict=True)):
        role = ROLES[i]
        prefix = _prefix(role, layer)
        w = weight(i, layer)
        inits.append(numpy_helper.from_array(rng.normal(0, scale, (k, n)).astype(np.float32), w))
        value = f"{prefix}/MatMul_output_0"
        nodes.append(helper.make_node("MatMul", [x, w], [value], f"{prefix}/MatMul"))
        if b:
            shape = (n,) if b is True else b
            name = f"encoder.layer.{layer}.attention.self.{role}.bias"
            inits.append(numpy_helper.from_array(rng.normal(0, 1, shape).astype(np.float32), name))
            added = f"{prefix}/Add_output_0"
            nodes.append(helper.make_node("Add", [name, value], [added], f"{prefix}/Add"))
            value = added
        out = f"{role}_out" if layer == 0 else f"{role}_out_{layer}"
        nodes.append(helper.make_node("Relu", [value], [out], f"{prefix}/Relu"))
        shape = [*x_shape[:-1], n]
        if isinstance(b, tuple):
            shape = list(np.broadcast_shapes(tuple(shape), b))  # type: ignore[arg-type]
        outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, shape))
    graph = helper.make_graph(
        nodes,
        "attention",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, list(x_shape))],
        outputs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def ops(model: onnx.ModelProto) -> Counter[str]:
    return Counter(node.op_type for node in model.graph.node)


def init(model: onnx.ModelProto, name: str) -> np.ndarray:
    tensor = next(t for t in model.graph.initializer if t.name == name)
    return numpy_helper.to_array(tensor)


def weight(i: int, layer: int = 0) -> str:
    return f"onnx::MatMul_{1660 + 10 * layer + i}"


# -- found and fixed --------------------------------------------------------------------


def test_three_projections_with_biases_become_three_nodes() -> None:
    model = attention()
    (finding,) = check(model)
    assert finding.nodes == 3
    assert finding.count == 3
    assert finding.message.startswith("1 group of parallel MatMuls on one input (3 nodes")
    (location,) = finding.locations
    assert location.kind == "node"
    assert location.name == f"{_prefix('query')}/MatMul"
    assert location.graph == "main"
    assert location.detail == f"3 MatMuls + 3 bias Adds on {X}"
    fixed = fixed_ok(model)
    assert ops(fixed) == {"MatMul": 1, "Add": 1, "Split": 1, "Relu": 3}
    matmul, add, split = fixed.graph.node[:3]
    assert (matmul.op_type, add.op_type, split.op_type) == ("MatMul", "Add", "Split")
    # The new MatMul is the first member's node: its name stays.
    assert matmul.name == f"{_prefix('query')}/MatMul"
    assert matmul.input[0] == X
    assert init(fixed, matmul.input[1]).shape == (4, 12)
    assert init(fixed, add.input[0]).shape == (12,)
    assert add.input[1] == matmul.output[0]  # bias first, as in the original Adds
    assert list(split.output) == [f"{_prefix(r)}/Add_output_0" for r in ROLES[:3]]
    assert list(init(fixed, split.input[1])) == [4, 4, 4]
    assert [a.i for a in split.attribute if a.name == "axis"] == [-1]
    # The old weights and biases are gone, the merged ones hold their values.
    assert graphs.initializer_names(fixed) == {matmul.input[1], add.input[0], split.input[1]}
    merged = init(fixed, matmul.input[1])
    for i in range(3):
        np.testing.assert_array_equal(merged[:, 4 * i : 4 * i + 4], init(model, weight(i)))


def test_two_projections_with_biases_are_a_gain() -> None:
    model = attention(ns=(4, 6), bias=(True, True))
    (finding,) = check(model)
    assert finding.nodes == 1
    fixed = fixed_ok(model)
    assert ops(fixed) == {"MatMul": 1, "Add": 1, "Split": 1, "Relu": 2}


def test_a_member_without_bias_keeps_the_other_adds_after_the_split() -> None:
    # 3 MatMuls + 2 Adds -> MatMul, Split and the 2 Adds: padding the merged bias with
    # zeros for the key would add data to save one node.
    model = attention(ns=(4, 4, 4), bias=(True, False, True))
    (finding,) = check(model)
    assert finding.nodes == 1
    assert finding.locations[0].detail == f"3 MatMuls on {X}"
    fixed = fixed_ok(model)
    assert ops(fixed) == {"MatMul": 1, "Split": 1, "Add": 2, "Relu": 3}
    split = next(n for n in fixed.graph.node if n.op_type == "Split")
    assert list(split.output) == [f"{_prefix(r)}/MatMul_output_0" for r in ROLES[:3]]
    adds = [n for n in fixed.graph.node if n.op_type == "Add"]
    assert {a.output[0] for a in adds} == {f"{_prefix(r)}/Add_output_0" for r in ("query", "value")}
    assert all(a.input[0] in init_names(fixed) or a.input[1] in init_names(fixed) for a in adds)


def init_names(model: onnx.ModelProto) -> set[str]:
    return {t.name for t in model.graph.initializer}


def test_three_projections_without_biases() -> None:
    fixed = fixed_ok(attention(bias=(False, False, False)))
    assert ops(fixed) == {"MatMul": 1, "Split": 1, "Relu": 3}


def test_weights_from_constant_nodes() -> None:
    model = attention()
    graph = model.graph
    constants = []
    for tensor in list(graph.initializer):
        if tensor.name.startswith("onnx::MatMul"):
            constants.append(helper.make_node("Constant", [], [tensor.name], value=tensor))
    kept = [t for t in graph.initializer if not t.name.startswith("onnx::MatMul")]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend([*nodes[:2], *constants, *nodes[2:]])  # two after the first member
    (finding,) = check(model)
    assert finding.nodes == 6  # 3 Constant nodes go too
    fixed = fixed_ok(model)
    assert ops(fixed) == {"MatMul": 1, "Add": 1, "Split": 1, "Relu": 3}


def test_two_groups_share_the_split_sizes() -> None:
    first = attention()
    second = attention(seed=1, layer=1, x="query_sum")
    graph = first.graph
    graph.node.append(helper.make_node("Add", ["query_out", "key_out"], ["query_sum"], "sum"))
    graph.node.extend(second.graph.node)
    graph.initializer.extend(second.graph.initializer)
    graph.output.extend(second.graph.output)
    (finding,) = check(first)
    assert finding.message.startswith("2 groups of parallel MatMuls on one input (6 nodes")
    assert [loc.detail for loc in finding.locations] == [
        f"3 MatMuls + 3 bias Adds on {X}",
        "3 MatMuls + 3 bias Adds on query_sum",
    ]
    fixed = fixed_ok(first)
    splits = [n for n in fixed.graph.node if n.op_type == "Split"]
    assert len(splits) == 2
    assert splits[0].input[1] == splits[1].input[1]  # one int64 sizes initializer


def test_opset_11_puts_the_sizes_in_an_attribute() -> None:
    model = attention(ns=(4, 2, 3), opset=11)
    fixed = fixed_ok(model)
    split = next(n for n in fixed.graph.node if n.op_type == "Split")
    assert len(split.input) == 1
    attrs = {a.name: helper.get_attribute_value(a) for a in split.attribute}
    assert attrs == {"axis": -1, "split": [4, 2, 3]}


def test_matmul_output_that_is_a_graph_output_keeps_its_name() -> None:
    model = attention(bias=(False, True, True))
    q = f"{_prefix('query')}/MatMul_output_0"
    model.graph.output.insert(0, helper.make_tensor_value_info(q, TensorProto.FLOAT, [1, 3, 4]))
    fixed = fixed_ok(model)
    assert fixed.graph.output[0].name == q
    split = next(n for n in fixed.graph.node if n.op_type == "Split")
    assert split.output[0] == q


def test_matmul_output_read_by_its_add_and_a_graph_output() -> None:
    # The Add is not the only reader: it stays, reading the Split's output.
    model = attention()
    q = f"{_prefix('query')}/MatMul_output_0"
    model.graph.output.append(helper.make_tensor_value_info(q, TensorProto.FLOAT, [1, 3, 4]))
    for node in model.graph.node:
        node.doc_string = "x" * 40
    (finding,) = check(model)
    assert finding.locations[0].detail == f"3 MatMuls on {X}"
    fixed = fixed_ok(model)
    assert ops(fixed)["Add"] == 3
    split = next(n for n in fixed.graph.node if n.op_type == "Split")
    assert split.output[0] == q
    assert q in [o.name for o in fixed.graph.output]


def test_add_output_that_is_a_graph_output_keeps_its_name() -> None:
    model = attention()
    v = f"{_prefix('value')}/Add_output_0"
    model.graph.output.append(helper.make_tensor_value_info(v, TensorProto.FLOAT, [1, 3, 4]))
    fixed = fixed_ok(model)
    assert ops(fixed)["Split"] == 1
    assert v in next(n for n in fixed.graph.node if n.op_type == "Split").output


def test_bias_broadcasting_over_more_than_the_last_axis_is_not_merged() -> None:
    # key's bias [3, 4] broadcasts over the rows too: its Add stays after the Split.
    model = attention(bias=(True, (3, 4), True))
    (finding,) = check(model)
    assert finding.locations[0].detail == f"3 MatMuls on {X}"
    fixed = fixed_ok(model)
    assert ops(fixed)["Add"] == 3
    key_bias = "encoder.layer.0.attention.self.key.bias"
    add = next(n for n in fixed.graph.node if key_bias in n.input)
    assert f"{_prefix('key')}/MatMul_output_0" in add.input


def test_bias_with_more_axes_than_the_product_is_not_merged() -> None:
    model = attention(x_shape=(3, 4), bias=((1, 1, 4), True, True))
    (finding,) = check(model)
    assert finding.locations[0].detail == f"3 MatMuls on {X}"
    assert ops(fixed_ok(model))["Add"] == 3


def test_row_bias_is_merged() -> None:
    model = attention(bias=((1, 4), (1, 1, 4), True))
    (finding,) = check(model)
    assert finding.locations[0].detail == f"3 MatMuls + 3 bias Adds on {X}"
    fixed_ok(model)


def test_a_subgraph_reading_x_is_untouched() -> None:
    # The main graph's group merges; the If branch's MatMul on x stays as it is.
    model = attention()
    branch_weight = numpy_helper.from_array(np.ones((4, 4), np.float32), "branch_w")
    then = helper.make_graph(
        [helper.make_node("MatMul", [X, "branch_w"], ["then_y"], "then_mm")],
        "then",
        [],
        [helper.make_tensor_value_info("then_y", TensorProto.FLOAT, [1, 3, 4])],
        [branch_weight],
    )
    other = helper.make_graph(
        [helper.make_node("Identity", [X], ["else_y"], "else_id")],
        "else",
        [],
        [helper.make_tensor_value_info("else_y", TensorProto.FLOAT, [1, 3, 4])],
    )
    graph = model.graph
    graph.input.append(helper.make_tensor_value_info("cond", TensorProto.BOOL, []))
    graph.node.append(
        helper.make_node("If", ["cond"], ["if_y"], "if", then_branch=then, else_branch=other)
    )
    graph.output.append(helper.make_tensor_value_info("if_y", TensorProto.FLOAT, [1, 3, 4]))
    fixed = fixed_ok(model)
    assert ops(fixed)["Split"] == 1
    if_node = next(n for n in fixed.graph.node if n.op_type == "If")
    assert if_node.attribute[0].g == then or if_node.attribute[1].g == then


def test_matmuls_only_inside_a_subgraph_are_left_alone() -> None:
    inner = attention()
    graph = helper.make_graph(
        [
            helper.make_node(
                "If",
                ["cond"],
                ["q", "k", "v"],
                "if",
                then_branch=helper.make_graph(
                    inner.graph.node,
                    "then",
                    [],
                    inner.graph.output,
                    inner.graph.initializer,
                ),
                else_branch=helper.make_graph(
                    [helper.make_node("Relu", [X], [n], f"r{n}") for n in ("a", "b", "c")],
                    "else",
                    [],
                    [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 4]) for n in "abc"],
                ),
            )
        ],
        "g",
        [
            inner.graph.input[0],
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 4]) for n in "qkv"],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    untouched(model)


# -- left alone -------------------------------------------------------------------------


def _read_elsewhere(model: onnx.ModelProto) -> None:
    model.graph.node.append(helper.make_node("Relu", [weight(1)], ["w_relu"], "w_relu"))
    model.graph.output.append(helper.make_tensor_value_info("w_relu", TensorProto.FLOAT, [4, 4]))


def _overridable(model: onnx.ModelProto) -> None:
    model.graph.input.append(helper.make_tensor_value_info(weight(1), TensorProto.FLOAT, [4, 4]))


def _weight_is_graph_output(model: onnx.ModelProto) -> None:
    model.graph.output.append(helper.make_tensor_value_info(weight(1), TensorProto.FLOAT, [4, 4]))


def _weight_is_an_input(model: onnx.ModelProto) -> None:
    tensors = [t for t in model.graph.initializer if t.name != weight(1)]
    del model.graph.initializer[:]
    model.graph.initializer.extend(tensors)
    _overridable(model)


def _read_in_a_subgraph(model: onnx.ModelProto) -> None:
    branch = helper.make_graph(
        [helper.make_node("Identity", [weight(1)], ["b_y"], "b_id")],
        "b",
        [],
        [helper.make_tensor_value_info("b_y", TensorProto.FLOAT, [4, 4])],
    )
    model.graph.input.append(helper.make_tensor_value_info("cond", TensorProto.BOOL, []))
    model.graph.node.append(
        helper.make_node("If", ["cond"], ["if_y"], "if", then_branch=branch, else_branch=branch)
    )
    model.graph.output.append(helper.make_tensor_value_info("if_y", TensorProto.FLOAT, [4, 4]))


@pytest.mark.parametrize(
    "change",
    [
        _read_elsewhere,
        _overridable,
        _weight_is_graph_output,
        _weight_is_an_input,
        _read_in_a_subgraph,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_left_alone_when_a_weight_does_not_qualify(change) -> None:  # type: ignore[no-untyped-def]
    # Two qualifying members with biases would merge (4 nodes -> 3); with one of
    # them disqualified only one is left.
    model = attention(ns=(4, 4), bias=(True, True))
    assert check(model) != []
    change(model)
    untouched(model)


def test_only_two_matmuls_without_biases_are_left_alone() -> None:
    untouched(attention(ns=(4, 4), bias=(False, False)))


def test_different_first_dimension_is_left_alone() -> None:
    # Weights [4, n] and [5, n] cannot both read x (check only: the model is invalid).
    model = attention(x_shape=(1, 3, "hidden"), ns=(4, 4), bias=(True, True), k=4)
    other = attention(x_shape=(1, 3, "hidden"), ns=(4, 4), bias=(True, True), k=5)
    tensor = next(t for t in other.graph.initializer if t.name == weight(1))
    for t in model.graph.initializer:
        if t.name == weight(1):
            t.CopyFrom(tensor)
    assert check(model) == []


def test_different_element_type_is_left_alone() -> None:
    model = attention(ns=(4, 4), bias=(True, True))
    for t in model.graph.initializer:
        if t.name == weight(1):
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))
    assert check(model) == []


def test_non_constant_weight_is_left_alone() -> None:
    model = attention(ns=(4, 4), bias=(True, True))
    graph = model.graph
    tensors = [t for t in graph.initializer if t.name != weight(1)]
    del graph.initializer[:]
    graph.initializer.extend(tensors)
    graph.input.append(helper.make_tensor_value_info("w_in", TensorProto.FLOAT, [4, 4]))
    graph.node.insert(0, helper.make_node("Relu", ["w_in"], [weight(1)], "w_made"))
    untouched(model)


def test_not_merged_when_it_would_grow_the_file() -> None:
    # Tiny names: the Split and its sizes cost more than 2 MatMuls + 2 Adds save.
    model = graphs.parse(
        """
        g (float[2,4] x) => (float[2,2] a, float[2,2] b)
            <float[4,2] u = {1,2,3,4,5,6,7,8}, float[4,2] w = {1,2,3,4,5,6,7,8},
             float[2] c = {1,2}, float[2] d = {3,4}> {
            p = MatMul (x, u)
            a = Add (p, c)
            q = MatMul (x, w)
            b = Add (q, d)
        }
        """
    )
    untouched(model)


# -- onnxruntime at realistic sizes -----------------------------------------------------
# The attention shapes of real models come out bit for bit the same in onnxruntime
# (what the docstring claims); small widths may not, which is why the rule is numeric.


@pytest.mark.parametrize(
    ("x_shape", "ns", "bias", "nodes"),
    [
        ((1, 128, 768), (768, 768, 768), (True, True, True), 3),
        ((1, 50, 384), (384, 1152), (True, True), 1),
        # whisper (no key bias): MatMuls only, the two bias Adds stay
        ((1, 50, 384), (384, 384, 384), (True, False, True), 1),
        ((128, 768), (768, 768, 768), (True, True, True), 3),
        ((3, 33, 100), (7, 200, 31), (False, False, False), 1),
    ],
)
def test_bit_exact_at_realistic_sizes(
    x_shape: tuple[int, ...], ns: tuple[int, ...], bias: tuple[bool, ...], nodes: int
) -> None:
    model = attention(x_shape, ns, bias, scale=0.02)
    (finding,) = check(model)
    assert finding.nodes == nodes
    fixed = fixed_ok(model)
    report = verify_models(model, fixed, exact=True)
    assert report.passed and report.max_diff == 0.0, report
    assert ops(fixed)["MatMul"] == 1
    assert ops(fixed)["Add"] == len(ns) + sum(bias) - nodes - 2


def test_narrow_weights_verify_within_tolerance() -> None:
    # Three 64-column weights on a 2-row input: onnxruntime 1.32 sums the merged
    # product in another order (last-bit differences); within rtol/atol it verifies.
    model = attention((2, 768), (64, 64, 64), (True, True, True), scale=0.05)
    fixed = fixed_ok(model)
    assert ops(fixed) == {"MatMul": 1, "Add": 1, "Split": 1, "Relu": 3}


def test_bit_exact_on_a_fixed_input() -> None:
    """The merged model gives the same bits for one realistic input, output by output."""
    model = attention((1, 128, 768), (768, 768, 768), scale=0.02, seed=3)
    fixed = ParallelMatMul().run(model)
    x = np.random.default_rng(7).normal(0, 1, (1, 128, 768)).astype(np.float32)

    def run(m: onnx.ModelProto) -> list[np.ndarray]:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(
            m.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        return session.run(None, {X: x})

    for a, b in zip(run(model), run(fixed), strict=True):
        assert a.tobytes() == b.tobytes()


def test_weight_named_by_a_side_table_is_left_alone() -> None:
    model = attention(ns=(4, 4), bias=(True, True))
    annotation = model.graph.quantization_annotation.add()
    annotation.tensor_name = weight(0)
    untouched(model)


def test_value_info_stays_true() -> None:
    model = onnx.shape_inference.infer_shapes(attention(bias=(True, True, True)))
    assert len(model.graph.value_info) == 6
    fixed = fixed_ok(model)
    defined = {out for node in fixed.graph.node for out in node.output}
    annotated = {v.name for v in fixed.graph.value_info}
    assert annotated <= defined
    # Old names keep their shapes; the names that are gone lose theirs.
    assert f"{_prefix('key')}/Add_output_0" in annotated
    assert f"{_prefix('query')}/MatMul_output_0" not in annotated
    strict = onnx.shape_inference.infer_shapes(fixed, strict_mode=True)
    assert {v.name for v in strict.graph.value_info} >= annotated


@pytest.mark.parametrize("swapped", [(0, 1, 2), (1,)])
def test_merged_add_puts_the_product_first_unless_every_add_had_the_bias_first(
    swapped: tuple[int, ...],
) -> None:
    model = attention()
    adds = [n for n in model.graph.node if n.op_type == "Add"]
    for i in swapped:  # as torch's dynamo exporter writes them: Add(product, bias)
        adds[i].input.reverse()
    fixed = fixed_ok(model)
    matmul, add = fixed.graph.node[:2]
    assert add.input[0] == matmul.output[0]
