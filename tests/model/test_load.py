"""Tests for onnxslim_lint.model.load: every OSL0xx read error on real files."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.errors import ModelReadError
from onnxslim_lint.model import load as load_module
from onnxslim_lint.model.graphs import iter_tensors
from onnxslim_lint.model.load import load_model, load_model_bytes
from onnxslim_lint.model.wire import scan_top_level

# --------------------------------------------------------------------------- builders


def _array(seed: int, shape: tuple[int, ...] = (4, 8)) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def simple_model(*, metadata: bool = False) -> onnx.ModelProto:
    """Y = X + W with one float initializer W[4, 8]."""
    weight = numpy_helper.from_array(_array(0), "W")
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "W"], ["Y"], name="add")],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 8])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4, 8])],
        [weight],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests"
    )
    if metadata:
        helper.set_model_props(model, {"author": "tests", "note": "x" * 40})
    return model


def externalize(
    tensor: TensorProto,
    location: str,
    *,
    offset: int = 0,
    length: int | None = -1,
    extra: dict[str, str] | None = None,
) -> bytes:
    """Turn an inline tensor into an external reference; return its bytes.

    ``length=-1`` writes the real length, ``None`` leaves the key out.
    """
    raw = numpy_helper.from_array(numpy_helper.to_array(tensor)).raw_data
    for name in ("raw_data", "float_data", "int32_data", "int64_data", "double_data"):
        tensor.ClearField(name)
    entries = {"location": location, "offset": str(offset)}
    if length is not None:
        entries["length"] = str(len(raw) if length == -1 else length)
    entries.update(extra or {})
    for key, value in entries.items():
        item = tensor.external_data.add()
        item.key, item.value = key, value
    tensor.data_location = TensorProto.EXTERNAL
    return raw


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def read_error(path: Path | str) -> ModelReadError:
    with pytest.raises(ModelReadError) as info:
        load_model(path)
    err = info.value
    assert "\n" not in str(err) and "Traceback" not in str(err)
    return err


def external_model(tmp_path: Path, location: str = "w.bin", **kwargs: object) -> Path:
    """simple_model with W external at ``location``; the data file is written too."""
    model = simple_model()
    raw = externalize(model.graph.initializer[0], location, **kwargs)  # type: ignore[arg-type]
    target = tmp_path / location
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(raw)
    return save(model, tmp_path / "m.onnx")


# --------------------------------------------------------------------------- good files


def test_inline_model_loads(tmp_path: Path) -> None:
    model = simple_model()
    path = save(model, tmp_path / "m.onnx")
    loaded = load_model(str(path))
    assert loaded.path == path
    assert loaded.model.SerializeToString() == model.SerializeToString()
    assert loaded.file_size == path.stat().st_size == loaded.total_size
    assert loaded.data_files == ()
    assert not loaded.has_external_data


def test_model_saved_with_external_data_loads_identically(tmp_path: Path) -> None:
    original = simple_model()
    extra = numpy_helper.from_array(np.arange(100, dtype=np.int64), "idx")
    original.graph.initializer.append(extra)
    want = [numpy_helper.to_array(t).copy() for t in original.graph.initializer]
    onnx.save_model(
        original,  # note: onnx rewrites this proto to point at the data file
        str(tmp_path / "m.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    on_disk = onnx.load(str(tmp_path / "m.onnx"), load_external_data=False)
    assert on_disk.graph.initializer[0].data_location == TensorProto.EXTERNAL

    loaded = load_model(tmp_path / "m.onnx")
    data = (tmp_path / "weights.bin").resolve()
    assert loaded.data_files == (data,)
    assert loaded.has_external_data
    assert loaded.file_size == (tmp_path / "m.onnx").stat().st_size
    assert loaded.total_size == loaded.file_size + data.stat().st_size
    for got, expected in zip(loaded.model.graph.initializer, want, strict=True):
        assert got.data_location == TensorProto.DEFAULT
        assert len(got.external_data) == 0
        assert numpy_helper.to_array(got).dtype == expected.dtype
        assert numpy_helper.to_array(got).tobytes() == expected.tobytes()
    # self-contained: serializable and loadable without any folder
    load_model_bytes(loaded.model.SerializeToString())


def test_two_files_and_length_omitted(tmp_path: Path) -> None:
    model = simple_model()
    second = numpy_helper.from_array(_array(1, (3,)), "B")
    model.graph.initializer.append(second)
    raw_w = externalize(model.graph.initializer[0], "a.bin", offset=5, length=None)
    raw_b = externalize(model.graph.initializer[1], "sub/b.bin")
    (tmp_path / "a.bin").write_bytes(b"xxxxx" + raw_w)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(raw_b)
    loaded = load_model(save(model, tmp_path / "m.onnx"))
    assert loaded.data_files == tuple(
        sorted([(tmp_path / "a.bin").resolve(), (tmp_path / "sub" / "b.bin").resolve()])
    )
    assert loaded.model.graph.initializer[0].raw_data == raw_w
    assert loaded.model.graph.initializer[1].raw_data == raw_b
    assert loaded.total_size == loaded.file_size + 5 + len(raw_w) + len(raw_b)


def test_symlink_inside_folder_is_allowed(tmp_path: Path) -> None:
    path = external_model(tmp_path, "real.bin")
    model = onnx.load(str(path), load_external_data=False)
    model.graph.initializer[0].external_data[0].value = "link.bin"
    save(model, path)
    (tmp_path / "link.bin").symlink_to("real.bin")
    loaded = load_model(path)
    assert loaded.data_files == ((tmp_path / "real.bin").resolve(),)


# --------------------------------------------------------------------------- OSL001..005


def test_empty_file_is_osl001(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"")
    assert read_error(tmp_path / "m.onnx").code == "OSL001"


def test_random_bytes_are_osl002(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(random.Random(1).randbytes(4096))
    assert read_error(tmp_path / "m.onnx").code == "OSL002"


def test_text_file_is_osl002(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_text("hello world\nthis is not a model\n")
    err = read_error(tmp_path / "m.onnx")
    assert err.code == "OSL002"
    assert "not an ONNX model" in err.reason


@pytest.mark.parametrize("text", ["Bonjour", "B\x05abc", "Zz", "z" * 300])
def test_text_that_looks_like_a_cut_field_is_osl002(text: str) -> None:
    # 'B' is the opset_import key and 'o' a length past the end: still not a cut model,
    # because every ONNX writer starts with ir_version (field 1)
    with pytest.raises(ModelReadError) as info:
        load_model_bytes(text.encode())
    assert info.value.code == "OSL002", info.value.reason


def test_text_that_parses_as_protobuf_is_osl002() -> None:
    # 'h' = field 13 varint, so this is a valid protobuf of unknown fields
    assert parses_as_protobuf(b"h\x01")
    with pytest.raises(ModelReadError) as info:
        load_model_bytes(b"h\x01")
    assert info.value.code == "OSL002"


def parses_as_protobuf(data: bytes) -> bool:
    onnx.ModelProto.FromString(data)
    return True


def test_model_without_graph_is_osl002() -> None:
    model = onnx.ModelProto(ir_version=8)
    model.opset_import.add(version=17)  # after the graph's field number: not a cut
    with pytest.raises(ModelReadError) as info:
        load_model_bytes(model.SerializeToString())
    assert info.value.code == "OSL002"


@pytest.mark.parametrize("cut", [1, 2, 3, 10, 25, 60, 100, -30, -5, -1])
def test_truncated_model_is_osl003(tmp_path: Path, cut: int) -> None:
    data = simple_model().SerializeToString()
    (tmp_path / "m.onnx").write_bytes(data[:cut])
    err = read_error(tmp_path / "m.onnx")
    assert err.code == "OSL003", err.reason
    assert "ends early" in err.reason


def test_every_cut_of_a_model_is_osl003() -> None:
    """With one opset and no fields after it, every proper prefix is a truncation.

    Cuts at a field boundary parse; they are OSL003 because the fields present are
    ModelProto fields in writing order and the graph (or opset_import) is missing.
    """
    data = simple_model().SerializeToString()
    for cut in range(1, len(data)):
        with pytest.raises(ModelReadError) as info:
            load_model_bytes(data[:cut])
        assert info.value.code == "OSL003", (cut, info.value.reason)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_cuts_of_models_with_trailing_fields(data: st.DataObject) -> None:
    """A cut either fails as OSL003 or (only at a field boundary after opset_import)
    leaves a smaller but valid model: the bytes up to there are a whole model."""
    model = simple_model(metadata=True)
    model.opset_import.add(domain="ai.onnx.ml", version=3)
    full = model.SerializeToString()
    cut = data.draw(st.integers(min_value=1, max_value=len(full) - 1))
    try:
        parsed = load_model_bytes(full[:cut])
    except ModelReadError as err:
        assert err.code == "OSL003", (cut, err.reason)
    else:
        assert parsed.HasField("graph") and len(parsed.opset_import) >= 1
        assert full.startswith(parsed.SerializeToString())


@settings(max_examples=300)
@given(st.binary(min_size=0, max_size=300))
def test_arbitrary_bytes_never_raise_anything_else(blob: bytes) -> None:
    try:
        model = load_model_bytes(blob)
    except ModelReadError as err:
        assert err.code in {"OSL001", "OSL002", "OSL003", "OSL004", "OSL008"}
        assert "\n" not in err.reason
    else:
        assert model.HasField("graph") and model.ir_version > 0


def test_scanner_tells_garbage_from_truncation() -> None:
    scan = scan_top_level
    assert scan(b"\x08\x07").status == "ok"
    assert scan(b"\x08").status == "truncated"
    assert scan(b"\x08\xff").status == "truncated"  # varint cut
    assert scan(b"\x3a\x10abc").status == "truncated"  # graph length runs past the end
    assert scan(b"\x00").status == "invalid"  # field number 0
    assert scan(b"\x0b").status == "invalid"  # wire type 3 (group)
    assert scan(b"\x0e").status == "invalid"  # wire type 6
    assert scan(b"\x08" + b"\xff" * 10 + b"\x01").status == "invalid"  # varint too long


def test_lfs_pointer_is_osl004(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_text(
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        "size 12345678\n"
    )
    err = read_error(tmp_path / "m.onnx")
    assert err.code == "OSL004"
    assert "Git LFS pointer" in err.reason
    assert "12,345,678-byte" in err.reason
    assert "git lfs pull" in err.reason


def test_directory_named_like_a_model_is_osl005(tmp_path: Path) -> None:
    (tmp_path / "x.onnx").mkdir()
    err = read_error(tmp_path / "x.onnx")
    assert err.code == "OSL005"
    assert "directory" in err.reason


def test_missing_file_is_osl005(tmp_path: Path) -> None:
    err = read_error(tmp_path / "nope.onnx")
    assert err.code == "OSL005"
    assert "does not exist" in err.reason


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_osl005_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "m.onnx")
    assert read_error(tmp_path / "m.onnx").code == "OSL005"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file_is_osl005(tmp_path: Path) -> None:
    path = save(simple_model(), tmp_path / "m.onnx")
    path.chmod(0)
    try:
        err = read_error(path)
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert err.code == "OSL005"
    assert "permission denied" in err.reason


def test_ir_version_too_new_is_osl008(tmp_path: Path) -> None:
    model = simple_model()
    model.ir_version = onnx.IR_VERSION + 1
    err = read_error(save(model, tmp_path / "m.onnx"))
    assert err.code == "OSL008"
    assert str(onnx.IR_VERSION + 1) in err.reason


def test_ir_version_zero_is_osl002(tmp_path: Path) -> None:
    model = simple_model()
    model.ir_version = 0
    assert read_error(save(model, tmp_path / "m.onnx")).code == "OSL002"


# --------------------------------------------------------------------------- OSL006


def test_missing_data_file_is_osl006(tmp_path: Path) -> None:
    path = external_model(tmp_path, "w.bin")
    (tmp_path / "w.bin").unlink()
    err = read_error(path)
    assert err.code == "OSL006"
    assert "'w.bin'" in err.reason and "does not exist" in err.reason


def test_short_data_file_is_osl006(tmp_path: Path) -> None:
    path = external_model(tmp_path, "w.bin")
    raw = (tmp_path / "w.bin").read_bytes()
    (tmp_path / "w.bin").write_bytes(raw[:-1])
    err = read_error(path)
    assert err.code == "OSL006"
    assert f"is {len(raw) - 1:,} bytes" in err.reason
    assert f"needs bytes 0..{len(raw):,}" in err.reason


def test_offset_past_end_is_osl006(tmp_path: Path) -> None:
    path = external_model(tmp_path, "w.bin", offset=10_000, length=None)
    assert read_error(path).code == "OSL006"


def test_length_omitted_but_wrong_size_is_osl006(tmp_path: Path) -> None:
    path = external_model(tmp_path, "w.bin", length=None)
    with (tmp_path / "w.bin").open("ab") as handle:
        handle.write(b"\0" * 4)  # rest of file is 4 bytes more than 4*8 floats
    err = read_error(path)
    assert err.code == "OSL006"
    assert "needs exactly 128" in err.reason


def test_location_naming_the_folder_itself_is_osl006(tmp_path: Path) -> None:
    model = simple_model()
    externalize(model.graph.initializer[0], ".")
    err = read_error(save(model, tmp_path / "m.onnx"))
    assert err.code == "OSL006"
    assert "not a regular file" in err.reason


def test_data_path_that_is_a_directory_is_osl006(tmp_path: Path) -> None:
    path = external_model(tmp_path, "w.bin")
    (tmp_path / "w.bin").unlink()
    (tmp_path / "w.bin").mkdir()
    err = read_error(path)
    assert err.code == "OSL006"
    assert "not a regular file" in err.reason


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_data_path_that_is_a_fifo_is_osl006(tmp_path: Path) -> None:
    path = external_model(tmp_path, "w.bin")
    (tmp_path / "w.bin").unlink()
    os.mkfifo(tmp_path / "w.bin")
    assert read_error(path).code == "OSL006"


def test_in_memory_model_with_external_data_is_osl006() -> None:
    model = simple_model()
    externalize(model.graph.initializer[0], "w.bin")
    with pytest.raises(ModelReadError) as info:
        load_model_bytes(model.SerializeToString(), "mem")
    assert info.value.code == "OSL006"
    assert str(info.value.path) == "mem"


# --------------------------------------------------------------------------- OSL007


@pytest.mark.parametrize(
    "location",
    [
        "../w.bin",
        "sub/../../w.bin",
        "sub/../w.bin",
        "/etc/passwd",
        "C:/w.bin",
        "c:w.bin",
        "\\\\server\\share\\w.bin",
        "//server/share/w.bin",
        "sub\\w.bin",
        "",
        "w\0.bin",
        "*/_ORT_MEM_ADDR_/*",
    ],
)
def test_location_leaving_the_folder_is_osl007(tmp_path: Path, location: str) -> None:
    model = simple_model()
    externalize(model.graph.initializer[0], location)
    err = read_error(save(model, tmp_path / "m.onnx"))
    assert err.code == "OSL007"
    assert "leaves the model's folder" in err.reason


def test_absolute_location_to_real_file_is_osl007(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    outside = tmp_path / "w.bin"
    model = simple_model()
    outside.write_bytes(externalize(model.graph.initializer[0], str(outside)))
    err = read_error(save(model, tmp_path / "model" / "m.onnx"))
    assert err.code == "OSL007"
    assert f"'{outside}'" in err.reason


def test_symlink_to_file_outside_is_osl007(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    path = external_model(folder, "w.bin")
    secret = tmp_path / "secret.bin"
    (folder / "w.bin").rename(secret)
    (folder / "w.bin").symlink_to(secret)
    err = read_error(path)
    assert err.code == "OSL007"


def test_symlinked_parent_dir_leaving_folder_is_osl007(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    path = external_model(folder, "sub/w.bin")
    outside = tmp_path / "elsewhere"
    (folder / "sub").rename(outside)
    (folder / "sub").symlink_to(outside, target_is_directory=True)
    assert read_error(path).code == "OSL007"


def test_dangling_symlink_pointing_outside_is_osl007(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    path = external_model(folder, "w.bin")
    (folder / "w.bin").unlink()
    (folder / "w.bin").symlink_to(tmp_path / "missing.bin")
    assert read_error(path).code == "OSL007"


def test_no_data_is_read_before_every_reference_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first tensor is fine, the second leaves the folder: nothing may be opened."""
    folder = tmp_path / "model"
    folder.mkdir()
    sentinel = tmp_path / "sentinel.bin"
    model = simple_model()
    model.graph.initializer.append(numpy_helper.from_array(_array(3, (2,)), "B"))
    (folder / "w.bin").write_bytes(externalize(model.graph.initializer[0], "w.bin"))
    sentinel.write_bytes(externalize(model.graph.initializer[1], "../sentinel.bin"))
    path = save(model, folder / "m.onnx")

    opened: list[str] = []
    real_open = os.open

    def spy_open(file: object, *args: object, **kwargs: object) -> int:
        opened.append(os.path.realpath(file))  # type: ignore[arg-type]
        return real_open(file, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(load_module.os, "open", spy_open)
    assert read_error(path).code == "OSL007"
    assert opened == [os.path.realpath(path)]  # only the model file itself


# --------------------------------------------------------------------------- OSL009


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"extra": {"colour": "blue"}}, "unknown external-data key 'colour'"),
        ({"offset": -1}, "offset '-1'"),
        ({"length": None, "extra": {"length": "12.5"}}, "length '12.5'"),
        ({"length": None, "extra": {"length": "0x10"}}, "length '0x10'"),
        ({"length": 64}, "need 128 bytes"),
    ],
)
def test_bad_external_metadata_is_osl009(
    tmp_path: Path, kwargs: dict[str, object], words: str
) -> None:
    path = external_model(tmp_path, "w.bin", **kwargs)
    err = read_error(path)
    assert err.code == "OSL009", err.reason
    assert words in err.reason


def test_missing_location_is_osl009(tmp_path: Path) -> None:
    model = simple_model()
    externalize(model.graph.initializer[0], "w.bin")
    del model.graph.initializer[0].external_data[0]  # the location entry
    assert read_error(save(model, tmp_path / "m.onnx")).code == "OSL009"


def test_checksum_key_is_accepted(tmp_path: Path) -> None:
    path = external_model(tmp_path, "w.bin", extra={"checksum": "abc"})
    assert load_model(path).has_external_data


# --------------------------------------------------------------------------- every tensor


def _if_model() -> tuple[onnx.ModelProto, TensorProto]:
    """An If whose then-branch holds a Constant (the tensor to externalize)."""
    const = numpy_helper.from_array(_array(5), "then_value")
    then_graph = helper.make_graph(
        [helper.make_node("Constant", [], ["T"], value=const)],
        "then",
        [],
        [helper.make_tensor_value_info("T", TensorProto.FLOAT, [4, 8])],
    )
    else_graph = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["E"])],
        "else",
        [],
        [helper.make_tensor_value_info("E", TensorProto.FLOAT, [4, 8])],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["C"], ["Y"], then_branch=then_graph, else_branch=else_graph)],
        "g",
        [
            helper.make_tensor_value_info("C", TensorProto.BOOL, []),
            helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 8]),
        ],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (then_attr,) = (a for a in model.graph.node[0].attribute if a.name == "then_branch")
    return model, then_attr.g.node[0].attribute[0].t


def _attribute_model() -> tuple[onnx.ModelProto, TensorProto]:
    const = numpy_helper.from_array(_array(6), "")
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["Y"], value=const, name="c")],
        "g",
        [],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model, model.graph.node[0].attribute[0].t


def _function_model() -> tuple[onnx.ModelProto, TensorProto]:
    const = numpy_helper.from_array(_array(7), "fconst")
    function = helper.make_function(
        "local",
        "F",
        [],
        ["out"],
        [helper.make_node("Constant", [], ["out"], value=const)],
        [helper.make_opsetid("", 17)],
    )
    graph = helper.make_graph(
        [helper.make_node("F", [], ["Y"], domain="local")],
        "g",
        [],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4, 8])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)],
        functions=[function],
    )
    return model, model.functions[0].node[0].attribute[0].t


def _sparse_model() -> tuple[onnx.ModelProto, TensorProto]:
    values = numpy_helper.from_array(np.arange(1, 9, dtype=np.float32), "S")
    indices = numpy_helper.from_array(np.arange(0, 32, 4, dtype=np.int64), "S_idx")
    sparse = helper.make_sparse_tensor(values, indices, [4, 8])
    model, _ = _attribute_model()
    model.graph.sparse_initializer.append(sparse)
    return model, model.graph.sparse_initializer[0].values


def _sparse_indices_model() -> tuple[onnx.ModelProto, TensorProto]:
    model, _ = _sparse_model()
    return model, model.graph.sparse_initializer[0].indices


def _training_model() -> tuple[onnx.ModelProto, TensorProto]:
    model = simple_model()
    init_graph = helper.make_graph(
        [],
        "init",
        [],
        [],
        [numpy_helper.from_array(_array(8), "train_w")],
    )
    info = model.training_info.add()
    info.initialization.CopyFrom(init_graph)
    return model, model.training_info[0].initialization.initializer[0]


def _loop_in_function_attr_default_model() -> tuple[onnx.ModelProto, TensorProto]:
    model, _ = _function_model()
    default = helper.make_attribute("alpha", numpy_helper.from_array(_array(9), "dflt"))
    model.functions[0].attribute_proto.append(default)
    return model, model.functions[0].attribute_proto[0].t


@pytest.mark.parametrize(
    "build",
    [
        _if_model,
        _attribute_model,
        _function_model,
        _sparse_model,
        _sparse_indices_model,
        _training_model,
        _loop_in_function_attr_default_model,
    ],
)
def test_external_tensor_anywhere_is_found(tmp_path: Path, build) -> None:  # type: ignore[no-untyped-def]
    model, tensor = build()
    want = numpy_helper.to_array(tensor).copy()
    raw = externalize(tensor, "d.bin")
    path = save(model, tmp_path / "m.onnx")

    (tmp_path / "d.bin").write_bytes(raw)
    loaded = load_model(path)
    assert loaded.data_files == ((tmp_path / "d.bin").resolve(),)
    found = [t for t, _ in iter_tensors(loaded.model) if t.raw_data == raw]
    assert len(found) == 1
    np.testing.assert_array_equal(numpy_helper.to_array(found[0]), want)
    assert all(t.data_location == TensorProto.DEFAULT for t, _ in iter_tensors(loaded.model))

    (tmp_path / "d.bin").unlink()
    assert read_error(path).code == "OSL006"
    tensor.external_data[0].value = "../d.bin"
    assert read_error(save(model, path)).code == "OSL007"


def test_tensor_in_nested_subgraph_of_loop_is_found() -> None:
    inner_model, _ = _if_model()
    body = helper.make_graph(
        list(inner_model.graph.node),
        "body",
        [],
        [],
    )
    graph = helper.make_graph([helper.make_node("Loop", ["M", "C"], [], body=body)], "g", [], [])
    model = helper.make_model(graph)
    tensors = [t.name for t, _ in iter_tensors(model)]
    assert tensors == ["then_value"]
