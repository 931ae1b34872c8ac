"""Sample inputs the user gives: ONNX test data beside the model, or files named by
``verify.inputs``.

Two sources, tried in this order:

* ``verify.inputs``: a ``.npz`` file (keys are input names), a ``.npy`` file (a
  model with one fed input), or a folder holding ``test_data_set_*`` folders,
  ``input_*.pb`` files or ``.npz`` files (one sample each);
* ``test_data_set_*/input_*.pb`` in the model's folder, ONNX's own layout (backend
  tests, model zoo). Used when the tensors fit the model's inputs; with
  ``output_*.pb`` beside them the original's outputs must match those first.

A sample may leave inputs out; verification generates those. Every file is read
whole, so the bytes read are capped by ``max_input_size`` per sample.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from onnxslim_lint.config import VerifySettings
from onnxslim_lint.fixing.inputs import CannotVerify, fed_inputs

__all__ = ["Sample", "user_samples"]

# More sets than this are not read: verification needs a few, not a dataset.
_MAX_SETS = 16
_PB_NAME = re.compile(r"(input|output)_(\d+)\.pb")


@dataclass(frozen=True)
class Sample:
    """One sample's given inputs (by input name) and, from ``output_*.pb``, the
    outputs the original must compute (by output position)."""

    label: str
    inputs: Mapping[str, np.ndarray]
    expected: Sequence[np.ndarray] | None = None
    files: tuple[str, ...] = field(default=())


def user_samples(
    model: onnx.ModelProto, settings: VerifySettings, model_path: Path | None
) -> list[Sample]:
    """The samples given for ``model`` (empty: generate them); raises CannotVerify
    when configured inputs cannot be read or do not fit the model."""
    names = [vi.name for vi in fed_inputs(model)]
    if settings.inputs is not None:
        path = Path(settings.inputs)
        if not path.exists():
            raise CannotVerify(f"verify.inputs: {path} does not exist")
        samples = _read(path, names, settings.max_input_size, configured=True)
        if not samples:
            raise CannotVerify(f"verify.inputs: no sample inputs found in {path}")
        _check_fit(model, samples, configured=True)
        return samples
    if model_path is None:
        return []
    sets = sorted(model_path.parent.glob("test_data_set_*"))
    sets = [s for s in sets if s.is_dir()]
    if not sets:
        return []
    try:
        samples = _read_sets(sets, names, settings.max_input_size, configured=False)
        _check_fit(model, samples, configured=False)
    except CannotVerify:
        return []  # test data for another model, or not readable: generate inputs instead
    return samples


def _read(path: Path, names: Sequence[str], limit: int, configured: bool) -> list[Sample]:
    if path.is_file():
        return [_read_file(path, names, limit)]
    sets = sorted(p for p in path.glob("test_data_set_*") if p.is_dir())
    if sets:
        return _read_sets(sets, names, limit, configured)
    if any(_PB_NAME.fullmatch(p.name) for p in path.iterdir()):
        return [_read_set(path, names, limit)]
    files = sorted(p for p in path.iterdir() if p.suffix in (".npz", ".npy"))
    return [_read_file(p, names, limit) for p in files[:_MAX_SETS]]


def _read_file(path: Path, names: Sequence[str], limit: int) -> Sample:
    _check_size([path], limit)
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                inputs = {key: np.asarray(data[key]) for key in data.files}
        elif path.suffix == ".npy":
            if len(names) != 1:
                raise CannotVerify(
                    f"verify.inputs: {path.name} holds one array, but the model has "
                    f"{len(names)} fed inputs; use a .npz file with one array per input name"
                )
            inputs = {names[0]: np.load(path, allow_pickle=False)}
        elif _PB_NAME.fullmatch(path.name):
            return _read_set(path.parent, names, limit)
        else:
            raise CannotVerify(f"verify.inputs: {path.name} is not a .npz, .npy or input_*.pb file")
    except CannotVerify:
        raise
    except (OSError, ValueError) as exc:
        raise CannotVerify(f"verify.inputs: cannot read {path}: {exc}") from None
    return Sample(path.name, inputs, None, (str(path),))


def _read_sets(
    sets: Sequence[Path], names: Sequence[str], limit: int, configured: bool
) -> list[Sample]:
    return [_read_set(folder, names, limit) for folder in sets[:_MAX_SETS]]


def _read_set(folder: Path, names: Sequence[str], limit: int) -> Sample:
    """One ``test_data_set_N`` folder: ``input_K.pb`` is the K-th fed input unless the
    tensor names it; ``output_K.pb`` the K-th graph output."""
    found: dict[str, dict[int, Path]] = {"input": {}, "output": {}}
    for path in folder.iterdir():
        match = _PB_NAME.fullmatch(path.name)
        if match:
            found[match.group(1)][int(match.group(2))] = path
    _check_size([*found["input"].values()], limit)
    inputs: dict[str, np.ndarray] = {}
    for index in sorted(found["input"]):
        tensor = _read_tensor(found["input"][index])
        name = tensor.name if tensor.name in names else None
        if name is None:
            if index >= len(names):
                raise CannotVerify(
                    f"{folder.name}/input_{index}.pb: the model has only {len(names)} fed inputs"
                )
            name = names[index]
        inputs[name] = numpy_helper.to_array(tensor)
    expected = None
    if found["output"]:
        _check_size([*found["output"].values()], limit)
        positions = sorted(found["output"])
        if positions != list(range(len(positions))):
            raise CannotVerify(f"{folder.name}: output_*.pb files are not numbered 0, 1, ...")
        expected = [numpy_helper.to_array(_read_tensor(found["output"][i])) for i in positions]
    files = tuple(str(p) for kind in found.values() for p in kind.values())
    return Sample(folder.name, inputs, expected, files)


def _read_tensor(path: Path) -> onnx.TensorProto:
    try:
        tensor = onnx.TensorProto.FromString(path.read_bytes())
    except Exception as exc:  # protobuf's DecodeError and friends
        raise CannotVerify(f"cannot read the tensor in {path}: {exc}") from None
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        raise CannotVerify(f"{path}: a test tensor with external data is not supported")
    return tensor


def _check_size(paths: Sequence[Path], limit: int) -> None:
    total = sum(p.stat().st_size for p in paths)
    if total > limit:
        raise CannotVerify(
            f"sample inputs of {total} bytes are over verify.max-input-size ({limit} bytes)"
        )


def _check_fit(model: onnx.ModelProto, samples: Sequence[Sample], configured: bool) -> None:
    """Every given array names a fed input, with its element type and rank; expected
    outputs are one per graph output."""
    fed = {vi.name: vi for vi in fed_inputs(model)}
    outputs = len(model.graph.output)
    for sample in samples:
        for name, array in sample.inputs.items():
            where = f"sample {sample.label}"
            vi = fed.get(name)
            if vi is None:
                known = ", ".join(repr(n) for n in fed) or "none"
                raise CannotVerify(
                    f"{where}: {name!r} is not a fed input of the model (fed inputs: {known})"
                )
            tt = vi.type.tensor_type
            expected = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
            if array.dtype != expected and not (
                expected == np.dtype(object) and array.dtype.kind in "OSU"
            ):
                raise CannotVerify(
                    f"{where}: input {name!r} is {array.dtype}, the model takes {expected}"
                )
            if tt.HasField("shape") and len(tt.shape.dim) != array.ndim:
                raise CannotVerify(
                    f"{where}: input {name!r} has rank {array.ndim}, "
                    f"the model takes rank {len(tt.shape.dim)}"
                )
        if sample.expected is not None and len(sample.expected) != outputs:
            raise CannotVerify(
                f"sample {sample.label}: {len(sample.expected)} expected outputs, "
                f"the model has {outputs}"
            )
