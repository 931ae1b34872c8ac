"""Names with CR, LF, ``%``, ``::``, backticks, pipes and escape codes, in a file
name and in a tensor name, go through every output format without forging a line,
an annotation, a table cell or a terminal escape."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.cli import main
from onnxslim_lint.config import Settings
from onnxslim_lint.pipeline import RunOptions, process_file
from onnxslim_lint.report.escape import printable
from onnxslim_lint.report.job_summary import render_job_summary
from onnxslim_lint.results import SizeInfo

FORGED = "\nforged.onnx: OSL999 forged\r::error file=x::boom %0A `code` | cell |\x1b[2J\u2028"
TENSOR = f"legacy{FORGED}"
FILE = "model\n::warning::x %25 `|\x1b[31m.onnx"


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w")
    dead = numpy_helper.from_array(rng.standard_normal(32).astype(np.float32), TENSOR)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [w, dead],
    )
    path = tmp_path / FILE
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str]:
    main(list(args))
    return capsys.readouterr()


def _no_raw_controls(text: str) -> None:
    assert "\r" not in text and "\x1b" not in text and "\u2028" not in text


@pytest.mark.parametrize("fmt", ["concise", "full"])
def test_text_formats_escape_names(
    hostile: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    out, err = _run(capsys, "--output-format", fmt, "--select", "OSL101", str(hostile))
    _no_raw_controls(out + err)
    assert not any(line.startswith(("forged.onnx", "::")) for line in out.splitlines())
    assert printable(FILE) in out and "OSL101" in out
    if fmt == "full":  # the concise line counts the initializers, full names them
        assert printable(TENSOR) in out


def test_fix_report_lines_escape_names(hostile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, err = _run(capsys, "--fix", "--show-fixes", "--select", "OSL101", str(hostile))
    _no_raw_controls(out + err)
    fixed_lines = [line for line in (out + err).splitlines() if ": fixed:" in line]
    assert len(fixed_lines) == 1 and printable(FILE) in fixed_lines[0]
    assert not any(line.startswith("::") for line in (out + err).splitlines())


def test_github_annotations_stay_one_line_each(
    hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = _run(capsys, "--output-format", "github", "--select", "OSL101", str(hostile))
    lines = out.split("\n")[:-1]
    assert len(lines) == 1 and lines[0].startswith("::error file=")
    # "::" inside the message is literal: only a line's start begins a command.
    assert lines[0].split("::")[1].startswith("error file=")
    _no_raw_controls(out)


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_formats_keep_names_exactly(
    hostile: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    out, _ = _run(capsys, "--output-format", fmt, "--select", "OSL101", str(hostile))
    strings = list(_strings(json.loads(out)))
    assert any(TENSOR in text for text in strings)
    # SARIF names the file by URI, percent-encoded; JSON by its path as given.
    assert any(FILE in text for text in strings) or fmt == "sarif"


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_junit_is_well_formed_xml(hostile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = _run(capsys, "--output-format", "junit", "--select", "OSL101", str(hostile))
    root = ET.fromstring(out)
    assert root.iter("testcase")


def test_job_summary_cells_hold_names(hostile: Path) -> None:
    settings = Settings(select=("OSL101",))
    result = process_file(hostile, settings, RunOptions())
    size = hostile.stat().st_size
    sizes = {result.display: SizeInfo(hostile, result.display, size, size, "main")}
    markdown = render_job_summary([result], sizes, base_ref="main\n| x |", root=hostile.parent)
    _no_raw_controls(markdown)
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    widths = {line.count("|") - line.count("\\|") for line in rows}
    assert len(widths) == 1, rows  # no cell split by a pipe from a name
    assert "\n::warning::" not in markdown
    assert all("forged.onnx" not in line[:12] for line in markdown.splitlines())


def test_printable_leaves_text_and_unicode_alone() -> None:
    assert printable("encoder.layer.0/attention/Softmax:0 ü 模型") == (
        "encoder.layer.0/attention/Softmax:0 ü 模型"
    )
    assert printable("a\nb\r\x1b[0m\u2028\x7f") == "a\\nb\\r\\x1b[0m\\u2028\\x7f"


if sys.platform == "win32":  # no LF in file names there
    pytestmark = pytest.mark.skip
