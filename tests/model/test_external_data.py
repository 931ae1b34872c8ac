"""model/external_data: the boundary refuses every location it must not read, before reading.

Each test builds a real model proto whose one tensor is external, and real files in
a temporary folder; the boundary is called on its own, without the loader around it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.errors import ModelReadError
from onnxslim_lint.model.external_data import load_external_data

WEIGHT = np.arange(32, dtype=np.float32).reshape(4, 8)
RAW = WEIGHT.tobytes()


def _model(location: str, **entries: str) -> onnx.ModelProto:
    """A model whose initializer W (float32[4,8]) lives at ``location``."""
    tensor = TensorProto(name="W", dims=WEIGHT.shape, data_type=TensorProto.FLOAT)
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, **entries}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("Identity", ["W"], ["Y"])],
        "g",
        [],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, list(WEIGHT.shape))],
        [tensor],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "w.bin").write_bytes(RAW)
    return folder


def _refused(model: onnx.ModelProto, path: Path) -> ModelReadError:
    with pytest.raises(ModelReadError) as info:
        load_external_data(model, path)
    tensor = model.graph.initializer[0]
    assert tensor.data_location == TensorProto.EXTERNAL  # nothing was read into it
    assert not tensor.HasField("raw_data")
    return info.value


def test_a_plain_relative_location_is_read_into_the_tensor(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    model = _model("w.bin", offset="0", length=str(len(RAW)))
    files, size = load_external_data(model, folder / "m.onnx")
    assert files == (folder / "w.bin",)
    assert size == len(RAW)
    tensor = model.graph.initializer[0]
    assert tensor.data_location == TensorProto.DEFAULT
    assert not tensor.external_data
    assert np.array_equal(numpy_helper.to_array(tensor), WEIGHT)


def test_a_location_in_a_subfolder_is_allowed(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "weights").mkdir()
    (folder / "weights" / "w.bin").write_bytes(RAW)
    files, _ = load_external_data(_model("weights/w.bin"), folder / "m.onnx")
    assert files == (folder / "weights" / "w.bin",)


def test_an_absolute_location_is_refused_even_for_a_real_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    err = _refused(_model(str(folder / "w.bin")), folder / "m.onnx")
    assert err.code == "OSL007"
    assert "leaves the model's folder" in err.reason


@pytest.mark.parametrize(
    "location",
    [
        "../w.bin",
        "sub/../../w.bin",
        "..",
        "/etc/passwd",
        "C:/Windows/win.ini",
        "c:w.bin",
        "\\\\server\\share\\w.bin",
        "sub\\w.bin",
        "w.bin\0.txt",
        "",
        "*/_ORT_MEM_ADDR_/*",
    ],
)
def test_locations_that_are_not_plain_relative_paths_are_refused(
    tmp_path: Path, location: str
) -> None:
    folder = _folder(tmp_path)
    (tmp_path / "w.bin").write_bytes(RAW)  # a real file where ``..`` would lead
    assert _refused(_model(location), folder / "m.onnx").code == "OSL007"


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    outside = tmp_path / "secret.bin"
    outside.write_bytes(RAW)
    os.symlink(outside, folder / "link.bin")
    assert _refused(_model("link.bin"), folder / "m.onnx").code == "OSL007"


def test_a_symlinked_subfolder_leading_out_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "w.bin").write_bytes(RAW)
    os.symlink(elsewhere, folder / "sub")
    assert _refused(_model("sub/w.bin"), folder / "m.onnx").code == "OSL007"


def test_a_symlink_that_stays_inside_is_followed(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    os.symlink(folder / "w.bin", folder / "alias.bin")
    files, _ = load_external_data(_model("alias.bin"), folder / "m.onnx")
    assert files == (folder / "w.bin",)


def test_an_offset_past_the_end_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    err = _refused(_model("w.bin", offset=str(len(RAW) + 1)), folder / "m.onnx")
    assert err.code == "OSL006"
    assert f"starts at byte {len(RAW) + 1:,}" in err.reason


def test_a_range_running_past_the_end_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    model = _model("w.bin", offset="8", length=str(len(RAW)))
    err = _refused(model, folder / "m.onnx")
    assert err.code == "OSL006"
    assert f"needs bytes 8..{len(RAW) + 8:,}" in err.reason


def test_a_length_the_shape_does_not_need_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    err = _refused(_model("w.bin", length="64"), folder / "m.onnx")
    assert err.code == "OSL009"


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ({"colour": "blue"}, "unknown external-data key 'colour'"),
        ({"offset": "-1"}, "offset '-1'"),
        ({"length": "0x80"}, "length '0x80'"),
    ],
)
def test_malformed_entries_are_refused(tmp_path: Path, entries: dict[str, str], words: str) -> None:
    folder = _folder(tmp_path)
    err = _refused(_model("w.bin", **entries), folder / "m.onnx")
    assert err.code == "OSL009"
    assert words in err.reason


def test_a_missing_file_and_a_fifo_are_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    assert _refused(_model("absent.bin"), folder / "m.onnx").code == "OSL006"
    os.mkfifo(folder / "pipe.bin")
    err = _refused(_model("pipe.bin"), folder / "m.onnx")
    assert err.code == "OSL006"
    assert "not a regular file" in err.reason


def test_one_bad_location_stops_every_read(tmp_path: Path) -> None:
    """The first tensor is fine, the second leaves the folder: neither is read."""
    folder = _folder(tmp_path)
    model = _model("w.bin")
    second = TensorProto()
    second.CopyFrom(model.graph.initializer[0])
    second.name = "V"
    second.external_data[0].value = "../w.bin"
    model.graph.initializer.append(second)
    with pytest.raises(ModelReadError) as info:
        load_external_data(model, folder / "m.onnx")
    assert info.value.code == "OSL007"
    assert all(t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer)
