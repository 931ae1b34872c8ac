"""OSL214 zero-initial-state: recurrent ops given an initial state of zeros."""

from __future__ import annotations

from functools import partial

import graphs
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from graphs import parse

from onnxslim_lint.rules.zero_initial_state import ZeroInitialState

check = partial(graphs.check, ZeroInitialState)
fixed_ok = partial(graphs.exact_fix_ok, ZeroInitialState)

_RNG = np.random.default_rng(0)
_W = _RNG.standard_normal((2, 16, 3)).astype(np.float32)
_R = _RNG.standard_normal((2, 16, 4)).astype(np.float32)
_B = _RNG.standard_normal((2, 32)).astype(np.float32)


def _with_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    for name, array in (("W", _W), ("R", _R), ("B", _B)):
        model.graph.initializer.append(onnx.numpy_helper.from_array(array, name))
    return model


def _lstm(state: str, inputs: str = "x", signature: str = "float[seq,batch,3] x") -> str:
    """A bidirectional LSTM (hidden 4) whose initial states are ``z``, built by ``state``."""
    return f"""
    g ({signature}) => (float[seq,2,batch,4] y) {{
        two = Constant <value = int64[1] {{2}}> ()
        four = Constant <value = int64[1] {{4}}> ()
        one = Constant <value = int64 {{1}}> ()
        axes = Constant <value = int64[1] {{0}}> ()
        {state}
        [rnn] y, yh, yc = LSTM <hidden_size = 4, direction = "bidirectional"> (x, W, R, B, , z, z)
    }}
    """


BATCH_ZEROS = """
        [shape] s = Shape ({source})
        [pick] b = Gather (s, one)
        [lift] bu = Unsqueeze (b, axes)
        [dims] d = Concat <axis = 0> (two, bu, four)
        [fill] z = ConstantOfShape {value} (d)
"""


def _model(source: str = "x", value: str = "", **kwargs: str) -> onnx.ModelProto:
    state = BATCH_ZEROS.format(source=source, value=value)
    return _with_weights(parse(_lstm(state, **kwargs)))


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def test_zeros_of_the_dynamic_batch_are_dropped_with_their_chain() -> None:
    model = _model()
    (finding,) = check(model)
    assert graphs.location_names(finding) == ["rnn"]
    assert finding.count == 2  # initial_h and initial_c
    assert finding.nodes == 9  # Shape, Gather, Unsqueeze, Concat, ConstantOfShape, 4 Constants
    fixed = fixed_ok(model)
    (lstm,) = fixed.graph.node
    assert list(lstm.input) == ["x", "W", "R", "B"]


@pytest.mark.parametrize("batch", [1, 3])
def test_the_lstm_without_its_zeros_gives_the_same_bits(batch: int) -> None:
    model = _model()
    fixed = fixed_ok(model)
    x = np.random.default_rng(batch).standard_normal((5, batch, 3)).astype(np.float32)
    assert _run(model, x).tobytes() == _run(fixed, x).tobytes()


def test_zeros_expanded_from_a_scalar_and_sliced_count() -> None:
    # tf2onnx and the dynamo exporter: Expand(0.0, [3, batch, 4]) sliced per layer
    state = """
        zero = Constant <value = float {0.0}> ()
        three = Constant <value = int64[1] {3}> ()
        lo = Constant <value = int64[1] {1}> ()
        hi = Constant <value = int64[1] {2}> ()
        s = Shape <start = 1, end = 2> (x)
        d = Concat <axis = 0> (three, s, four)
        all = Expand (zero, d)
        z = Slice (all, lo, hi, axes)
    """
    model = _with_weights(
        parse(
            _lstm(state)
            .replace('direction = "bidirectional"', 'direction = "forward"')
            .replace("float[seq,2,batch,4] y", "float[seq,1,batch,4] y")
        )
    )
    for name, array in (("W", _W[:1]), ("R", _R[:1]), ("B", _B[:1])):
        (tensor,) = [t for t in model.graph.initializer if t.name == name]
        tensor.CopyFrom(onnx.numpy_helper.from_array(array, name))
    (finding,) = check(model)
    assert finding.count == 2
    fixed = fixed_ok(model)
    # the template's Constants that nothing reads are dead-node's to remove
    assert [n.op_type for n in fixed.graph.node if n.op_type != "Constant"] == ["LSTM"]
    x = np.random.default_rng(1).standard_normal((4, 2, 3)).astype(np.float32)
    assert _run(model, x).tobytes() == _run(fixed, x).tobytes()


def test_a_gru_state_counts() -> None:
    model = parse(
        """
        g (float[seq,batch,3] x) => (float[seq,1,batch,4] y) {
            one = Constant <value = int64 {1}> ()
            axes = Constant <value = int64[1] {0}> ()
            lead = Constant <value = int64[1] {1}> ()
            four = Constant <value = int64[1] {4}> ()
            s = Shape (x)
            b = Gather (s, one)
            bu = Unsqueeze (b, axes)
            d = Concat <axis = 0> (lead, bu, four)
            z = ConstantOfShape (d)
            y, yh = GRU <hidden_size = 4> (x, W, R, B, , z)
        }
        """
    )
    rng = np.random.default_rng(2)
    for name, shape in (("W", (1, 12, 3)), ("R", (1, 12, 4)), ("B", (1, 24))):
        array = rng.standard_normal(shape).astype(np.float32)
        model.graph.initializer.append(onnx.numpy_helper.from_array(array, name))
    fixed = fixed_ok(model)
    assert [n.op_type for n in fixed.graph.node] == ["GRU"]


@pytest.mark.parametrize(
    "value",
    [
        "<value = float[1] {1.0}>",  # not zeros
        "<value = float[1] {-0.0}>",  # other bits than the default state's
    ],
)
def test_a_state_of_other_numbers_stays(value: str) -> None:
    graphs.assert_untouched(ZeroInitialState, _model(value=value))


def test_a_state_whose_batch_is_not_proven_the_inputs_stays() -> None:
    # zeros of t's dim 1, which only the caller knows to be x's batch
    model = _model(source="t", signature="float[seq,batch,3] x, float[seq,other,3] t")
    graphs.assert_untouched(ZeroInitialState, model)


def test_a_state_fed_by_the_caller_stays() -> None:
    model = _with_weights(
        parse(
            """
            g (float[seq,batch,3] x, float[2,batch,4] z) => (float[seq,2,batch,4] y) {
                y, yh, yc = LSTM <hidden_size = 4, direction = "bidirectional"> (x, W, R, B, , z, z)
            }
            """
        )
    )
    graphs.assert_untouched(ZeroInitialState, model)


def test_an_initializer_the_caller_may_override_stays() -> None:
    model = _with_weights(
        parse(
            """
            g (float[seq,1,3] x, float[2,1,4] z) => (float[seq,2,1,4] y) {
                y, yh, yc = LSTM <hidden_size = 4, direction = "bidirectional"> (x, W, R, B, , z, z)
            }
            """
        )
    )
    model.graph.initializer.append(
        onnx.numpy_helper.from_array(np.zeros((2, 1, 4), np.float32), "z")
    )
    graphs.assert_untouched(ZeroInitialState, model)


def test_a_zeros_initializer_of_a_static_batch_is_dropped() -> None:
    model = _with_weights(
        parse(
            """
            g (float[seq,1,3] x) => (float[seq,2,1,4] y) {
                y, yh, yc = LSTM <hidden_size = 4, direction = "bidirectional"> (x, W, R, B, , z, z)
            }
            """
        )
    )
    model.graph.initializer.append(
        onnx.numpy_helper.from_array(np.zeros((2, 1, 4), np.float32), "z")
    )
    fixed = fixed_ok(model)
    assert list(fixed.graph.node[0].input) == ["x", "W", "R", "B"]


def test_a_building_node_read_elsewhere_stays() -> None:
    model = _model()
    model.graph.output.append(onnx.helper.make_tensor_value_info("d", onnx.TensorProto.INT64, [3]))
    (finding,) = check(model)
    assert finding.nodes == 1  # the ConstantOfShape only
    fixed = fixed_ok(model)
    assert "Concat" in [n.op_type for n in fixed.graph.node]
