"""Colour in the text formats: when it is on (``--color``, ``NO_COLOR``,
``FORCE_COLOR``), what it paints, and that it never reaches a machine format or
lets a model's name carry an escape code of its own."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.cli import main
from onnxslim_lint.findings import Finding
from onnxslim_lint.report.formatters import concise, full
from onnxslim_lint.report.style import PLAIN, Style, color_enabled

ROOT = Path(__file__).resolve().parents[2]
SGR = re.compile(r"\x1b\[[0-9;]*m")  # what Style emits, and nothing else
HOSTILE_NAME = "w\x1b[2J\nforged.onnx: OSL999 x"


@pytest.mark.parametrize(
    ("choice", "tty", "environ", "expected"),
    [
        ("auto", True, {}, True),
        ("auto", False, {}, False),
        ("auto", True, {"NO_COLOR": "1"}, False),
        ("auto", True, {"NO_COLOR": ""}, True),  # empty means unset (no-color.org)
        ("auto", False, {"FORCE_COLOR": "1"}, True),
        ("auto", False, {"FORCE_COLOR": ""}, False),
        ("auto", True, {"FORCE_COLOR": "1", "NO_COLOR": "1"}, True),
        ("always", False, {"NO_COLOR": "1"}, True),
        ("never", True, {"FORCE_COLOR": "1"}, False),
    ],
)
def test_when_colour_is_on(choice: str, tty: bool, environ: dict[str, str], expected: bool) -> None:
    assert color_enabled(choice, is_tty=tty, environ=environ) is expected


def _finding(path: str = "m.onnx", fixable: bool = True) -> Finding:
    return Finding(path, "OSL101", "unused-initializer", "1 unused initializer (4 B)", fixable)


def test_concise_is_painted_like_ruff() -> None:
    line = concise.line(_finding(), Style(color=True))
    assert line == (
        "\x1b[1mm.onnx\x1b[0m\x1b[36m:\x1b[0m \x1b[31;1mOSL101\x1b[0m "
        "[\x1b[36m*\x1b[0m] 1 unused initializer (4 B)"
    )
    assert concise.line(_finding(), PLAIN) == "m.onnx: OSL101 [*] 1 unused initializer (4 B)"


def test_colour_codes_wrap_the_escaped_name_and_add_nothing_else() -> None:
    findings = [_finding(HOSTILE_NAME), _finding("b.onnx", fixable=False)]
    for render in (concise.render, full.render):
        painted = render(findings, Style(color=True))
        assert SGR.sub("", painted) == render(findings, PLAIN)
        assert "\x1b[2J" not in painted and "\\x1b[2J" in painted
        assert SGR.sub("", painted).count("\n") == render(findings, PLAIN).count("\n")


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    path = tmp_path / "messy.onnx"
    shutil.copyfile(ROOT / "examples" / "messy.onnx", path)
    return path


def _out(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    main(["--no-cache", *args])
    return capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["concise", "full"])
def test_color_always_paints_the_text_formats_and_summary(
    messy: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    painted = _out(capsys, "--color", "always", "--output-format", fmt, str(messy))
    plain = _out(capsys, "--color", "never", "--output-format", fmt, str(messy))
    assert "\x1b[31;1mOSL101\x1b[0m" in painted
    assert "\n[\x1b[36m*\x1b[0m] 6 fixable with the --fix option.\n" in painted
    assert "\x1b" not in plain
    assert SGR.sub("", painted) == plain


def test_force_color_colours_without_a_terminal_unless_never(
    messy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "\x1b" not in _out(capsys, str(messy))  # captured stdout is not a terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[31;1m" in _out(capsys, str(messy))
    assert "\x1b" not in _out(capsys, "--color", "never", str(messy))


def test_all_checks_passed_is_green(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    path = tmp_path / "clean.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    assert _out(capsys, "--color", "always", str(path)) == "\x1b[32;1mAll checks passed!\x1b[0m\n"


@pytest.mark.parametrize("fmt", ["json", "json-lines", "github", "sarif", "junit"])
def test_machine_formats_are_never_coloured(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    rng = np.random.default_rng(0)
    dead = numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), HOSTILE_NAME)
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [dead],
    )
    path = tmp_path / "m.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    monkeypatch.setenv("FORCE_COLOR", "1")
    main(["--no-cache", "--color", "always", "--output-format", fmt, str(path)])
    captured = capsys.readouterr()
    assert not SGR.search(captured.out) and not SGR.search(captured.err)
