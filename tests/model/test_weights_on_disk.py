"""A small version of the big external-data model: weights stay on disk until needed.

Real files in a temporary folder, real onnx: the loader leaves the weights in their
data file (the pages of the file this process has mapped are counted from
``/proc/self/smaps``), sizes are computed without serializing the whole model (a
sparse data file of more than 2 GiB costs no disk and could not be serialized),
the fixed model's data file is streamed from the old one, and a model that would
cross protobuf's 2 GiB line is written with external data.
"""

from __future__ import annotations

import re
from pathlib import Path

import ci_models
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.model import write as write_module
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.model.load import load_model
from onnxslim_lint.model.write import serialized_size, write_model
from onnxslim_lint.pipeline import check_model
from onnxslim_lint.rules.registry import select_rules

SIDE = 256  # float32[256, 256]: 256 KiB per weight
UNUSED = (2048, 1024)  # float32: 8 MiB, a shape no other weight has
LAYERS = 6
HEADER = re.compile(r"^[0-9a-f]+-[0-9a-f]+$")


def mapped_bytes(path: Path) -> int:
    """Bytes of ``path`` this process has in memory through its mappings of it."""
    smaps = Path("/proc/self/smaps")
    if not smaps.exists():
        pytest.skip("needs /proc/self/smaps")
    real, total, inside = str(path.resolve()), 0, False
    for line in smaps.read_text().splitlines():
        parts = line.split()
        if parts and HEADER.match(parts[0]):
            inside = len(parts) >= 6 and parts[5] == real
        elif inside and parts[0] == "Rss:":
            total += int(parts[1]) * 1024
    return total


def big_model(folder: Path) -> Path:
    """MatMuls with weights of one shape (sizes collide), one of them stored twice,
    a large unused weight of another shape, and a small shape constant; all in one
    external-data file."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((SIDE, SIDE)).astype(np.float32) for _ in range(LAYERS)]
    weights.append(weights[0].copy())  # the duplicate
    model = ci_models.matmul_chain(weights, UNUSED)
    path = folder / "big.onnx"
    onnx.save(model, path, save_as_external_data=True, location="big.data", size_threshold=0)
    return path


def test_the_loader_reads_no_weight_and_lint_reads_only_colliding_samples(
    tmp_path: Path,
) -> None:
    path = big_model(tmp_path)
    data = tmp_path / "big.data"
    loaded = load_model(path, read_external_data=False)
    weights = [t for t in loaded.model.graph.initializer if t.name != "shape"]
    assert all(t.data_location == TensorProto.EXTERNAL for t in weights)
    shape = next(t for t in loaded.model.graph.initializer if t.name == "shape")
    assert shape.data_location == TensorProto.DEFAULT  # small: read in, for inference
    assert loaded.total_size == loaded.file_size + data.stat().st_size
    assert mapped_bytes(data) == 0  # checked and opened, not a page read

    rules = [rule() for rule in select_rules(None)]
    findings = check_model(loaded.model, rules, "m", loaded.raw_views)
    # Seven weights share a size: they are sampled, and the two that match (the
    # duplicate) compared in full; the large weight of its own shape is never
    # touched. The kernel maps whole page-cache folios (up to a few MB around a
    # byte read), hence the allowance.
    colliding = (LAYERS + 1) * SIDE * SIDE * 4
    touched = mapped_bytes(data)
    assert touched <= colliding + (2 << 20), touched
    assert touched < 4 * UNUSED[0] * UNUSED[1], touched

    eager = load_model(path)
    assert eager.external is None
    expected = check_model(eager.model, rules, "m", eager.raw_views)
    assert [f.as_dict() for f in findings] == [f.as_dict() for f in expected]
    assert {"OSL103", "OSL101"} <= {f.code for f in findings}


def test_values_read_through_the_index_are_the_files_bytes(tmp_path: Path) -> None:
    path = big_model(tmp_path)
    loaded = load_model(path, read_external_data=False)
    eager = load_model(path)
    index = ModelIndex.build(loaded.model, loaded.raw_views)
    for tensor in eager.model.graph.initializer:
        lazy = index.initializers[tensor.name][1]
        assert index.has_data(lazy)
        np.testing.assert_array_equal(index.tensor_array(lazy), numpy_helper.to_array(tensor))
        assert bytes(index.tensor_data(lazy)) == tensor.raw_data
    # Without the views an external tensor has no data: nothing reads its location.
    bare = ModelIndex.build(loaded.model)
    w0 = bare.initializers["w0"][1]
    assert not bare.has_data(w0)
    with pytest.raises(ValueError, match="not loaded"):
        bare.tensor_data(w0)


def test_read_external_data_makes_the_model_self_contained(tmp_path: Path) -> None:
    path = big_model(tmp_path)
    loaded = load_model(path, read_external_data=False)
    loaded.read_external_data()
    assert loaded.external is None and not loaded.raw_views
    eager = load_model(path)
    assert loaded.model.SerializeToString() == eager.model.SerializeToString()


def test_a_model_over_2_gib_is_measured_from_its_parts(tmp_path: Path) -> None:
    # 2.25 GiB of float32 in a sparse file: no disk used, and protobuf could not
    # serialize the model as one message.
    count = (9 << 28) // 4
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[count])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("offset", "0"), ("length", str(count * 4))):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"])],
        "g",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [count])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    with open(tmp_path / "w.bin", "wb") as handle:
        handle.truncate(count * 4)

    loaded = load_model(tmp_path / "m.onnx", read_external_data=False)
    target = tmp_path / "out.onnx"
    external = serialized_size(
        loaded.model, external=True, target=target, external_data=loaded.external
    )
    # The model file keeps the graph and the tensor's header; its data moves.
    header = onnx.ModelProto()
    header.CopyFrom(loaded.model)
    header.graph.initializer[0].external_data[0].value = "out.onnx.data"
    assert external == header.ByteSize() + count * 4
    # As one file it would be over 2 GiB: the size is that of the external layout
    # write_model falls back to.
    single = serialized_size(
        loaded.model, external=False, target=target, external_data=loaded.external
    )
    assert single == external
    assert mapped_bytes(tmp_path / "w.bin") == 0  # measured, not read


def test_the_data_file_is_streamed_from_the_old_one(tmp_path: Path) -> None:
    path = big_model(tmp_path)
    loaded = load_model(path, read_external_data=False)
    eager = load_model(path)
    model = loaded.model
    # What a fix leaves: one weight gone, one computed tensor inline.
    del model.graph.initializer[LAYERS]  # the duplicate
    model.graph.node[LAYERS].input[1] = "w0"
    computed = np.full((SIDE, 4), 0.5, np.float32)
    model.graph.initializer.append(numpy_helper.from_array(computed, "computed"))
    before = model.SerializeToString()

    out = tmp_path / "out"
    out.mkdir()
    result = write_model(model, out / "fixed.onnx", external=True, external_data=loaded.external)
    assert model.SerializeToString() == before  # the caller's proto is unchanged
    # Streamed: the old data file's pages were dropped from this process as written.
    assert mapped_bytes(tmp_path / "big.data") < SIDE * SIDE * 4
    assert result.data_path == out / "fixed.onnx.data"
    assert not result.external_because_too_big

    values = {t.name: t.raw_data for t in eager.model.graph.initializer}
    values["computed"] = computed.tobytes()
    written = onnx.load(str(out / "fixed.onnx"), load_external_data=False)
    data = result.data_path.read_bytes()
    offset = 0
    for tensor in written.graph.initializer:
        want = values[tensor.name]
        if len(want) < 1024:  # below the threshold: inline
            assert tensor.raw_data == want
            continue
        entries = {e.key: e.value for e in tensor.external_data}
        assert entries == {
            "location": "fixed.onnx.data",
            "offset": str(offset),
            "length": str(len(want)),
        }
        assert data[offset : offset + len(want)] == want
        offset += len(want)
    assert offset == len(data)
    assert result.total_size == (out / "fixed.onnx").stat().st_size + len(data)
    predicted = serialized_size(
        model, external=True, target=out / "fixed.onnx", external_data=loaded.external
    )
    assert predicted == result.total_size
    full = onnx.load(str(out / "fixed.onnx"))
    assert {t.name: numpy_helper.to_array(t).tobytes() for t in full.graph.initializer} == {
        name: raw for name, raw in values.items() if name != f"w{LAYERS}"
    }


def test_a_single_file_model_that_would_cross_2_gib_is_written_with_external_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(write_module, "_MAX_PROTO_BYTES", 100_000)  # 2 GiB, scaled down
    weight = np.arange(40_000, dtype=np.float32)  # 160 kB: over the line as one file
    graph = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"])],
        "g",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [weight.size])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    target = tmp_path / "m.onnx"
    predicted = serialized_size(model, external=False, target=target)
    result = write_model(model, target, external=False)
    assert result.external_because_too_big
    assert result.data_path == tmp_path / "m.onnx.data"
    assert result.data_path.read_bytes() == weight.tobytes()
    assert predicted == result.total_size
    assert target.stat().st_size < 100_000
    loaded = load_model(target)
    assert loaded.has_external_data
    np.testing.assert_array_equal(numpy_helper.to_array(loaded.model.graph.initializer[0]), weight)


def test_an_index_given_the_data_files_reads_them_after_an_edit(tmp_path: Path) -> None:
    path = big_model(tmp_path)
    loaded = load_model(path, read_external_data=False)
    eager = {t.name: t.raw_data for t in load_model(path).model.graph.initializer}
    work = onnx.ModelProto()
    work.CopyFrom(loaded.model)  # what the fix loop edits
    del work.graph.initializer[0]
    index = ModelIndex.build(work, external=loaded.external)
    for tensor in work.graph.initializer:
        assert bytes(index.tensor_data(tensor)) == eager[tensor.name]
    # Entries nobody checked point nowhere readable.
    forged = work.graph.initializer[0]
    offset = next(e for e in forged.external_data if e.key == "offset")
    offset.value = str(int(offset.value) + 4)
    assert not index.has_data(forged)


def test_a_model_rewritten_in_place_keeps_reading_its_old_data_file(tmp_path: Path) -> None:
    path = big_model(tmp_path)
    (tmp_path / "big.data").rename(tmp_path / "big.onnx.data")  # the tool's first name
    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "big.onnx.data"
    onnx.save(model, str(path))
    eager = {t.name: t.raw_data for t in load_model(path).model.graph.initializer}
    loaded = load_model(path, read_external_data=False)
    result = write_model(
        loaded.model,
        path,
        external=True,
        replaces=loaded.data_files,
        external_data=loaded.external,
    )
    assert result.data_path == tmp_path / "big.onnx.data"  # its name is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.onnx", "big.onnx.data"]
    again = load_model(path)
    assert {t.name: t.raw_data for t in again.model.graph.initializer} == eager
