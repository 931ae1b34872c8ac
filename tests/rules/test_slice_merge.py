"""OSL216 slice-merge: a Slice of a Slice on other axes becomes one Slice."""

from __future__ import annotations

from functools import partial

import graphs
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from graphs import parse
from onnx import numpy_helper

from onnxslim_lint.rules.slice_merge import SliceMerge

check = partial(graphs.check, SliceMerge)
fixed_ok = partial(graphs.exact_fix_ok, SliceMerge)

MAX = 9223372036854775807


def _slices(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in graphs.all_nodes(model.graph) if n.op_type == "Slice"]


def _params(
    model: onnx.ModelProto, graph: onnx.GraphProto, node: onnx.NodeProto
) -> list[list[int]]:
    inits = {
        t.name: numpy_helper.to_array(t).tolist()
        for t in (*model.graph.initializer, *graph.initializer)
    }
    return [inits[name] for name in node.input[1:]]


# silero-vad's STFT: the real and the imaginary half of the frames, minus the first,
# with the exporter's names
STFT = f"""
g (float[N,258,T] x) => (float[N,129,S] y) <
    int64[1] "/stft/Constant_output_0" = {{0}}, int64[1] "/stft/Constant_1_output_0" = {{129}},
    int64[1] "/stft/Constant_2_output_0" = {{{MAX}}}, int64[1] "/stft/Constant_3_output_0" = {{1}},
    int64[1] "/stft/Constant_4_output_0" = {{2}}
> {{
    [re] "/stft/Slice_output_0" = Slice (x, "/stft/Constant_output_0",
        "/stft/Constant_1_output_0", "/stft/Constant_3_output_0")
    [re_t] "/stft/Slice_1_output_0" = Slice ("/stft/Slice_output_0",
        "/stft/Constant_3_output_0", "/stft/Constant_2_output_0", "/stft/Constant_4_output_0")
    [im] "/stft/Slice_2_output_0" = Slice (x, "/stft/Constant_1_output_0",
        "/stft/Constant_2_output_0", "/stft/Constant_3_output_0")
    [im_t] "/stft/Slice_3_output_0" = Slice ("/stft/Slice_2_output_0",
        "/stft/Constant_3_output_0", "/stft/Constant_2_output_0", "/stft/Constant_4_output_0")
    p = Mul ("/stft/Slice_1_output_0", "/stft/Slice_1_output_0")
    q = Mul ("/stft/Slice_3_output_0", "/stft/Slice_3_output_0")
    y = Add (p, q)
}}
"""


def test_merges_the_stft_slice_pairs_and_verifies_bit_exactly() -> None:
    model = parse(STFT)
    (finding,) = check(model)
    assert finding.code == "OSL216" and finding.name == "slice-merge"
    assert finding.count == finding.nodes == 2
    assert {loc.name for loc in finding.locations} == {"re", "im"}
    assert finding.nbytes > 0
    fixed = fixed_ok(model)
    kept = _slices(fixed)
    assert [n.name for n in kept] == ["re_t", "im_t"]
    assert all(n.input[0] == "x" for n in kept)
    assert _params(fixed, fixed.graph, kept[0]) == [[0, 1], [129, MAX], [1, 2]]
    assert _params(fixed, fixed.graph, kept[1]) == [[129, 1], [MAX, MAX], [1, 2]]


def test_a_merge_whose_parameters_cost_more_than_the_node_is_left_alone() -> None:
    # one-letter names, and the parameters are read by another node too (none goes
    # with the first Slice): the node removed is smaller than the three new
    # two-value parameters the reader would need
    model = parse(
        f"""
        g (float[N,258,T] x) => (float[N,129,S] y, int64[5] c) <
            int64[1] z = {{0}}, int64[1] h = {{129}}, int64[1] m = {{{MAX}}},
            int64[1] o = {{1}}, int64[1] t = {{2}}
        > {{
            a = Slice (x, z, h, o)
            b = Slice (a, o, m, t)
            y = Relu (b)
            c = Concat <axis = 0> (z, h, m, o, t)
        }}
        """
    )
    assert check(model) == []


def test_merges_share_their_new_parameters_and_reuse_the_models() -> None:
    """A Focus layer (x[..., ::2, ::2] and its three siblings): one merge alone would
    grow the file, the four together share axes [2, 3], steps [2, 2] and ends, and
    reuse the model's own one-value constants; the file shrinks."""
    model = parse(
        f"""
        g (float[1,3,8,8] x) => (float[1,12,4,4] y) <
            int64[1] zero = {{0}}, int64[1] one = {{1}}, int64[1] big = {{{MAX}}},
            int64[1] two = {{2}}, int64[1] three = {{3}}
        > {{
            r0 = Slice (x, zero, big, two, two)
            a = Slice (r0, zero, big, three, two)
            r1 = Slice (x, one, big, two, two)
            b = Slice (r1, zero, big, three, two)
            r2 = Slice (x, zero, big, two, two)
            c = Slice (r2, one, big, three, two)
            r3 = Slice (x, one, big, two, two)
            d = Slice (r3, one, big, three, two)
            y = Concat <axis = 1> (a, b, c, d)
        }}
        """
    )
    for number, node in enumerate(model.graph.node):  # as torch names them
        node.name = f"/model.0/Slice_{number}"
    fixed = fixed_ok(model)
    assert len(_slices(fixed)) == 4
    assert fixed.ByteSize() < model.ByteSize()


def test_every_reader_merges_and_negative_axes_and_steps_carry_over() -> None:
    # x[::2] read twice: once reversed on the last axis, once every third column (the
    # first Slice with an exporter's long names: it outweighs the merged parameters)
    rows = "/model/encoder/frames/every_other_row/Slice"
    model = parse(
        f"""
        g (float[6,9] x) => (float[3,9] y, float[3,3] z) <
            int64[1] zero = {{0}}, int64[1] big = {{{MAX}}}, int64[1] two = {{2}},
            int64[1] last = {{-1}}, int64[1] low = {{-{MAX}}}, int64[1] three = {{3}},
            int64[1] "{rows}/Constant_output_0" = {{0}},
            int64[1] "{rows}/Constant_1_output_0" = {{{MAX}}},
            int64[1] "{rows}/Constant_2_output_0" = {{0}},
            int64[1] "{rows}/Constant_3_output_0" = {{2}}
        > {{
            ["{rows}"] "{rows}_output_0" = Slice (x, "{rows}/Constant_output_0",
                "{rows}/Constant_1_output_0", "{rows}/Constant_2_output_0",
                "{rows}/Constant_3_output_0")
            [rev] y = Slice ("{rows}_output_0", last, low, last, last)
            [third] z = Slice ("{rows}_output_0", zero, big, last, three)
        }}
        """
    )
    (finding,) = check(model)
    assert [loc.name for loc in finding.locations] == [rows]
    fixed = fixed_ok(model)
    rev, third = _slices(fixed)
    assert rev.input[0] == third.input[0] == "x"
    assert _params(fixed, fixed.graph, rev) == [[0, -1], [MAX, -MAX], [0, 1], [2, -1]]
    assert _params(fixed, fixed.graph, third) == [[0, 0], [MAX, MAX], [0, 1], [2, 3]]
    # the merged windows, on values numpy computes too
    session = ort.InferenceSession(fixed.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.arange(54, dtype=np.float32).reshape(6, 9)
    y, z = session.run(None, {"x": x})
    assert np.array_equal(y, x[::2, ::-1]) and np.array_equal(z, x[::2, ::3])


def test_merges_inside_an_if_branch() -> None:
    first = "/model/decoder/branch/rows/Slice"
    model = parse(
        f"""
        g (bool c, float[4,6] x) => (float[2,3] y) <
            int64[1] one = {{1}}, int64[1] three = {{3}}, int64[1] zero = {{0}}
        > {{
            y = If (c) <
                then_branch = t () => (float[2,3] a) {{
                    "{first}/starts" = Constant <value = int64[1] {{1}}> ()
                    "{first}/ends" = Constant <value = int64[1] {{3}}> ()
                    "{first}/axes" = Constant <value = int64[1] {{0}}> ()
                    ["{first}"] "{first}_output_0" = Slice (x, "{first}/starts",
                        "{first}/ends", "{first}/axes")
                    [second] a = Slice ("{first}_output_0", zero, three, one)
                }},
                else_branch = e () => (float[2,3] b) {{
                    k = Slice (x, zero, three, one)
                    b = Slice (k, one, three, zero)
                }}
            >
        }}
        """
    )
    found = check(model)
    (finding,) = found
    # the else branch's pair merges too: it reads the main graph's one-value
    # constants, so only its merged values are new
    assert {(loc.graph, loc.name) for loc in finding.locations} == {
        ("main/If#0/then_branch", first),
        ("main/If#0/else_branch", "Slice#0"),
    }
    fixed = graphs.fix_both(SliceMerge, model)
    graphs.assert_fix_ok(SliceMerge, model, fixed, run=False)
    branches = {a.name: a.g for a in fixed.graph.node[0].attribute}
    (second,) = branches["then_branch"].node  # the Constants only the first read go too
    assert second.input[0] == "x"
    assert _params(fixed, branches["then_branch"], second) == [[1, 0], [3, 3], [0, 1]]
    (merged,) = branches["else_branch"].node
    assert merged.input[0] == "x"
    assert _params(fixed, branches["else_branch"], merged) == [[0, 1], [3, 3], [1, 0]]
    session = ort.InferenceSession(fixed.SerializeToString(), providers=["CPUExecutionProvider"])
    before = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    for c in (True, False):
        feeds = {"c": np.array(c), "x": x}
        assert before.run(None, feeds)[0].tobytes() == session.run(None, feeds)[0].tobytes()


# A first Slice with an exporter's long names and parameters only it reads, so that
# the merge saves bytes: what leaves a pair alone below is the case, not the size.
_FIRST = "/model/encoder/stft/Slice"


def _pair(body: str, outputs: str = "y", custom: bool = False) -> onnx.ModelProto:
    """``body`` with ``FIRST(x, S1, E1, axes)`` the first Slice (``x[1:]`` on ``axes``)
    and ``A`` its output."""
    first = f'["{_FIRST}"] "{_FIRST}_output_0" = Slice'
    body = body.replace("FIRST(", first + " (").replace("A", f'"{_FIRST}_output_0"')
    body = body.replace("S1", f'"{_FIRST}/starts"').replace("E1", f'"{_FIRST}/ends"')
    model = parse(
        f"""
        g (float[4,6] x, int64[1] n, int64[2] v) => ({outputs}) <
            int64[1] zero = {{0}}, int64[1] one = {{1}}, int64[1] big = {{{MAX}}},
            int64[1] "{_FIRST}/starts" = {{1}}, int64[1] "{_FIRST}/ends" = {{{MAX}}},
            int64[1] "{_FIRST}/axes" = {{0}}, int64[1] "{_FIRST}/last" = {{-1}},
            int64[1] minus3 = {{-3}}
        > {{
            {body}
        }}
        """,
        extra=', "custom": 1' if custom else "",
    )
    if custom:
        model.graph.node[0].domain = "custom"
    return model


_AXIS0 = f'"{_FIRST}/axes"'
_LAST = f'"{_FIRST}/last"'


def test_the_pair_the_cases_below_change_merges() -> None:
    model = _pair(f"FIRST(x, S1, E1, {_AXIS0})\n y = Slice (A, one, big, one)", "float[3,5] y")
    (finding,) = check(model)
    assert [loc.name for loc in finding.locations] == [_FIRST]
    fixed_ok(model)


@pytest.mark.parametrize(
    ("body", "outputs", "custom"),
    [
        # the same axis twice: not composed
        (f"FIRST(x, S1, E1, {_AXIS0})\n y = Slice (A, one, big, zero)", "y", False),
        # the first Slice has another reader
        (
            f"FIRST(x, S1, E1, {_AXIS0})\n y = Slice (A, one, big, one)\n r = Relu (A)",
            "y, r",
            False,
        ),
        # the first Slice is a graph output
        (f"FIRST(x, S1, E1, {_AXIS0})\n y = Slice (A, one, big, one)", "y, A", False),
        # parameters that are not constants
        (f"FIRST(x, n, E1, {_AXIS0})\n y = Slice (A, one, big, one)", "y", False),
        (f"FIRST(x, S1, E1, {_AXIS0})\n y = Slice (A, n, big, one)", "y", False),
        # the first Slice's output read as a parameter, not sliced
        ("FIRST(v, S1, E1, zero)\n y = Slice (x, A, big, one)", "y", False),
        # an axis out of range: the original fails, and so must the fixed model
        (f"FIRST(x, S1, E1, {_AXIS0})\n y = Slice (A, one, big, minus3)", "y", False),
        # negative axes of a value whose rank is unknown
        (f"u = Custom (x)\n FIRST(u, S1, E1, {_LAST})\n y = Slice (A, one, big, zero)", "y", True),
    ],
)
def test_leaves_alone(body: str, outputs: str, custom: bool) -> None:
    outputs = outputs.replace("A", f'"{_FIRST}_output_0"')
    assert check(_pair(body, outputs, custom)) == []


def test_overridable_parameter_and_reader_in_a_subgraph_are_left_alone() -> None:
    overridable = parse(
        f"""
        g (float[4,6] x, int64[1] one) => (y) <
            int64[1] zero = {{0}}, int64[1] big = {{{MAX}}}, int64[1] one = {{1}}
        > {{
            a = Slice (x, one, big, zero)
            y = Slice (a, zero, big, one)
        }}
        """
    )
    assert check(overridable) == []
    # both branches slice the first Slice's output again: reads from another graph
    outer = _pair(
        f"""FIRST(x, S1, E1, {_AXIS0})
            y = If (c) <
                then_branch = t () => (float[3,5] p) {{ p = Slice (A, one, big, one) }},
                else_branch = e () => (float[3,4] q) {{ q = Slice (A, one, E1, one) }}
            >"""
    )
    outer.graph.input.append(onnx.helper.make_tensor_value_info("c", onnx.TensorProto.BOOL, []))
    assert check(outer) == []


def test_opset_9_attribute_form_is_left_alone() -> None:
    model = parse(
        """
        g (float[4,6] x) => (float[3,5] y) {
            a = Slice <starts = [1], ends = [4], axes = [0]> (x)
            y = Slice <starts = [1], ends = [6], axes = [1]> (a)
        }
        """,
        opset=9,
    )
    assert check(model) == []
