"""Tests for onnxslim_lint.model.write: atomic single-file and external-data writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.errors import OnnxLintError
from onnxslim_lint.model import write as write_module
from onnxslim_lint.model.graphs import iter_tensors
from onnxslim_lint.model.load import load_model
from onnxslim_lint.model.write import ModelWriteError, serialized_size, write_model


def make_model() -> onnx.ModelProto:
    """Big and small initializers, a typed-field tensor, a string tensor, a sparse
    initializer and a Constant inside an If branch: every place a tensor can be."""
    rng = np.random.default_rng(0)
    big = numpy_helper.from_array(rng.standard_normal((64, 32)).astype(np.float32), "big")
    small = numpy_helper.from_array(np.arange(3, dtype=np.int64), "small")
    typed = helper.make_tensor("typed", TensorProto.FLOAT, [600], rng.standard_normal(600))
    half = helper.make_tensor(
        "half", TensorProto.FLOAT16, [700], rng.standard_normal(700).astype(np.float16)
    )
    words = helper.make_tensor("words", TensorProto.STRING, [2], [b"a" * 900, b"b" * 900])
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.arange(1, 401, dtype=np.float32), "sp"),
        numpy_helper.from_array(np.arange(0, 800, 2, dtype=np.int64), "sp_idx"),
        [800],
    )
    const = numpy_helper.from_array(rng.standard_normal(512).astype(np.float32), "branch")
    then_graph = helper.make_graph(
        [helper.make_node("Constant", [], ["T"], value=const)],
        "then",
        [],
        [helper.make_tensor_value_info("T", TensorProto.FLOAT, [512])],
    )
    else_graph = helper.make_graph(
        [helper.make_node("Constant", [], ["E"], value=const)],
        "else",
        [],
        [helper.make_tensor_value_info("E", TensorProto.FLOAT, [512])],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["X", "big"], ["Y"]),
            helper.make_node("If", ["C"], ["Z"], then_branch=then_graph, else_branch=else_graph),
        ],
        "g",
        [
            helper.make_tensor_value_info("X", TensorProto.FLOAT, [64, 32]),
            helper.make_tensor_value_info("C", TensorProto.BOOL, []),
        ],
        [
            helper.make_tensor_value_info("Y", TensorProto.FLOAT, [64, 32]),
            helper.make_tensor_value_info("Z", TensorProto.FLOAT, [512]),
        ],
        [big, small, typed, half, words],
        sparse_initializer=[sparse],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def tensor_bytes(model: onnx.ModelProto) -> list[tuple[str, int, bytes]]:
    """(name, dtype, exact value bytes) of every tensor, in walk order."""
    out = []
    for tensor, label in iter_tensors(model):
        if tensor.data_type == TensorProto.STRING:
            value = b"\0".join(tensor.string_data)
        else:
            value = numpy_helper.to_array(tensor).tobytes()
        out.append((label, tensor.data_type, value))
    return out


def files_in(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_single_file_round_trip(tmp_path: Path) -> None:
    model = make_model()
    target = tmp_path / "m.onnx"
    result = write_model(model, target, external=False)
    assert result.model_path == target
    assert result.data_path is None
    assert result.total_size == target.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    loaded = load_model(target)
    assert not loaded.has_external_data
    assert loaded.model.SerializeToString() == model.SerializeToString()


def test_external_round_trip(tmp_path: Path) -> None:
    model = make_model()
    want = tensor_bytes(model)
    target = tmp_path / "m.onnx"
    result = write_model(model, target, external=True)
    assert result.data_path == tmp_path / "m.onnx.data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]
    assert result.total_size == target.stat().st_size + result.data_path.stat().st_size

    on_disk = onnx.load(str(target), load_external_data=False)
    external = {
        label
        for tensor, label in iter_tensors(on_disk)
        if tensor.data_location == TensorProto.EXTERNAL
    }
    # >= 1024 bytes moved out, whatever their storage; small and string tensors stay
    assert external == {"big", "typed", "half", "sp", "sp (indices)", "branch"}
    for tensor, _ in iter_tensors(on_disk):
        locations = [e.value for e in tensor.external_data if e.key == "location"]
        assert locations in ([], ["m.onnx.data"])

    loaded = load_model(target)
    assert loaded.data_files == (result.data_path.resolve(),)
    assert tensor_bytes(loaded.model) == want


def test_external_rewrite_stays_external_and_keeps_the_data_file_name(tmp_path: Path) -> None:
    target = tmp_path / "m.onnx"
    write_model(make_model(), target, external=True)
    loaded = load_model(target)
    old_data = loaded.data_files
    result = write_model(loaded.model, target, external=True, replaces=old_data)
    assert result.data_path == tmp_path / "m.onnx.data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]
    again = load_model(target)
    assert tensor_bytes(again.model) == tensor_bytes(loaded.model)

    # Without replaces (the data file is another model's too) it is left alone and
    # the tool picks the next free name.
    before = (tmp_path / "m.onnx.data").read_bytes()
    result = write_model(again.model, target, external=True)
    assert result.data_path == tmp_path / "m.onnx_data"
    assert (tmp_path / "m.onnx.data").read_bytes() == before


def test_data_name_never_clobbers_existing_files(tmp_path: Path) -> None:
    for name in ("m.onnx.data", "m.onnx_data", "m.onnx.data.1"):
        (tmp_path / name).write_bytes(b"keep me")
    result = write_model(make_model(), tmp_path / "m.onnx", external=True)
    assert result.data_path == tmp_path / "m.onnx.data.2"
    for name in ("m.onnx.data", "m.onnx_data", "m.onnx.data.1"):
        assert (tmp_path / name).read_bytes() == b"keep me"


def test_location_in_model_is_never_used(tmp_path: Path) -> None:
    """A self-contained model with stale external_data entries gets the tool's name."""
    model = make_model()
    entry = model.graph.initializer[0].external_data.add()
    entry.key, entry.value = "location", "../evil.bin"
    write_model(model, tmp_path / "m.onnx", external=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]
    assert not (tmp_path.parent / "evil.bin").exists()


def test_external_to_single_file_removes_old_data(tmp_path: Path) -> None:
    target = tmp_path / "m.onnx"
    write_model(make_model(), target, external=True)
    loaded = load_model(target)
    result = write_model(loaded.model, target, external=False, replaces=loaded.data_files)
    assert result.data_path is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    assert not load_model(target).has_external_data


def test_replaces_outside_folder_is_not_deleted(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    outside = tmp_path / "other.data"
    outside.write_bytes(b"x")
    result = write_model(make_model(), folder / "m.onnx", external=False, replaces=[outside])
    assert outside.exists()
    assert result.not_removed == ()


@pytest.mark.parametrize("external", [False, True])
def test_mode_is_kept(tmp_path: Path, external: bool) -> None:
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    target.chmod(0o600)
    result = write_model(make_model(), target, external=external)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    if result.data_path is not None:
        assert stat.S_IMODE(result.data_path.stat().st_mode) == 0o600


def test_new_file_mode_follows_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_model(make_model(), tmp_path / "m.onnx", external=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.onnx").stat().st_mode) == 0o640


def test_symlink_target_is_replaced_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.onnx"
    real.write_bytes(b"original")
    (tmp_path / "link.onnx").symlink_to(real)
    write_model(make_model(), tmp_path / "link.onnx", external=False)
    assert real.read_bytes() == b"original"
    assert not (tmp_path / "link.onnx").is_symlink()
    assert load_model(tmp_path / "link.onnx").model.graph.name == "g"


@pytest.mark.parametrize("external", [False, True])
def test_failure_on_model_rename_leaves_everything_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, external: bool
) -> None:
    target = tmp_path / "m.onnx"
    write_model(make_model(), target, external=True)
    before = files_in(tmp_path)
    loaded = load_model(target)

    real_replace = os.replace

    def failing_replace(src: str, dst: str | Path) -> None:
        if Path(dst) == target:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(write_module.os, "replace", failing_replace)
    with pytest.raises(ModelWriteError) as info:
        write_model(loaded.model, target, external=external, replaces=loaded.data_files)
    assert isinstance(info.value, OnnxLintError)
    assert "No space left on device" in str(info.value)
    assert files_in(tmp_path) == before  # same names (no temp files) and same bytes


def test_failure_writing_data_leaves_everything_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "m.onnx"
    write_model(make_model(), target, external=True)
    before = files_in(tmp_path)
    loaded = load_model(target)

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(write_module.os, "fsync", failing_fsync)
    with pytest.raises(ModelWriteError):
        write_model(loaded.model, target, external=True, replaces=loaded.data_files)
    assert files_in(tmp_path) == before


@pytest.mark.parametrize("external", [False, True])
@pytest.mark.parametrize("threshold", [0, 1024, 10**9])
def test_serialized_size_is_exact(tmp_path: Path, external: bool, threshold: int) -> None:
    model = make_model()
    target = tmp_path / "m.onnx"
    predicted = serialized_size(model, external=external, size_threshold=threshold, target=target)
    result = write_model(model, target, external=external, size_threshold=threshold)
    on_disk = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert predicted == result.total_size == on_disk


def test_serialized_size_without_target_matches_default_name(tmp_path: Path) -> None:
    model = make_model()
    predicted = serialized_size(model, external=True)
    result = write_model(model, tmp_path / "model.onnx", external=True)
    assert predicted == result.total_size


@pytest.mark.parametrize("external", [False, True])
def test_callers_proto_is_unchanged(tmp_path: Path, external: bool) -> None:
    model = make_model()
    before = model.SerializeToString()
    write_model(model, tmp_path / "m.onnx", external=external, size_threshold=0)
    serialized_size(model, external=external, size_threshold=0)
    assert model.SerializeToString() == before


def test_callers_proto_is_unchanged_after_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model()
    before = model.SerializeToString()

    def failing_replace(src: str, dst: str | Path) -> None:
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(write_module.os, "replace", failing_replace)
    with pytest.raises(ModelWriteError):
        write_model(model, tmp_path / "m.onnx", external=True)
    assert model.SerializeToString() == before
    assert list(tmp_path.iterdir()) == []


def test_too_big_for_one_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(write_module, "_MAX_PROTO_BYTES", 1000)
    with pytest.raises(ModelWriteError) as info:
        write_model(make_model(), tmp_path / "m.onnx", external=False)
    assert "2 GiB" in str(info.value) and "external data" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_model_still_pointing_at_external_data_is_refused(tmp_path: Path) -> None:
    model = make_model()
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    with pytest.raises(ModelWriteError):
        write_model(model, tmp_path / "m.onnx", external=True)


def test_typed_sub_byte_tensor_keeps_its_bits(tmp_path: Path) -> None:
    values = np.arange(-8, 8, dtype=np.int8).repeat(200)
    tensor = helper.make_tensor("q", TensorProto.INT4, [values.size], values)
    model = make_model()
    model.graph.initializer.append(tensor)
    write_model(model, tmp_path / "m.onnx", external=True)
    on_disk = onnx.load(str(tmp_path / "m.onnx"), load_external_data=False)
    assert on_disk.graph.initializer[-1].data_location == TensorProto.EXTERNAL
    loaded = load_model(tmp_path / "m.onnx").model.graph.initializer[-1]
    assert loaded.data_type == TensorProto.INT4
    np.testing.assert_array_equal(numpy_helper.to_array(loaded).astype(np.int8), values)
