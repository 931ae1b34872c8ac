"""A big single-file model's weights stay in its file: parsed without them, read
through a memory map, written back inline by streaming, verified from files.

The threshold (16 MiB) is lowered for the small models here, except in the one test
that makes a model above it. Real files, real onnx and onnxruntime.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import ci_models
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.config import Settings
from onnxslim_lint.fixing import engine
from onnxslim_lint.fixing.verify import VerifyReport, verify_models
from onnxslim_lint.model import load as load_module
from onnxslim_lint.model.load import WEIGHTS_IN_PLACE_MIN_BYTES, load_model
from onnxslim_lint.model.wire import strip_weights
from onnxslim_lint.pipeline import process_file
from onnxslim_lint.results import Verdict
from onnxslim_lint.run_options import RunOptions

SIDE = 96  # float32[96, 96]: 36 KiB per weight


def weights(side: int = SIDE, layers: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    found = [rng.standard_normal((side, side)).astype(np.float32) / side for _ in range(layers)]
    return [*found, found[1].copy()]  # the last one a duplicate (OSL103)


def save(path: Path, side: int = SIDE, layers: int = 4) -> onnx.ModelProto:
    model = ci_models.matmul_chain(weights(side, layers), (64, 256))
    onnx.save(model, path)
    return model


def ours_in_tmp() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("onnxslim-lint-")}


@pytest.fixture
def in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_module, "WEIGHTS_IN_PLACE_MIN_BYTES", 0)


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, Path, list[str]]]:
    """(original file, fixed file, the folder they are in) of each verification."""
    seen: list[tuple[Path, Path, list[str]]] = []
    real = engine.verify_models

    def spy(*args: object, **kwargs: object) -> VerifyReport:
        original, fixed = Path(str(kwargs["original_file"])), Path(str(kwargs["fixed_file"]))
        seen.append((original, fixed, sorted(os.listdir(fixed.parent))))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "verify_models", spy)
    return seen


def verify_files(original: Path, fixed: Path) -> Verdict:
    return verify_models(
        onnx.load(original), onnx.load(fixed), original_file=original, fixed_file=fixed
    ).verdict


def test_the_weights_are_left_in_the_file_and_read_through_views(
    tmp_path: Path, in_place: None
) -> None:
    path = tmp_path / "m.onnx"
    original = save(path)
    loaded = load_model(path, read_external_data=False)
    assert loaded.data_files == () and loaded.file_bytes is None
    assert loaded.external is not None and loaded.total_size == path.stat().st_size
    by_name = {t.name: t for t in original.graph.initializer}
    moved = [t for t in loaded.model.graph.initializer if t.data_location == TensorProto.EXTERNAL]
    assert {t.name for t in moved} == {"w0", "w1", "w2", "w3", "w4", "unused"}
    data = path.read_bytes()
    for tensor in moved:
        entries = {e.key: e.value for e in tensor.external_data}
        offset, length = int(entries["offset"]), int(entries["length"])
        assert entries["location"] == "m.onnx" and not tensor.HasField("raw_data")
        assert data[offset : offset + length] == by_name[tensor.name].raw_data
        assert bytes(loaded.raw_views[tensor.name]) == by_name[tensor.name].raw_data
    shape = next(t for t in loaded.model.graph.initializer if t.name == "shape")
    assert shape.data_location == TensorProto.DEFAULT  # small: parsed as it is
    # Read back in, the weights are the ones onnx.load gives.
    loaded.read_external_data()

    def weights_of(model: onnx.ModelProto) -> list[tuple[str, list[int], int, bytes]]:
        return [(t.name, list(t.dims), t.data_type, t.raw_data) for t in model.graph.initializer]

    assert weights_of(loaded.model) == weights_of(original)
    assert all(t.data_location == TensorProto.DEFAULT for t in loaded.model.graph.initializer)


@pytest.mark.parametrize("in_place_write", [True, False], ids=["in-place", "output"])
def test_a_fix_streams_the_weights_back_inline_and_verifies(
    tmp_path: Path,
    in_place: None,
    in_place_write: bool,
    listings: list[tuple[Path, Path, list[str]]],
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / "m.onnx"
    save(path)
    before = path.read_bytes()
    (tmp_path / "before.onnx").write_bytes(before)
    output = None if in_place_write else tmp_path / "out" / "fixed.onnx"
    temps = ours_in_tmp()

    result = process_file(path, Settings(), RunOptions(fix=True, output=output))

    report = result.fix_report
    assert report is not None and report.written, report
    assert report.verdict is Verdict.PASSED, report.reason
    assert {"OSL101", "OSL103"} <= set(report.applied)
    # onnxruntime read both models' weights from a link of the model file.
    ((original, fixed_file, listing),) = listings
    assert original.parent == fixed_file.parent != folder
    assert listing == ["fixed.onnx", "m.onnx", "original.onnx"]
    written = output or path
    assert report.size_after == written.stat().st_size < len(before)
    fixed = onnx.load(written)
    assert all(t.data_location == TensorProto.DEFAULT for t in fixed.graph.initializer)
    onnx.checker.check_model(fixed, full_check=True)
    assert verify_files(tmp_path / "before.onnx", written) is Verdict.PASSED
    assert sorted(os.listdir(folder)) == ["m.onnx"]  # no data file, no temporary
    if output is not None:
        assert path.read_bytes() == before
    assert ours_in_tmp() <= temps  # the private verify folder is gone
    assert result.findings == []


def test_a_model_named_like_the_candidate_is_never_written_through_its_link(
    tmp_path: Path, in_place: None, listings: list[tuple[Path, Path, list[str]]]
) -> None:
    """Verification hard-links the model into a private folder as its own data file;
    the candidate beside it must get another name, or writing it would write the
    user's model through the link."""
    path = tmp_path / "fixed.onnx"
    save(path)
    before = path.read_bytes()
    output = tmp_path / "out" / "result.onnx"
    result = process_file(path, Settings(), RunOptions(fix=True, output=output))
    assert result.fix_report is not None and result.fix_report.verdict is Verdict.PASSED
    assert listings[0][2] == ["fixed-1.onnx", "fixed.onnx", "original.onnx"]
    assert path.read_bytes() == before
    assert verify_files(path, output) is Verdict.PASSED


def test_a_symlinked_model_is_read_whole(tmp_path: Path, in_place: None) -> None:
    real = tmp_path / "real"
    real.mkdir()
    save(real / "m.onnx")
    link = tmp_path / "m.onnx"
    link.symlink_to(real / "m.onnx")
    loaded = load_model(link, read_external_data=False)
    assert loaded.external is None and loaded.file_bytes is not None


def test_duplicate_names_and_foreign_bytes_are_not_stripped() -> None:
    tensor = numpy_helper.from_array(np.arange(4096, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["w", "w"], ["y"])],
        "g",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4096])],
        [tensor, tensor],
    )
    twice = helper.make_model(graph).SerializeToString()
    assert strip_weights(twice, 1024) is None  # protobuf keeps both: never guess
    once = helper.make_model(
        helper.make_graph(graph.node, "g", [], graph.output, [tensor])
    ).SerializeToString()
    stripped = strip_weights(once, 1024)
    assert stripped is not None and len(stripped.data) < 200
    offset, length = stripped.payloads["w"]
    assert once[offset : offset + length] == tensor.raw_data
    assert strip_weights(once[:-3], 1024) is None  # cut short
    assert strip_weights(once + once, 1024) is None  # two graph fields
    assert strip_weights(b"\xff" * 64, 1024) is None


def test_a_model_above_the_threshold_is_fixed_in_place(tmp_path: Path) -> None:
    side = 1024  # 4 MiB per weight, five of them: above the 16 MiB threshold
    path = tmp_path / "big.onnx"
    save(path, side=side, layers=4)
    assert path.stat().st_size >= WEIGHTS_IN_PLACE_MIN_BYTES
    assert load_model(path, read_external_data=False).file_bytes is None
    (tmp_path / "before.onnx").write_bytes(path.read_bytes())
    result = process_file(path, Settings(), RunOptions(fix=True))
    assert result.fix_report is not None and result.fix_report.verdict is Verdict.PASSED
    assert verify_files(tmp_path / "before.onnx", path) is Verdict.PASSED
    assert path.stat().st_size == result.fix_report.size_after
