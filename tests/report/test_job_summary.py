"""The job summary's Markdown from results as the pipeline makes them: human units,
deleted and renamed models, broken budgets in words, and a wrong input."""

from __future__ import annotations

from pathlib import Path

import ci_models
import pytest

from onnxslim_lint.config import Limits, Settings
from onnxslim_lint.findings import Finding
from onnxslim_lint.pipeline import RunOptions, process_file
from onnxslim_lint.report.job_summary import (
    RemovedModel,
    render_input_error,
    render_job_summary,
    totals,
)
from onnxslim_lint.results import FileResult, SizeInfo


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # display paths are relative to the working directory


def _rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| ")]


def _budget_finding(path: str, code: str, nbytes: int) -> Finding:
    name = {"OSL301": "model-size", "OSL302": "size-growth"}[code]
    return Finding(path, code, name, "(the rule's message)", fixable=False, nbytes=nbytes)


def test_removable_bytes_are_in_human_units(tmp_path: Path) -> None:
    path = ci_models.write(tmp_path / "small.onnx", dead_floats=300)  # 1.2 kB of dead weight
    result = process_file(path, Settings(select=("OSL101",)), RunOptions(), "small.onnx")
    (finding,) = result.findings
    assert 1150 <= finding.nbytes < 1250  # the serialized tensor: data and header
    size = path.stat().st_size
    sizes = {"small.onnx": SizeInfo(path, "small.onnx", size)}
    (_, row, total) = _rows(render_job_summary([result], sizes, root=tmp_path))
    assert row.endswith("| 1 (OSL101) | 1.2 kB |")
    assert total.endswith("| **1** | **1.2 kB** |")
    assert "MB" not in row


def test_deleted_models_are_rows_and_leave_the_total(tmp_path: Path) -> None:
    kept = FileResult(tmp_path / "kept.onnx", "kept.onnx")
    sizes = {"kept.onnx": SizeInfo(kept.path, "kept.onnx", 3_000, 2_000, "main")}
    removed = [RemovedModel("models/old.onnx", 1_500_000)]
    markdown = render_job_summary([kept], sizes, base_ref="main", root=tmp_path, removed=removed)
    _, kept_row, deleted_row, total_row = _rows(markdown)
    assert kept_row == "| ✅ | <code>kept.onnx</code> | 3.0 kB | ▲ +1.0 kB (+50.0%) | 0 | – |"
    assert deleted_row == (
        "| 🗑️ | <code>models/old.onnx</code> | deleted | ▼ -1.5 MB (-100.0%) | – | – |"
    )
    assert total_row == (
        "| | **Total** (2 models, 1 deleted) | **3.0 kB** | **▼ -1.5 MB (-99.8%)** | **0** "
        "| **–** |"
    )
    total = totals([kept], sizes, removed)
    assert (total.size_change, total.base_size, total.models) == (-1_499_000, 1_502_000, 2)
    # Only a deletion, no model left to check: still a table, and a comparison.
    markdown = render_job_summary([], {}, base_ref="main", root=tmp_path, removed=removed)
    assert "deleted" in markdown and "No ONNX models" not in markdown
    assert totals([], {}, removed).size_change == -1_500_000


def test_a_renamed_model_shows_both_names(tmp_path: Path) -> None:
    result = FileResult(tmp_path / "models" / "b.onnx", "models/b.onnx")
    sizes = {"models/b.onnx": SizeInfo(result.path, "models/b.onnx", 700, 700, "main")}
    markdown = render_job_summary(
        [result], sizes, base_ref="main", root=tmp_path, renamed={"models/b.onnx": "models/a.onnx"}
    )
    assert _rows(markdown)[1] == (
        "| ✅ | <code>models/a.onnx</code> → <code>models/b.onnx</code> | 700 B | = 0 B | 0 | – |"
    )


def test_a_broken_budget_is_said_in_the_row(tmp_path: Path) -> None:
    big = FileResult(tmp_path / "big.onnx", "big.onnx")
    big.findings = [
        _budget_finding("big.onnx", "OSL301", 2_300_000),
        _budget_finding("big.onnx", "OSL302", 4_300_000),
    ]
    fresh = FileResult(tmp_path / "fresh.onnx", "fresh.onnx")
    fresh.findings = [_budget_finding("fresh.onnx", "OSL302", 2_000_000)]
    sizes = {
        "big.onnx": SizeInfo(big.path, "big.onnx", 12_300_000, 8_000_000, "main"),
        "fresh.onnx": SizeInfo(fresh.path, "fresh.onnx", 2_000_000, None, "main"),
    }
    limits = {
        "big.onnx": Limits(max_size=10_000_000, max_growth=1_000_000, max_growth_percent=5),
        "fresh.onnx": Limits(max_growth=1_500_000),
    }
    rows = _rows(render_job_summary([big, fresh], sizes, root=tmp_path, limits=limits))
    assert (
        "| 2 (OSL301, OSL302)<br>**12.3 MB: 2.3 MB over the 10 MB budget**"
        "<br>**+4.3 MB (+53.8%) over the 1 MB and 5% growth budget** |"
    ) in rows[1]
    assert "| 1 (OSL302)<br>**new, +2.0 MB over the 1.5 MB growth budget** |" in rows[2]
    # Without the limits (another caller), the size limit comes from the finding.
    rows = _rows(render_job_summary([big], sizes, root=tmp_path))
    assert "**12.3 MB: 2.3 MB over the 10 MB budget**" in rows[1]
    assert "**+4.3 MB (+53.8%) over the growth budget**" in rows[1]


def test_a_wrong_input_is_one_escaped_line() -> None:
    markdown = render_input_error("the `args` input is not valid: unrecognized arguments: <x>|")
    assert markdown == (
        "## onnxslim-lint\n\n❌ **Nothing was checked:** the &#96;args&#96; input is not "
        "valid: unrecognized arguments: &lt;x&gt;&#124;\n"
    )
