"""OSL205 no-op: nodes that return their input unchanged."""

from __future__ import annotations

from functools import partial

import graphs
import numpy as np
import onnx
import pytest
from graphs import parse
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.rules.no_op import NoOp

check = partial(graphs.check, NoOp)
fixed_ok = partial(graphs.exact_fix_ok, NoOp)


def ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def test_finds_and_removes_the_no_ops() -> None:
    model = parse(
        """
        g (float[2,3] x, int64[4] i) => (float[3,2] y, int64[4] j) {
            one = Constant <value = float[1] {1.0}> ()
            zero = Constant <value = float {0.0}> ()
            nzero = Constant <value = float[1,1] {-0.0}> ()
            shape = Constant <value = int64[2] {2, 3}> ()
            pads = Constant <value = int64[4] {0, 0, 0, 0}> ()
            st = Constant <value = int64[2] {0, 0}> ()
            en = Constant <value = int64[2] {2, 9223372036854775807}> ()
            [c] a = Cast <to = 1> (x)
            [r] b = Reshape (a, shape)
            [m] d = Mul (one, b)
            [s] e = Sub (d, zero)
            [ad] f = Add (e, nzero)
            [p] h = Pad (f, pads)
            [sl] k = Slice (h, st, en)
            [cc] l = Concat <axis = 0> (k)
            [dv] n = Div (l, one)
            [t] y = Transpose <perm = [1, 0]> (n)
            izero = Constant <value = int64 {0}> ()
            ih = Neg (i)
            [ia] j = Add (ih, izero)
        }
        """
    )
    (finding,) = check(model)
    assert finding.code == "OSL205" and finding.name == "no-op"
    assert finding.count == finding.nodes == 10
    names = {"c", "r", "m", "s", "ad", "p", "sl", "cc", "dv", "ia"}
    assert {loc.name for loc in finding.locations} == names
    assert finding.nbytes == sum(n.ByteSize() for n in model.graph.node if n.name in names)
    fixed = fixed_ok(model)
    assert [n for n in ops(fixed) if n != "Constant"] == ["Transpose", "Neg"]


def test_unsqueeze_squeeze_and_expand() -> None:
    model = parse(
        """
        g (float[2,3] x) => (float[2,3] y) {
            ax = Constant <value = int64[1] {-1}> ()
            ax2 = Constant <value = int64[1] {2}> ()
            shape = Constant <value = int64[2] {1, 3}> ()
            h = Relu (x)
            [u] u = Unsqueeze (h, ax)
            [q] s = Squeeze (u, ax2)
            [e] y = Expand (s, shape)
        }
        """
    )
    (finding,) = check(model)
    # the Expand (a graph output) reads h, which the Squeeze's removal rewires: it goes
    # in the next round, and this finding counts only what this fix removes
    assert finding.nodes == 2
    fixed = fixed_ok(model)
    assert [n for n in ops(fixed) if n != "Constant"] == ["Relu"]
    assert fixed.graph.output[0].name == "y"


@pytest.mark.parametrize(
    "body",
    [
        # x + (+0.0) turns -0.0 into +0.0: not an identity
        "z = Constant <value = float {0.0}> ()\n y = Add (x, z)",
        # x - (-0.0) likewise
        "z = Constant <value = float {-0.0}> ()\n y = Sub (x, z)",
        # the broadcast grows x
        "z = Constant <value = float[2,3] {1,1,1,1,1,1}> ()\n y = Mul (x, z)",
        # 1 - x is not x
        "z = Constant <value = float {0.0}> ()\n y = Sub (z, x)",
        # a cast to another type
        "y = Cast <to = 11> (x)",
        "p = Constant <value = int64[2] {0, 1}> ()\n y = Pad (x, p)",
        "s = Constant <value = int64[1] {1}> ()\n e = Constant <value = int64[1] {3}> ()\n"
        " y = Slice (x, s, e)",
    ],
)
def test_leaves_alone(body: str) -> None:
    model = parse(f"g (float[3] x) => (y) {{\n {body}\n}}")
    assert check(model) == []


def test_negative_zero_add_is_removed_and_keeps_negative_zero() -> None:
    model = parse(
        """
        g (float[3] x) => (float[3] y) {
            z = Constant <value = float {-0.0}> ()
            a = Add (x, z)
            y = Relu (a)
        }
        """
    )
    assert check(model)[0].nodes == 1
    fixed = fixed_ok(model)
    assert "Add" not in ops(fixed)


def test_dynamic_reshape_and_stale_value_info_are_left_alone() -> None:
    dynamic = parse(
        """
        g (float[N,3] x) => (y) {
            s = Constant <value = int64[2] {2, 3}> ()
            y = Reshape (x, s)
        }
        """
    )
    assert check(dynamic) == []
    # value_info claims h is [2,3] but it is really [3,2]: the Reshape is not a no-op.
    stale = parse(
        """
        g (float[3,2] x) => (float[2,3] y) <float[2,3] h> {
            h = Identity (x)
            s = Constant <value = int64[2] {2, 3}> ()
            y = Reshape (h, s)
        }
        """
    )
    assert check(stale) == []
    # a Cast whose input type is unknown stays
    unknown = helper.make_model(
        helper.make_graph(
            [
                helper.make_node("Relu", ["x"], ["h"], domain="custom"),
                helper.make_node("Cast", ["h"], ["y"], to=TensorProto.FLOAT),
            ],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        ),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)],
    )
    assert check(unknown) == []


def test_whole_range_slice_of_a_dynamic_dim_goes() -> None:
    """silero-vad's STFT: Slice(x, [0], [INT64_MAX], [axis]) of dims not known statically."""
    model = parse(
        """
        g (float[N,258,T] x) => (float[N,129,T] y) {
            zero = Constant <value = int64[1] {0}> ()
            big = Constant <value = int64[1] {9223372036854775807}> ()
            half = Constant <value = int64[1] {129}> ()
            one = Constant <value = int64[1] {1}> ()
            two = Constant <value = int64[1] {2}> ()
            r = Relu (x)
            [all0] a = Slice (r, zero, big, zero, one)
            [mid] b = Slice (a, zero, half, one, one)
            [all2] y = Slice (b, zero, big, two)
        }
        """
    )
    (finding,) = check(model)
    assert {loc.name for loc in finding.locations} == {"all0", "all2"}
    fixed = fixed_ok(model)
    (kept,) = [n for n in fixed.graph.node if n.op_type == "Slice"]
    assert kept.name == "mid" and kept.input[0] == "r"
    assert fixed.graph.output[0].name == "y"


@pytest.mark.parametrize(
    ("starts", "ends", "steps"),
    [
        ("{0}", "{2147483647}", "{1}"),  # INT32_MAX: the dim may be larger
        ("{1}", "{9223372036854775807}", "{1}"),  # drops the first element
        ("{-1}", "{9223372036854775807}", "{1}"),  # keeps only the last one
        ("{0}", "{9223372036854775807}", "{2}"),  # every other element
        ("{-1}", "{-9223372036854775807}", "{-1}"),  # reversed
    ],
)
def test_partial_slice_of_a_dynamic_dim_stays(starts: str, ends: str, steps: str) -> None:
    model = parse(
        f"""
        g (float[N,3] x) => (y) {{
            s = Constant <value = int64[1] {starts}> ()
            e = Constant <value = int64[1] {ends}> ()
            a = Constant <value = int64[1] {{0}}> ()
            p = Constant <value = int64[1] {steps}> ()
            y = Slice (x, s, e, a, p)
        }}
        """
    )
    assert check(model) == []


def test_whole_range_slice_of_unknown_rank_stays() -> None:
    # the axis cannot be checked against a rank nothing knows
    model = parse(
        """
        g (float[N,3] x) => (y) {
            r = Relu (x)
            h = CustomRelu (r)
            s = Constant <value = int64[1] {0}> ()
            e = Constant <value = int64[1] {9223372036854775807}> ()
            a = Constant <value = int64[1] {5}> ()
            y = Slice (h, s, e, a)
        }
        """
    )
    model.graph.node[1].domain = "custom"
    model.opset_import.append(helper.make_opsetid("custom", 1))
    assert check(model) == []


def test_overridable_constant_is_not_neutral() -> None:
    one = numpy_helper.from_array(np.ones([1], np.float32), "one")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "one"], ["y"])],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [3]),
            helper.make_tensor_value_info("one", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        [one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert check(model) == []


def test_graph_output_keeps_its_name() -> None:
    model = parse(
        """
        g (float[3] x) => (float[3] y, float[3] w) {
            h = Relu (x)
            y = Cast <to = 1> (h)
            w = Cast <to = 1> (x)
        }
        """
    )
    (finding,) = check(model)
    assert finding.nodes == 1  # w = Cast(x) cannot give x's name away
    fixed = fixed_ok(model)
    assert [o.name for o in fixed.graph.output] == ["y", "w"]
    assert ops(fixed) == ["Relu", "Cast"]


def test_opset_11_attribute_forms() -> None:
    model = parse(
        """
        g (float[2,3] x) => (float[2,3] y) {
            h = Relu (x)
            u = Unsqueeze <axes = [0]> (h)
            y = Squeeze <axes = [0]> (u)
        }
        """,
        opset=11,
    )
    assert check(model)[0].nodes == 2
    fixed_ok(model)


def test_applied_count_matches_removed_nodes() -> None:
    model = parse(
        """
        g (float[3] x) => (float[3] y, float[3] z) {
            h = Relu (x)
            a = Cast <to = 1> (h)
            y = Cast <to = 1> (a)
            z = Cast <to = 1> (y)
        }
        """
    )
    result = apply_fixes(model, [NoOp()])
    removed = len(model.graph.node) - len(result.model.graph.node)
    assert result.applied["OSL205"] == removed
    fixed_ok(model)


def test_squeeze_then_unsqueeze_of_the_same_axes() -> None:
    """The legacy exporter's Slice(Shape) -> Squeeze -> Unsqueeze round trip."""
    model = parse(
        """
        g (float[2,1,3] x) => (float[2,1,3] y) {
            ax = Constant <value = int64[1] {1}> ()
            axn = Constant <value = int64[1] {-2}> ()
            [q] s = Squeeze (x, ax)
            [u] u = Unsqueeze (s, axn)
            [r] y = Relu (u)
        }
        """
    )
    (finding,) = check(model)
    assert finding.count == finding.nodes == 2
    # Both nodes of the pair are listed and tallied: the parts sum to the count.
    assert finding.message.startswith("2 nodes that change nothing: 1 Squeeze, 1 Unsqueeze")
    assert [(loc.name, loc.detail) for loc in finding.locations] == [
        ("q", "squeeze undone by the Unsqueeze after it"),
        ("u", "unsqueeze of the squeezed axes"),
    ]
    fixed = fixed_ok(model)
    assert [n for n in ops(fixed) if n != "Constant"] == ["Relu"]


@pytest.mark.parametrize(
    "body",
    [
        # different axes: the dim comes back elsewhere
        "a = Constant <value = int64[1] {1}> ()\n b = Constant <value = int64[1] {0}> ()\n"
        " s = Squeeze (x, a)\n y = Unsqueeze (s, b)",
        # Squeeze without axes removes every 1-dim: not known to be undone
        "b = Constant <value = int64[1] {1}> ()\n s = Squeeze (x)\n y = Unsqueeze (s, b)",
    ],
)
def test_squeeze_unsqueeze_left_alone(body: str) -> None:
    model = parse(f"g (float[2,1,3] x) => (float[?,?,?] y) {{\n {body}\n}}")
    assert check(model) == []


def test_pair_first_node_stays_when_another_pair_reads_through_it() -> None:
    """Found by the all-rules property test: Unsqueeze, Squeeze, Unsqueeze, Squeeze."""
    model = parse(
        """
        g (float[3,3] x) => (float[3,3] v4, float[3,3] v5) {
            axis0 = Constant <value = int64[1] {0}> ()
            u0 = Unsqueeze (x, axis0)
            v0 = Squeeze (u0, axis0)
            v4 = Relu (v0)
            u5 = Unsqueeze (v0, axis0)
            v5 = Squeeze (u5, axis0)
        }
        """
    )
    fixed = fixed_ok(model)
    # v5 is a graph output fed from the graph input through the pair: one pair stays
    assert ops(fixed) == ["Constant", "Unsqueeze", "Relu", "Squeeze"]
    assert list(fixed.graph.node[2].input) == ["x"]


# -- computed neutral operands and sign-blind readers ------------------------------

MASK_SHAPE = [1, 1, 8, 8]
SCORES = [1, 2, 8, 8]


def _default_rules():  # type: ignore[no-untyped-def]
    from onnxslim_lint.rules.registry import select_rules

    return [rule() for rule in select_rules(None)]


def _attention(
    mask: np.ndarray | None = None,
    *,
    readers: tuple[str, ...] = ("Softmax",),
    output_too: bool = False,
    mask_is_input: bool = False,
    scores_input: bool = False,
    cone: list[onnx.NodeProto] | None = None,
    cone_inputs: tuple[str, ...] = (),
) -> onnx.ModelProto:
    """``y = Softmax(MatMul(q, k) + Where(mask, 0.0, -3.4e38))``, as the dynamo export.

    ``mask`` is a bool initializer (all True by default); ``cone`` replaces it by
    nodes computing ``mask``, which may read the bool graph inputs ``cone_inputs``.
    With ``scores_input`` the scores are a graph input.
    """
    mask = np.ones(MASK_SHAPE, np.bool_) if mask is None else mask
    inits = [
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(-3.4e38, np.float32), "low"),
    ]
    inputs = []
    nodes: list[onnx.NodeProto] = []
    if scores_input:
        inputs.append(helper.make_tensor_value_info("s", TensorProto.FLOAT, SCORES))
    else:
        inputs += [
            helper.make_tensor_value_info("q", TensorProto.FLOAT, [1, 2, 8, 4]),
            helper.make_tensor_value_info("k", TensorProto.FLOAT, [1, 2, 4, 8]),
        ]
        nodes.append(helper.make_node("MatMul", ["q", "k"], ["s"], name="mm"))
    inputs += [helper.make_tensor_value_info(n, TensorProto.BOOL, MASK_SHAPE) for n in cone_inputs]
    if cone is not None:
        nodes += cone
    else:
        inits.append(numpy_helper.from_array(mask, "mask"))
        if mask_is_input:
            inputs.append(helper.make_tensor_value_info("mask", TensorProto.BOOL, MASK_SHAPE))
    nodes += [
        helper.make_node("Where", ["mask", "zero", "low"], ["m"], name="where"),
        helper.make_node("Add", ["s", "m"], ["a"], name="add"),
    ]
    outputs = []
    for i, op in enumerate(readers):
        attrs = {"axis": -1} if op in ("Softmax", "LogSoftmax") else {}
        nodes.append(helper.make_node(op, ["a"], [f"y{i}"], name=f"r{i}", **attrs))
        outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, SCORES))
    if output_too:
        outputs.append(helper.make_tensor_value_info("a", TensorProto.FLOAT, SCORES))
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


def _noopt_cone(extra: list[onnx.NodeProto] | None = None, first: str = "r") -> list:
    """``mask = Expand(Unsqueeze(Range(0, 8, 1)) >= 0, [1,1,8,8])``, all True."""

    def const(name: str, value: np.ndarray) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))

    return [
        const("start", np.array(0, np.int64)),
        const("limit", np.array(8, np.int64)),
        const("delta", np.array(1, np.int64)),
        const("axes", np.array([0, 1, 2], np.int64)),
        const("izero", np.array(0, np.int64)),
        const("shape", np.array(MASK_SHAPE, np.int64)),
        helper.make_node("Range", ["start", "limit", "delta"], ["r"], name="range"),
        *(extra or []),
        helper.make_node("Unsqueeze", [first, "axes"], ["u"], name="unsq"),
        helper.make_node("GreaterOrEqual", ["u", "izero"], ["ge"], name="ge"),
        helper.make_node("Expand", ["ge", "shape"], ["mask"], name="expand"),
    ]


def test_add_of_a_computed_zero_before_softmax() -> None:
    model = _attention()
    (finding,) = check(model)
    assert finding.nodes == 1
    (location,) = finding.locations
    assert location.name == "add"
    assert location.detail == "add of a computed zero, read only by Softmax"
    fixed = fixed_ok(model)
    assert ops(fixed) == ["MatMul", "Where", "Softmax"]  # Where: dead, for OSL102
    assert list(fixed.graph.node[2].input) == ["s"]
    # the whole fix loop: the mask and everything that made it go too
    result = apply_fixes(model, _default_rules())
    assert ops(result.model) == ["MatMul", "Softmax"]
    assert graphs.initializer_names(result.model) == set()
    assert result.exact
    graphs.verified(model, result.model)


def test_computed_zero_from_the_unoptimized_dynamo_cone() -> None:
    model = _attention(cone=_noopt_cone())
    (finding,) = check(model)
    assert [loc.name for loc in finding.locations] == ["add"]
    fixed_ok(model)
    result = apply_fixes(model, _default_rules())
    assert ops(result.model) == ["MatMul", "Softmax"]
    graphs.verified(model, result.model)


def test_negative_computed_zero_needs_no_sign_blind_reader() -> None:
    """``x + Where(mask, -0.0, ...)`` is an identity whatever reads it."""
    model = _attention(readers=("Relu",))
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.array(-0.0, np.float32), "zero"))
    (finding,) = check(model)
    assert finding.locations[0].detail == "add of a computed zero"
    fixed_ok(model)


@pytest.mark.parametrize("readers", [("Exp",), ("Softmax", "Cos"), ("Cosh", "Exp")])
def test_positive_zero_before_sign_blind_readers(readers: tuple[str, ...]) -> None:
    model = _attention(readers=readers)
    (finding,) = check(model)
    assert finding.nodes == 1
    fixed_ok(model)


@pytest.mark.parametrize(
    ("op", "value"), [("Add", 0.0), ("Sub", -0.0), ("Sub", 0.0), ("Add", -0.0)]
)
def test_stored_zero_before_softmax(op: str, value: float) -> None:
    model = parse(
        f"""
        g (float[2,3] x) => (float[2,3] y) {{
            z = Constant <value = float {{{value!r}}}> ()
            a = {op} (x, z)
            y = Softmax (a)
        }}
        """
    )
    assert check(model)[0].nodes == 1
    assert "Add" not in ops(fixed_ok(model)) and "Sub" not in ops(fixed_ok(model))


def _mask_with_a_hole() -> np.ndarray:
    mask = np.ones(MASK_SHAPE, np.bool_)
    mask[0, 0, 3, 5] = False  # one -3.4e38 entry: not a zero
    return mask


def _random_cone() -> list[onnx.NodeProto]:
    return [
        helper.make_node("RandomUniform", [], ["rnd"], shape=MASK_SHAPE, name="rnd"),
        helper.make_node("Constant", [], ["fzero"], value_float=0.0),
        helper.make_node("GreaterOrEqual", ["rnd", "fzero"], ["mask"], name="ge"),
    ]


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(partial(_attention, readers=("Relu",)), id="before-relu"),
        pytest.param(partial(_attention, readers=("LogSoftmax",)), id="before-logsoftmax"),
        pytest.param(partial(_attention, readers=("Abs",)), id="before-abs"),
        pytest.param(partial(_attention, output_too=True), id="graph-output"),
        pytest.param(partial(_attention, readers=("Softmax", "Relu")), id="second-reader"),
        pytest.param(partial(_attention, _mask_with_a_hole()), id="not-all-zero"),
        pytest.param(partial(_attention, mask_is_input=True), id="overridable"),
        pytest.param(
            partial(
                _attention,
                cone=[helper.make_node("Not", ["mask_in"], ["mask"])],
                cone_inputs=("mask_in",),
            ),
            id="graph-input",
        ),
        pytest.param(partial(_attention, cone=_random_cone()), id="random"),
    ],
)
def test_computed_or_sign_blind_left_alone(model) -> None:  # type: ignore[no-untyped-def]
    graphs.assert_untouched(NoOp, model())


def test_sign_blind_reader_inside_a_subgraph_is_not_enough() -> None:
    model = parse(
        """
        g (float[2,3] x, bool c) => (float[2,3] y) {
            z = Constant <value = float {0.0}> ()
            a = Add (x, z)
            y = If (c) <
                then_branch = t () => (float[2,3] ty) { ty = Softmax (a) },
                else_branch = e () => (float[2,3] ey) { ey = Exp (a) }
            >
        }
        """
    )
    assert check(model) == []


def test_computed_operand_over_the_caps() -> None:
    def model(rows: int, chain: int) -> onnx.ModelProto:
        links = "\n".join(f"n{i + 1} = Identity (n{i})" for i in range(chain))
        return parse(
            f"""
            g (float[{rows},1024] x) => (float[{rows},1024] y) {{
                s = Constant <value = int64[2] {{{rows}, 1024}}> ()
                n0 = ConstantOfShape <value = float[1] {{-0.0}}> (s)
                {links}
                a = Add (x, n{chain})
                y = Relu (a)
            }}
            """
        )

    assert check(model(4, 3))[0].locations[0].detail == "add of a computed zero"
    assert check(model(4100, 3)) == []  # 16.8 MB of zeros: over the byte cap
    assert check(model(4, 63))[0].nodes == 1  # 64 nodes in the cone
    assert check(model(4, 64)) == []  # 65: over the node cap


@pytest.mark.parametrize("reader", ["Softmax", "Exp"])
@pytest.mark.parametrize("seed", range(8))
def test_removed_positive_zero_add_is_bit_exact_on_negative_zeros(reader: str, seed: int) -> None:
    """ORT gives the same bits with and without ``x + 0.0`` on inputs full of -0.0."""
    import onnxruntime as ort

    model = _attention(readers=(reader,), scores_input=True)
    fixed = NoOp().run(model)
    assert "Add" not in ops(fixed)
    rng = np.random.default_rng(seed)
    scale = rng.choice(np.array([1e-3, 1, 30, 100], np.float32))
    x = rng.standard_normal(SCORES).astype(np.float32) * scale
    specials = np.array([-0.0, 0.0, -0.0, np.inf, -np.inf, 1e-45, -1e-45, 88.7, -104.0])
    spots = rng.random(SCORES) < 0.4
    x[spots] = rng.choice(specials, size=int(spots.sum())).astype(np.float32)
    x[0, seed % 2, seed % 8, :] = -0.0  # a row of negative zeros only
    results = []
    for level in (
        ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    ):
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        for m in (model, fixed):
            session = ort.InferenceSession(
                m.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
            (out,) = session.run(None, {"s": x})
            results.append(out.view(np.uint32))
    for out in results[1:]:
        np.testing.assert_array_equal(out, results[0])


def test_div_by_a_computed_one() -> None:
    model = parse(
        """
        g (float[2,3] x) => (float[2,3] y) {
            s = Constant <value = int64[1] {3}> ()
            o = ConstantOfShape <value = float[1] {1.0}> (s)
            [d] a = Div (x, o)
            y = Relu (a)
        }
        """
    )
    (finding,) = check(model)
    assert finding.locations[0].detail == "div by a computed one"
    assert ops(fixed_ok(model)) == ["Constant", "ConstantOfShape", "Relu"]


@pytest.mark.parametrize(("op", "value"), [("And", "true"), ("Or", "false"), ("Xor", "false")])
def test_boolean_op_with_its_neutral_constant_goes(op: str, value: str) -> None:
    # GPT-2's legacy export and-s its causal mask with an all-true scalar.
    bit = 1 if value == "true" else 0
    model = parse(
        f"""
        g (float[2,3] a, float[2,3] b) => (bool[2,3] y) {{
            c = Constant <value = bool {{{bit}}}> ()
            m = Less (a, b)
            [logic] k = {op} (c, m)
            [not] y = Not (k)
        }}
        """
    )
    (finding,) = check(model)
    assert [(loc.name, loc.detail) for loc in finding.locations] == [
        ("logic", f"{op.lower()} with all {value}")
    ]
    fixed = fixed_ok(model)
    assert op not in ops(fixed)


@pytest.mark.parametrize(
    "change",
    [
        ("bool {1}", "bool {0}"),  # And with False is not x
        ("bool {1}", "bool[2,1,3] {1, 1, 1, 1, 1, 1}"),  # broadcasting grows x
    ],
)
def test_boolean_op_left_alone(change: tuple[str, str]) -> None:
    text = """
        g (float[2,3] a, float[2,3] b) => (bool[2,3] y) {
            c = Constant <value = bool {1}> ()
            m = Less (a, b)
            k = And (c, m)
            y = Not (k)
        }
        """.replace(*change)
    if "[2,1,3]" in text:
        text = text.replace("=> (bool[2,3] y)", "=> (bool[2,2,3] y)")
    assert check(parse(text)) == []


# The dynamo export of Whisper's attention, with dynamic axes: the reshape back to
# [batch, heads, sequence, 16] takes batch and sequence from the input ids' Shape.
SYMBOLIC_NO_OPS = """
g (int64[batch,seq] ids, float[batch,4,seq,16] x, float[batch,seq] z)
    => (float[batch,4,seq,16] y, float[batch,seq] w) {
    minus_one = Constant <value = int64[1] {-1}> ()
    sixteen = Constant <value = int64[1] {16}> ()
    one = Constant <value = int64[1] {1}> ()
    [b] b = Shape <start = 0, end = 1> (ids)
    [s] s = Shape <start = 1, end = 2> (ids)
    [target] t = Concat <axis = 0> (b, minus_one, s, sixteen)
    [view] v = Reshape <allowzero = 1> (x, t)
    [relu] y = Relu (v)
    [bt] e = Concat <axis = 0> (b, one)
    [expand] x2 = Expand (z, e)
    [neg] w = Neg (x2)
}
"""


def test_reshape_and_expand_to_their_own_symbolic_shape_go() -> None:
    model = parse(SYMBOLIC_NO_OPS)
    (finding,) = check(model)
    assert graphs.location_names(finding) == ["view", "expand"]
    fixed = fixed_ok(model)
    assert "Reshape" not in ops(fixed) and "Expand" not in ops(fixed)
    by_name = {n.name: n for n in fixed.graph.node}
    assert by_name["relu"].input[0] == "x" and by_name["neg"].input[0] == "z"


@pytest.mark.parametrize(
    ("change", "found"),
    [
        # sequence from another input: not provably the same dim
        (
            ("[s] s = Shape <start = 1, end = 2> (ids)", "[s] s = Shape <start = 1, end = 2> (o)"),
            [],
        ),
        # two unknown entries: the -1 no longer pins dim 1
        (("(b, minus_one, s, sixteen)", "(b, minus_one, minus_one, sixteen)"), ["expand"]),
        # the batch of x, not of ids: dim_param names are the proof
        (("float[batch,4,seq,16] x", "float[other,4,seq,16] x"), ["expand"]),
        # an Expand that grows z: [batch, 1] to [batch, seq]
        (("float[batch,seq] z,", "float[batch,1] z,"), ["view"]),
    ],
)
def test_symbolic_dims_not_provably_equal_are_left_alone(
    change: tuple[str, str], found: list[str]
) -> None:
    text = SYMBOLIC_NO_OPS.replace("(b, one)", "(b, s)")
    text = text.replace("float[batch,seq] z)", "float[batch,seq] z, int64[batch,len] o)")
    text = text.replace("=> (float[batch,4,seq,16] y, float[batch,seq] w)", "=> (y, w)")
    findings = check(parse(text.replace(*change)))
    assert [loc.name for f in findings for loc in f.locations] == found


def test_symbolic_no_op_inside_a_branch_reading_outer_names() -> None:
    # The Reshape of the outer x is the branch's output: the branch keeps its output
    # name (x is an outer-scope name, no branch value), so that Reshape stays; the
    # one whose result the branch goes on to read is removed, and the If reads x.
    model = parse(
        """
        g (bool c, int64[batch,seq] ids, float[batch,seq,4] x) => (float[batch,seq,4] y) {
            four = Constant <value = int64[1] {4}> ()
            [dims] d = Shape <start = 0, end = 2> (ids)
            [target] t = Concat <axis = 0> (d, four)
            [if] y = If (c) <
                then_branch = g1 () => (float[batch,seq,4] a) {
                    [outer_view] a = Reshape (x, t)
                },
                else_branch = g2 () => (float[batch,seq,4] b) {
                    [inner_view] v = Reshape (x, t)
                    [neg] b = Neg (v)
                }
            >
        }
        """
    )
    (finding,) = check(model)
    assert graphs.location_names(finding) == ["inner_view"]
    fixed = fixed_ok(model)
    then_branch, else_branch = (a.g for a in fixed.graph.node[-1].attribute)
    assert [n.name for n in then_branch.node] == ["outer_view"]
    assert [n.name for n in else_branch.node] == ["neg"] and else_branch.node[0].input[0] == "x"


def test_symbolic_target_through_an_overridable_initializer_is_left_alone() -> None:
    # sixteen is an initializer and a graph input: the caller may feed another value
    text = SYMBOLIC_NO_OPS.replace(
        "float[batch,seq] z)", "float[batch,seq] z, int64[1] sixteen)"
    ).replace("    sixteen = Constant <value = int64[1] {16}> ()\n", "")
    text = text.replace(
        "=> (float[batch,4,seq,16] y, float[batch,seq] w) {",
        "=> (y, w) <int64[1] sixteen = {16}> {",
    )
    found = check(parse(text))
    assert [loc.name for f in found for loc in f.locations] == ["expand"]
