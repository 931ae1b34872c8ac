"""OSL210 sequence-split: SplitToSequence + SequenceAt become one Split."""

from __future__ import annotations

from functools import partial

import graphs
import pytest
from graphs import parse

from onnxslim_lint.rules.sequence_split import SequenceSplit

check = partial(graphs.check, SequenceSplit)
fixed_ok = partial(graphs.exact_fix_ok, SequenceSplit)

QKV = """
g (float[2,4,6] x) => (float[2,4,2] q, float[2,4,2] k, float[2,4,2] v) {
    size = Constant <value = int64 {2}> ()
    i0 = Constant <value = int64 {0}> ()
    i1 = Constant <value = int64 {1}> ()
    im1 = Constant <value = int64 {-1}> ()
    [split] s = SplitToSequence <axis = 2> (x, size)
    [at0] q0 = SequenceAt (s, i0)
    [at1] k = SequenceAt (s, i1)
    [at2] v = SequenceAt (s, im1)
    [relu] q = Relu (q0)
}
"""


def ops(model):  # type: ignore[no-untyped-def]
    return [n.op_type for n in model.graph.node if n.op_type != "Constant"]


def test_split_to_sequence_becomes_split_and_keeps_output_names() -> None:
    model = parse(QKV, opset=18)
    (finding,) = check(model)
    assert finding.count == finding.nodes == 3
    assert [loc.name for loc in finding.locations] == ["split"]
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Split", "Relu"]
    split = next(n for n in fixed.graph.node if n.op_type == "Split")
    assert list(split.output) == ["q0", "k", "v"]
    assert [o.name for o in fixed.graph.output] == ["q", "k", "v"]


def test_explicit_sizes_and_a_chunk_nobody_reads() -> None:
    model = parse(
        """
        g (float[5,3] x) => (float[2,3] y) {
            sizes = Constant <value = int64[3] {1, 2, 2}> ()
            i1 = Constant <value = int64 {1}> ()
            s = SplitToSequence (x, sizes)
            a = SequenceAt (s, i1)
            b = SequenceAt (s, i1)
            y = Add (a, b)
        }
        """,
        opset=17,
    )
    (finding,) = check(model)
    assert finding.nodes == 2
    fixed = fixed_ok(model)
    split = next(n for n in fixed.graph.node if n.op_type == "Split")
    assert len(split.output) == 3
    add = next(n for n in fixed.graph.node if n.op_type == "Add")
    assert add.input[0] == add.input[1] == split.output[1]


@pytest.mark.parametrize(
    "text",
    [
        # the sequence is also measured: not only SequenceAt readers
        """g (float[4,2] x) => (float[2,2] y, int64 n) {
            size = Constant <value = int64 {2}> ()
            i0 = Constant <value = int64 {0}> ()
            s = SplitToSequence (x, size)
            y = SequenceAt (s, i0)
            n = SequenceLength (s)
        }""",
        # a position computed at run time
        """g (float[4,2] x, int64 p) => (float[2,2] y) {
            size = Constant <value = int64 {2}> ()
            s = SplitToSequence (x, size)
            y = SequenceAt (s, p)
        }""",
        # a scalar split of a dynamic axis: the chunk count is not known
        """g (float[N,2] x) => (float[?,2] y) {
            size = Constant <value = int64 {2}> ()
            i0 = Constant <value = int64 {0}> ()
            s = SplitToSequence (x, size)
            y = SequenceAt (s, i0)
        }""",
        # squeezed size-1 chunks (no split, keepdims = 0)
        """g (float[3,2] x) => (float[2] y) {
            i0 = Constant <value = int64 {0}> ()
            s = SplitToSequence <keepdims = 0> (x)
            y = SequenceAt (s, i0)
        }""",
    ],
)
def test_left_alone(text: str) -> None:
    assert check(parse(text, opset=17)) == []


def test_two_graph_outputs_of_one_chunk_stay() -> None:
    model = parse(
        """
        g (float[4,2] x) => (float[2,2] a, float[2,2] b) {
            size = Constant <value = int64 {2}> ()
            i0 = Constant <value = int64 {0}> ()
            s = SplitToSequence (x, size)
            a = SequenceAt (s, i0)
            b = SequenceAt (s, i0)
        }
        """,
        opset=17,
    )
    assert check(model) == []
