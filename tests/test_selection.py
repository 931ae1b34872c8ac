"""Rule selection as ruff does it, on the command line and in files: the command
line's --select beats the file's ignore, specificity decides within one layer,
``!`` negates a per-file-ignores glob, unknown codes are errors naming the code,
and file errors (OSL0xx) and configured budgets (OSL3xx) are reported whatever
``select`` says."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import ci_models
import pytest

from onnxslim_lint.cli import main
from onnxslim_lint.config import RuleSelection
from onnxslim_lint.model.read_errors import READ_ERRORS
from onnxslim_lint.rules.registry import ALL_RULES, default_enabled, enabled_codes

ROOT = Path(__file__).resolve().parents[1]
MESSY = ROOT / "examples" / "messy.onnx"  # OSL101, OSL102, OSL103, OSL201, OSL202, OSL209


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _codes(out: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if ": OSL" in line]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copyfile(MESSY, tmp_path / "messy.onnx")
    return tmp_path


def _config(project: Path, text: str) -> None:
    (project / "pyproject.toml").write_text("[tool.onnxslim-lint]\n" + text)


def test_command_line_select_beats_the_files_ignore(project: Path, capsys) -> None:
    _config(project, 'ignore = ["OSL103"]\n')
    _, out, _ = _run(capsys, str(project))
    assert "OSL103" not in _codes(out)
    code, out, _ = _run(capsys, str(project), "--select", "OSL103")
    assert (code, _codes(out)) == (1, ["OSL103"])
    # --config text is a layer above the file too.
    _, out, _ = _run(capsys, str(project), "--config", 'select = ["OSL103"]')
    assert _codes(out) == ["OSL103"]


def test_command_line_extend_select_beats_the_files_ignore(project: Path, capsys) -> None:
    _config(project, 'select = ["OSL1"]\nignore = ["OSL103"]\n')
    _, out, _ = _run(capsys, str(project))
    assert _codes(out) == ["OSL101", "OSL102"]
    _, out, _ = _run(capsys, str(project), "--extend-select", "OSL103")
    assert _codes(out) == ["OSL101", "OSL102", "OSL103"]
    # A command-line --ignore without --select keeps the file's selection.
    _, out, _ = _run(capsys, str(project), "--ignore", "OSL101")
    assert _codes(out) == ["OSL102"]


def test_the_more_specific_selector_wins_within_one_layer(project: Path, capsys) -> None:
    _, out, _ = _run(capsys, str(project), "--select", "OSL101,OSL2", "--ignore", "OSL1,OSL20")
    assert _codes(out) == ["OSL101"]  # OSL101 beats OSL1; OSL20 beats OSL2
    _, out, _ = _run(capsys, str(project), "--ignore", "ALL", "--select", "OSL103")
    assert _codes(out) == ["OSL103"]
    # At equal specificity the ignore wins.
    _, out, _ = _run(capsys, str(project), "--select", "OSL1", "--ignore", "OSL1")
    assert _codes(out) == []


def test_selection_layers_as_ruff_resolves_them() -> None:
    def on(*layers: RuleSelection) -> set[str]:
        return {c for c in enabled_codes(layers) if c not in READ_ERRORS}

    file_ignores = RuleSelection(ignore=("OSL103",))
    assert "OSL103" not in on(file_ignores)
    assert on(file_ignores, RuleSelection(select=("OSL103",))) == {"OSL103", "OSL301", "OSL302"}
    # `select = []` with an ignore passes the ignore on to the next layer (ruff).
    carried = on(RuleSelection(select=(), ignore=("OSL102",)), RuleSelection(select=("OSL1",)))
    assert "OSL102" not in carried and "OSL101" in carried


def test_bang_in_per_file_ignores_means_files_not_matching(project: Path, capsys) -> None:
    (project / "legacy").mkdir()
    shutil.copyfile(MESSY, project / "legacy" / "old.onnx")
    _config(
        project,
        'select = ["OSL101", "OSL201"]\n'
        "[tool.onnxslim-lint.per-file-ignores]\n"
        '"!legacy/*.onnx" = ["OSL101"]\n',
    )
    _, out, _ = _run(capsys, str(project))
    found = sorted(
        (Path(line.split(":")[0]).name, line.split()[1])
        for line in out.splitlines()
        if ": OSL" in line
    )
    # OSL101 is ignored everywhere but in legacy/.
    assert found == [("messy.onnx", "OSL201"), ("old.onnx", "OSL101"), ("old.onnx", "OSL201")]


@pytest.mark.parametrize(
    ("args", "config", "where"),
    [
        (("--select", "OSL999"), "", "'OSL999' in --select"),
        (("--ignore", "OSL1,OSL5"), "", "'OSL5' in --ignore"),
        (("--extend-select", "no-such-rule"), "", "'no-such-rule' in --extend-select"),
        ((), 'ignore = ["OSL777"]\n', "'OSL777' in ignore (pyproject.toml)"),
        ((), 'select = ["E501"]\n', "'E501' in select (pyproject.toml)"),
        (("--config", 'select = ["OSL42"]'), "", "'OSL42' in select (--config)"),
        ((), '[tool.onnxslim-lint.per-file-ignores]\n"*.onnx" = ["OSL0999"]\n', "'OSL0999'"),
        (("--fixable", "OSL4x"), "", "'OSL4x' in fixable"),
    ],
)
def test_unknown_codes_are_an_error_naming_the_code(
    project: Path, capsys, args: tuple[str, ...], config: str, where: str
) -> None:
    if config:
        _config(project, config)
    code, out, err = _run(capsys, str(project), *args)
    assert code == 2 and out == "", out
    assert f"unknown rule selector {where}" in err, err


def test_a_configured_budget_is_enforced_whatever_the_select(project: Path, capsys) -> None:
    """The Action's own example: --select OSL1 with a budget; messy.onnx is 80.0 kB."""
    budget = ("--config", "budget.max-size = '50 kB'")
    code, out, _ = _run(capsys, str(project), "--select", "OSL1", *budget)
    assert code == 1
    assert _codes(out) == ["OSL101", "OSL102", "OSL103", "OSL301"], out
    assert "above the 50.0 kB budget" in out
    code, out, _ = _run(capsys, str(project), "--select", "OSL201", "--ignore", "ALL", *budget)
    assert _codes(out) == ["OSL201", "OSL301"]
    # Only an ignore that names it turns a budget off.
    for ignore in ("OSL301", "OSL3", "model-size"):
        _, out, _ = _run(capsys, str(project), "--select", "OSL1", "--ignore", ignore, *budget)
        assert "OSL301" not in _codes(out), ignore
    # No budget configured: nothing to report, whatever is selected.
    _, out, _ = _run(capsys, str(project), "--select", "OSL3")
    assert _codes(out) == []


def test_file_errors_are_reported_whatever_the_select_and_can_be_ignored(
    tmp_path: Path, capsys
) -> None:
    ci_models.lfs_pointer(tmp_path / "big.onnx", 123_456)
    ci_models.write(tmp_path / "clean.onnx")
    for args in ((), ("--select", "OSL1"), ("--ignore", "ALL", "--select", "OSL101")):
        code, out, _ = _run(capsys, str(tmp_path), *args)
        assert code == 2 and _codes(out) == ["OSL004"], (args, out)
    for ignore in ("OSL004", "OSL0", "git-lfs-pointer"):
        code, out, err = _run(capsys, str(tmp_path), "--ignore", ignore)
        assert code == 0 and out.strip() == "All checks passed!", (ignore, out)
        assert "warning: " in err and "big.onnx: OSL004 git-lfs-pointer (ignored): " in err
    _config(tmp_path, '[tool.onnxslim-lint.per-file-ignores]\n"big.onnx" = ["OSL004"]\n')
    code, _, err = _run(capsys, str(tmp_path))
    assert code == 0 and "(ignored)" in err
    # -q keeps the warning off too.
    code, _, err = _run(capsys, str(tmp_path), "-q")
    assert code == 0 and err == ""


def test_file_error_codes_are_explained_and_listed(capsys) -> None:
    code, out, _ = _run(capsys, "rule", "OSL004")
    assert code == 0
    assert out.startswith("# git-lfs-pointer (OSL004)\n")
    assert "git lfs pull" in out and "## How to fix it" in out and "per-file-ignores" in out
    code, out, _ = _run(capsys, "rule", "internal-error")
    assert code == 0 and "ONNXSLIM_LINT_DEBUG=1" in out
    code, out, _ = _run(capsys, "rule", "--all", "--output-format", "json")
    listed = [entry["code"] for entry in json.loads(out)]
    assert listed == [*READ_ERRORS, *(rule.code for rule in ALL_RULES)]
    for code_ in ("OSL010", "OSL011"):
        _, text, _ = _run(capsys, "rule", code_)
        assert "## What it means" in text and "## How to fix it" in text


def test_each_rule_says_whether_it_is_enabled_by_default(capsys) -> None:
    for rule in ALL_RULES:
        _, out, _ = _run(capsys, "rule", rule.code)
        on = default_enabled(rule.code) and not rule.opt_in
        expected = "Enabled by default: yes" if on else "Enabled by default: no"
        assert expected in out, rule.code
        assert on == (not rule.code.startswith("OSL4") and not rule.opt_in), rule.code
