"""``-j N`` gives the output of ``-j 1``, in the same order; the result cache is read
back while nothing changed, and only then; ``clean`` and ``--no-cache``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onnxslim_lint.cache import CACHE_DIR_NAME
from onnxslim_lint.cli import main
from onnxslim_lint.config import Settings
from onnxslim_lint.parallel import process_files
from onnxslim_lint.results import FileResult
from onnxslim_lint.run_options import RunOptions
from tests import ci_models

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("bert_legacy", "vit_dynamo", "whisper_encoder_legacy"):
        shutil.copy(REPO / "tests" / "models" / "exported" / f"{name}.onnx", tmp_path)
    shutil.copy(REPO / "examples" / "messy.onnx", tmp_path / "a_messy.onnx")
    ci_models.write(tmp_path / "sub" / "clean.onnx")
    ci_models.write(tmp_path / "sub" / "ext.onnx", external=True, dead_floats=100)
    (tmp_path / "sub" / "broken.onnx").write_bytes(b"\x08\x07garbage")
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    out, _ = capsys.readouterr()
    return code, out


@pytest.mark.parametrize("fmt", ["concise", "json", "full"])
def test_parallel_output_is_the_sequential_output(
    tree: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    one = _run(capsys, ".", "-j", "1", "--no-cache", "--output-format", fmt)
    two = _run(capsys, ".", "-j", "2", "--no-cache", "--output-format", fmt)
    assert one == two
    assert one[0] == 2 and "OSL101" in one[1] and "OSL00" in one[1]  # findings and an error


def test_a_parallel_fix_fixes_every_file(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out = _run(capsys, ".", "-j", "2", "--fix")
    assert "remaining" in out
    _, out = _run(capsys, ".", "-j", "2", "--no-cache", "--select", "OSL1")
    assert "OSL101" not in out  # every unused initializer went, in every file


def test_the_cache_is_read_while_nothing_changed(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _run(capsys, ".")
    cache = tree / CACHE_DIR_NAME
    assert (cache / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172")
    assert (cache / ".gitignore").read_text().endswith("*\n")
    assert _run(capsys, ".") == first

    # Same size, same mtime, same inode, other bytes: the cache cannot tell, so it
    # answers what it knew. This proves the second run did not read the file.
    model = tree / "a_messy.onnx"
    stat = model.stat()
    with open(model, "r+b") as handle:
        handle.write(b"\xff" * 16)
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _run(capsys, ".") == first

    # A new mtime is a change: checked again, and the damage is found.
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    _, out = _run(capsys, ".")
    assert out != first[1] and "a_messy.onnx: OSL0" in out


_IMPORTED = """
import json, sys
from onnxslim_lint.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m in ("onnx", "numpy", "onnxruntime")
               or m.startswith(("onnxslim_lint.rules.registry", "onnxslim_lint.pipeline")))
print(json.dumps([code, heavy]), file=sys.stderr)
"""


def _imported(tree: Path, *args: str) -> tuple[int, list[str]]:
    """Run the CLI in a fresh interpreter: its exit code and the heavy modules it loaded."""
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORTED, *args],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    code, heavy = json.loads(proc.stderr.strip().splitlines()[-1])
    return code, heavy


def test_a_run_of_cache_hits_imports_neither_onnx_nor_the_rules(tree: Path) -> None:
    """A pre-commit run over an unchanged tree costs the interpreter, not `import onnx`."""
    (tree / "sub" / "broken.onnx").unlink()  # a file error is cached too, but keep it simple
    first = _imported(tree, ".", "-j", "1")
    assert first[0] == 1 and "onnx" in first[1] and "onnxslim_lint.pipeline" in first[1]
    assert _imported(tree, ".", "-j", "1") == (1, [])
    budget = ("--config", "budget.max-size = '1 MB'")
    assert _imported(tree, ".", "-j", "2", *budget)[1] == []  # budgets are a stat away
    (tree / "a_messy.onnx").touch()  # one miss: the pipeline is loaded for that file only
    assert "onnxslim_lint.pipeline" in _imported(tree, ".")[1]


def test_a_changed_data_file_or_other_settings_miss_the_cache(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _run(capsys, "sub")
    data = tree / "sub" / "ext.onnx.data"
    data.write_bytes(data.read_bytes()[:-4])  # truncated: the model no longer loads
    _, out = _run(capsys, "sub")
    assert "sub/ext.onnx: OSL0" in out and out != first[1]
    _, only = _run(capsys, "sub", "--select", "OSL102")
    assert "OSL101" not in only


def test_no_cache_and_clean(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, ".", "--no-cache")
    assert not (tree / CACHE_DIR_NAME).exists()
    _run(capsys, ".")
    assert (tree / CACHE_DIR_NAME).exists()
    assert main(["clean"]) == 0
    assert not (tree / CACHE_DIR_NAME).exists()
    (tree / CACHE_DIR_NAME).mkdir()  # a folder of that name we did not make: kept
    assert main(["clean"]) == 0
    assert (tree / CACHE_DIR_NAME).exists()


def test_a_memory_budget_of_one_byte_runs_one_file_at_a_time(tree: Path) -> None:
    files = sorted(tree.glob("*.onnx"))
    named = [(path, path.name) for path in files]

    def guard(path: Path, display: str, exc: Exception) -> FileResult:
        raise AssertionError(f"{display}: {exc}")

    results = list(
        process_files(named, Settings(), RunOptions(), jobs=2, cache=None, guard=guard, budget=1)
    )
    assert [r.display for r in results] == [path.name for path in files]
    assert all(r.error is None for r in results)
