"""Running a model in onnxruntime: the only module that imports it, and only when
a model is run (``import onnxslim_lint`` and the lint path never pay for it).

Sessions run on the CPU provider with every graph optimization and weight
prepacking off, one thread, so two models computing the same thing compute it the
same way. bfloat16 tensors, which numpy lacks, go in and out as raw memory.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ml_dtypes  # numpy has no bfloat16; onnx imports ml_dtypes anyway
import numpy as np
import onnx
from onnx import TensorProto

from onnxslim_lint.fixing.gates import first_line
from onnxslim_lint.fixing.inputs import CannotVerify

__all__ = ["Runner", "serialize"]

# Protobuf cannot serialize a message of 2 GiB or more, so such a model cannot be
# handed to onnxruntime from memory. Module level so tests can lower it.
_PROTOBUF_LIMIT = 2**31


def serialize(model: onnx.ModelProto) -> bytes | str:
    """The model's bytes, or a reason why it cannot be serialized in memory."""
    too_big = "the model is 2 GB or larger, which protobuf cannot serialize in memory"
    try:
        data = model.SerializeToString()  # measuring first would serialize twice
    except (ValueError, OverflowError) as exc:  # protobuf's size errors
        return f"{too_big} ({first_line(exc)})"
    return too_big if len(data) >= _PROTOBUF_LIMIT else data


class Runner:
    """One model loaded in onnxruntime, from its bytes or from its file (with any
    external data beside it); raises what onnxruntime raises."""

    def __init__(self, source: bytes | Path) -> None:
        # Imported here, not at the top: only a verification pays for onnxruntime.
        import onnxruntime as ort

        self._ort = ort
        model = source if isinstance(source, bytes) else str(source)
        self._session = ort.InferenceSession(
            model, _options(ort), providers=["CPUExecutionProvider"]
        )
        self._bf16 = any(o.type == "tensor(bfloat16)" for o in self._session.get_outputs())

    def run(self, names: list[str], feeds: Mapping[str, np.ndarray]) -> list[Any]:
        """The outputs ``names`` for one feed, as numpy values (lists and dicts for
        sequences and maps); raises CannotVerify when bfloat16 outputs come with
        non-tensor ones."""
        if self._bf16:
            values = self._session.run_with_ort_values(names, self._ort_feed(feeds, True))
            return [_ort_value_to_numpy(v) for v in values]
        return list(self._session.run(names, self._ort_feed(feeds, False)))

    def _ort_feed(self, feeds: Mapping[str, np.ndarray], all_ort: bool) -> dict[str, Any]:
        ort = self._ort
        out: dict[str, Any] = {}
        for name, value in feeds.items():
            if value.dtype.name == "bfloat16":
                out[name] = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(
                    np.ascontiguousarray(value).view(np.uint16), TensorProto.BFLOAT16
                )
            elif all_ort:
                out[name] = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value))
            else:
                out[name] = value
        return out


def _ort_value_to_numpy(value: Any) -> Any:
    """An output OrtValue as numpy; bfloat16 is read from raw memory (no numpy type)."""
    if not value.is_tensor():
        raise CannotVerify("a model with bfloat16 outputs also has non-tensor outputs")
    if value.data_type() != "tensor(bfloat16)":
        return value.numpy()
    shape = tuple(value.shape())
    nbytes = value.tensor_size_in_bytes()
    raw = ctypes.string_at(value.data_ptr(), nbytes) if nbytes else b""
    return np.frombuffer(raw, dtype=np.uint16).reshape(shape).view(ml_dtypes.bfloat16).copy()


def _options(ort: Any) -> Any:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Kernels that prepack constant weights (MatMul, Conv) sum in another order
    # than for the same weight computed at run time; a rewrite that turns a weight
    # into a constant or back (folding a Transpose, tying weights) would then differ
    # in the last bits. Without prepacking both graphs are computed alike.
    options.add_session_config_entry("session.disable_prepacking", "1")
    return options
