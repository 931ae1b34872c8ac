"""``--fix`` of a model whose weights stay on disk, verified from files.

A few-MB external-data model stands in for a multi-GB one: the fix loop reads the
weights through the loaded data files, the checker gate checks the graph without
them, onnxruntime gets files (the candidate written into a private temporary
folder, removed afterwards), and the result is written streaming from the old data
file. A single-file model takes the same path once the size threshold is lowered.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import ci_models
import numpy as np
import onnx
import pytest
from onnx import TensorProto

from onnxslim_lint.config import Settings
from onnxslim_lint.fixing import engine, verify
from onnxslim_lint.fixing.gates import check_model_valid
from onnxslim_lint.model.load import load_model
from onnxslim_lint.pipeline import RunOptions, process_file
from onnxslim_lint.results import Verdict

SIDE = 128  # float32[128, 128]: 64 KiB per weight
LAYERS = 5
PREFIX = "onnxslim-lint-verify-"


def weights() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    found = [rng.standard_normal((SIDE, SIDE)).astype(np.float32) / SIDE for _ in range(LAYERS)]
    return [*found, found[0].copy()]  # the last one a duplicate (OSL103)


def model() -> onnx.ModelProto:
    """MatMuls, one weight stored twice, a large unused weight, a small Reshape shape."""
    return ci_models.matmul_chain(weights(), (512, 1024))


def temp_folders() -> set[str]:
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith(PREFIX)}


class Spy:
    """Records the files verify_models was given, and the folders they were in."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[dict[str, Any]] = []
        real = verify.verify_models

        def spy(*args: Any, **kwargs: Any) -> verify.VerifyReport:
            call = dict(kwargs)
            for key in ("fixed_file", "original_file"):
                file = kwargs.get(key)
                if file is not None:  # the files exist while onnxruntime runs them
                    call[f"{key}_listing"] = sorted(os.listdir(Path(file).parent))
            self.calls.append(call)
            return real(*args, **kwargs)

        monkeypatch.setattr(engine, "verify_models", spy)


def no_links(source: object, link: object) -> None:
    raise OSError(18, "Invalid cross-device link")


@pytest.mark.parametrize(
    ("small_external", "can_link"),
    [(False, True), (False, False), (True, True)],
    ids=["linked", "no-hard-links", "all-tensors"],
)
def test_an_external_data_model_is_fixed_and_verified_from_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_external: bool, can_link: bool
) -> None:
    folder, cwd, out = tmp_path / "model", tmp_path / "cwd", tmp_path / "out"
    for made in (folder, cwd, out):
        made.mkdir()
    path = folder / "big.onnx"
    # With every tensor external (threshold 0) onnxruntime cannot infer the
    # Reshape from the original's file: the original is written for it too.
    threshold = 0 if small_external else 1024
    onnx.save(
        model(), path, save_as_external_data=True, location="big.data", size_threshold=threshold
    )
    before = sorted(os.listdir(folder))
    temps = temp_folders()
    monkeypatch.chdir(cwd)
    spy = Spy(monkeypatch)
    if not can_link:  # another file system: the candidate gets its own data file
        monkeypatch.setattr(engine.os, "link", no_links)

    result = process_file(path, Settings(), RunOptions(fix=True, output=out / "fixed.onnx"))

    report = result.fix_report
    assert report is not None and report.written, report
    assert report.verdict is Verdict.PASSED, report.reason
    assert {"OSL101", "OSL103"} <= set(report.applied)
    (call,) = spy.calls
    assert call.get("fixed_bytes") is None and call.get("original_bytes") is None
    fixed_file = Path(call["fixed_file"])
    original_file = Path(call["original_file"])
    private = fixed_file.parent
    assert private.name.startswith(PREFIX) and private.parent == Path(tempfile.gettempdir())
    if small_external:
        assert original_file.parent == private
        assert call["fixed_file_listing"] == [
            "fixed.onnx",
            "fixed.onnx.data",
            "original.onnx",
            "original.onnx.data",
        ]
    else:
        assert original_file == path  # as loaded, its data file beside it
        # Linked, the candidate points at a hard link of the original data file.
        data_file = "big.data" if can_link else "fixed.onnx.data"
        assert call["fixed_file_listing"] == sorted(["fixed.onnx", data_file])
    # Nothing left behind: not the private folder, nothing in the working folder
    # nor beside the model.
    assert temp_folders() == temps and not private.exists()
    assert os.listdir(cwd) == []
    assert sorted(os.listdir(folder)) == before
    assert sorted(os.listdir(out)) == ["fixed.onnx", "fixed.onnx.data"]

    # The data file is streamed from the old one: every kept weight at its offset.
    expected = {f"w{i}": w.tobytes() for i, w in enumerate(weights()[:LAYERS])}
    written = onnx.load(str(out / "fixed.onnx"), load_external_data=False)
    data = (out / "fixed.onnx.data").read_bytes()
    offset = 0
    for tensor in written.graph.initializer:
        if tensor.name == "shape":
            assert tensor.data_location == TensorProto.DEFAULT  # below the threshold
            continue
        want = expected.pop(tensor.name)
        entries = {e.key: e.value for e in tensor.external_data}
        assert entries == {
            "location": "fixed.onnx.data",
            "offset": str(offset),
            "length": str(len(want)),
        }
        assert data[offset : offset + len(want)] == want
        offset += len(want)
    assert expected == {} and offset == len(data)
    assert result.findings == []


def test_a_single_file_model_takes_the_file_path_above_the_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(model(), path)
    monkeypatch.setattr(engine, "VERIFY_FROM_FILES_BYTES", 1 << 16)  # 2 GiB, scaled down
    monkeypatch.chdir(tmp_path)
    temps = temp_folders()
    spy = Spy(monkeypatch)

    result = process_file(path, Settings(), RunOptions(fix=True))

    report = result.fix_report
    assert report is not None and report.written and report.verdict is Verdict.PASSED
    (call,) = spy.calls
    assert call["fixed_file_listing"] == ["fixed.onnx"]  # small enough for one file
    assert call["original_bytes"] is not None  # the original's file bytes, as before
    assert temp_folders() == temps
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


def test_the_checker_gate_never_looks_for_data_files_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    path = folder / "big.onnx"
    onnx.save(model(), path, save_as_external_data=True, location="big.data")
    monkeypatch.chdir(tmp_path)
    loaded = load_model(path, read_external_data=False)
    assert check_model_valid(loaded.model) is None
    # The checker still runs on the rest of the graph.
    broken = onnx.ModelProto()
    broken.CopyFrom(loaded.model)
    broken.graph.node[0].op_type = "NoSuchOp"
    assert "NoSuchOp" in (check_model_valid(broken) or "")
    # A weight whose dims no longer match its stored bytes is refused.
    broken.CopyFrom(loaded.model)
    del broken.graph.initializer[0].dims[:]
    broken.graph.initializer[0].dims.extend([SIDE, SIDE // 2])
    assert "external data" in (check_model_valid(broken) or "")
