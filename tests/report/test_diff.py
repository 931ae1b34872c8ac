"""--diff (what --fix would change, written nowhere) and --show-fixes."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import ci_models
import pytest

from onnxslim_lint.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ONNXSLIM_LINT_OUTPUT_FORMAT", raising=False)
    return tmp_path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", "--isolated", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_diff_lists_removed_items_by_name_and_writes_nothing(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = ci_models.write(folder / "m.onnx", dead_floats=1000)
    before = digest(model)
    code, out, _ = run(capsys, "--diff", "m.onnx")
    assert code == 1
    assert digest(model) == before
    lines = out.splitlines()
    assert lines[:2] == ["--- m.onnx", "+++ m.onnx (fixed)"]
    assert "@@ OSL101 unused-initializer: Remove the unused initializers @@" in lines
    assert "-initializer legacy.weight  float32[1000]  4.0 kB" in lines
    assert "-node input_identity  Identity" in lines
    size = model.stat().st_size
    stats = next(line for line in lines if line.startswith(" nodes "))
    assert re.fullmatch(
        rf" nodes 2 → 1 \(-1\), size {size / 1000:.1f} kB → \d+ B \(-4\.\d kB\)", stats
    ), stats
    assert lines[-1].startswith("Would fix 2 errors in 1 file (4.")
    assert lines[-1].endswith("and 1 node saved).")


def test_diff_shows_merged_copies_with_what_they_merge_into(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(ROOT / "examples" / "messy.onnx", folder / "messy.onnx")
    before = digest(folder / "messy.onnx")
    code, out, _ = run(capsys, "--diff", "messy.onnx")
    assert code == 1
    assert digest(folder / "messy.onnx") == before
    assert "@@ OSL103 duplicate-constant:" in out
    assert "-initializer block_again.weight  float32[32,32] = block.weight  4.1 kB" in out
    assert "-node dead_sigmoid  Sigmoid" in out
    # Every rule the fix would apply has a section; nothing else is printed.
    sections = re.findall(r"^@@ (OSL\d+) ", out, flags=re.MULTILINE)
    assert len(sections) == len(set(sections)) >= 5
    assert "[*]" not in out


def test_diff_matches_what_fix_does(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(ROOT / "examples" / "messy.onnx", folder / "messy.onnx")
    _, diff, _ = run(capsys, "--diff", "messy.onnx")
    planned = re.search(r"size [\d.]+ kB → ([\d.]+ [kM]?B)", diff)
    assert planned is not None
    _, out, _ = run(capsys, "--fix", "--show-fixes", "messy.onnx")
    assert f"→ {planned.group(1)}" in out
    # --show-fixes: what was fixed, per file and rule.
    assert "Fixed " in out and "- messy.onnx:" in out
    for code_ in re.findall(r"^@@ (OSL\d+) ", diff, flags=re.MULTILINE):
        assert re.search(rf"^\s+\d+ × {code_} \(", out, flags=re.MULTILINE), code_


def test_diff_exits_zero_when_nothing_would_change(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ci_models.write(folder / "clean.onnx")
    code, out, _ = run(capsys, "--diff", "clean.onnx")
    assert code == 0
    assert out == "No errors would be fixed.\n"
    # A finding with no fix (a broken budget) is not something --diff would change.
    code, out, _ = run(capsys, "--diff", "--config", "budget.max-size = 1", "clean.onnx")
    assert code == 0
    assert out == "No errors would be fixed.\n"


def test_diff_escapes_control_characters_in_names(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ci_models.write(folder / "m.onnx", dead_floats=10, dead_name="two\nlines")
    code, out, _ = run(capsys, "--diff", "m.onnx")
    assert code == 1
    assert "-initializer two\\nlines  float32[10]" in out
