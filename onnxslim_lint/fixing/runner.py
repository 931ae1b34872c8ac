"""Running a model in onnxruntime: the only module that imports it, and only when
a model is run (``import onnxslim_lint`` and the lint path never pay for it).

Sessions run on the CPU provider with every graph optimization and weight
prepacking off, one thread, so two models computing the same thing compute it the
same way. bfloat16 tensors, which numpy lacks, go in and out as raw memory.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_dtypes  # numpy has no bfloat16; onnx imports ml_dtypes anyway
import numpy as np
import onnx
from onnx import TensorProto

from onnxslim_lint.fixing.gates import first_line
from onnxslim_lint.fixing.inputs import CannotVerify
from onnxslim_lint.fixing.isolation import OutOfMemory, is_out_of_memory
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.graphs import all_nodes

__all__ = ["Runner", "custom_op_libraries", "custom_ops", "serialize"]

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


# Op domains onnxruntime implements itself (besides the ONNX default domain).
_BUILT_IN_DOMAINS = frozenset(
    {
        "ai.onnx.ml",
        "ai.onnx.training",
        "ai.onnx.preview.training",
        "com.microsoft",
        "com.microsoft.experimental",
        "com.microsoft.nchwc",
        "com.ms.internal.nhwc",
    }
)


def custom_ops(model: onnx.ModelProto) -> list[str]:
    """``domain::op`` of the ops in ``model`` that neither onnxruntime nor a
    model-local function implements: their kernels come from a custom-op library."""
    local = {(f.domain, f.name) for f in model.functions}
    nodes = list(all_nodes(model.graph))
    for function in model.functions:
        nodes.extend(function.node)
    return sorted(
        {
            f"{node.domain}::{node.op_type}"
            for node in nodes
            if not is_default_domain(node.domain)
            and node.domain not in _BUILT_IN_DOMAINS
            and (node.domain, node.op_type) not in local
        }
    )


def custom_op_libraries(model: onnx.ModelProto, configured: Sequence[str]) -> list[str]:
    """The libraries to load for ``model``: the configured ones, then
    onnxruntime-extensions' when it is installed and the model has custom ops."""
    libraries = list(configured)
    if custom_ops(model):
        path = _extensions_library()
        if path is not None and path not in libraries:
            libraries.append(path)
    return libraries


def _extensions_library() -> str | None:
    """onnxruntime-extensions' kernel library, found without importing the package:
    its ``__init__`` imports its converters (4 s on a 2-core machine, most of a
    verification), and all ``get_library_path`` returns is this file's path."""
    spec = importlib.util.find_spec("onnxruntime_extensions")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            candidate = Path(folder) / f"_extensions_pydll{suffix}"
            if candidate.is_file():
                return str(candidate)
    try:  # a layout this does not know: ask the package
        from onnxruntime_extensions import get_library_path
    except ImportError:
        return None
    return str(get_library_path())


class Runner:
    """One model loaded in onnxruntime, from its bytes or from its file (with any
    external data beside it); raises what onnxruntime raises."""

    def __init__(self, source: bytes | Path, libraries: Sequence[str] = ()) -> None:
        # Imported here, not at the top: only a verification pays for onnxruntime.
        import onnxruntime as ort

        self._ort = ort
        model = source if isinstance(source, bytes) else str(source)
        options = _options(ort)
        for library in libraries:
            options.register_custom_ops_library(library)
        try:
            self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            _raise_out_of_memory(exc)
            raise
        self._bf16 = any(o.type == "tensor(bfloat16)" for o in self._session.get_outputs())

    def run(self, names: list[str], feeds: Mapping[str, np.ndarray]) -> list[Any]:
        """The outputs ``names`` for one feed, as numpy values (lists and dicts for
        sequences and maps); raises CannotVerify when bfloat16 outputs come with
        non-tensor ones."""
        try:
            if self._bf16:
                values = self._session.run_with_ort_values(names, self._ort_feed(feeds, True))
                return [_ort_value_to_numpy(v) for v in values]
            return list(self._session.run(names, self._ort_feed(feeds, False)))
        except CannotVerify:
            raise
        except Exception as exc:
            _raise_out_of_memory(exc)
            raise

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


def _raise_out_of_memory(exc: Exception) -> None:
    """An allocation that failed is the memory limit, not the model: say so."""
    if isinstance(exc, MemoryError) or is_out_of_memory(str(exc)):
        raise OutOfMemory(first_line(exc)) from None


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
    options.log_severity_level = 4  # fatal only: errors come back as exceptions
    # No arena: onnxruntime's grows in large blocks and never gives them back, so a
    # second session (the candidate) would sit on top of the original's (GPT-2,
    # 499 MB: the verification child 1.19 GB with it, 0.71 GB without).
    options.enable_cpu_mem_arena = False
    # Kernels that prepack constant weights (MatMul, Conv) sum in another order
    # than for the same weight computed at run time; a rewrite that turns a weight
    # into a constant or back (folding a Transpose, tying weights) would then differ
    # in the last bits. Without prepacking both graphs are computed alike.
    options.add_session_config_entry("session.disable_prepacking", "1")
    return options
