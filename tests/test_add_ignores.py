"""``check --add-ignores``: today's findings go into per-file-ignores of the config file
in use, the rest of that file untouched, and the next plain check passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ci_models
import pytest

from onnxslim_lint.cli import main
from onnxslim_lint.config import load_settings

GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

PYPROJECT = """\
# The project's own settings: --add-ignores must not touch a byte of these.
[project]
name = "models"   # not a Python package, really

[tool.ruff]
line-length = 100

[tool.onnxslim-lint]
select = ["OSL1", "OSL2"]  # the defaults, spelled out
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ONNXSLIM_LINT_OUTPUT_FORMAT", raising=False)
    ci_models.write(tmp_path / "models" / "messy.onnx", dead_floats=100)  # OSL101, OSL201
    ci_models.write(tmp_path / "models" / "asr" / "big.onnx", dead_floats=200)
    ci_models.write(tmp_path / "models" / "clean.onnx")
    return tmp_path


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m onnxslim_lint`` as a user runs it (no cache: each run checks)."""
    return subprocess.run(
        [sys.executable, "-m", "onnxslim_lint", *args, "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def _ignores(config: Path) -> dict[str, tuple[str, ...]]:
    return dict(load_settings(config).per_file_ignores)


def test_add_ignores_writes_the_findings_and_the_next_check_passes(project: Path) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT)
    assert _cli(project, "models").returncode == 1
    done = _cli(project, "--add-ignores", "models")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "Added 4 ignores to 2 files in pyproject.toml."
    text = (project / "pyproject.toml").read_text()
    assert text.startswith(PYPROJECT)  # every byte that was there, still there
    assert text[len(PYPROJECT) :] == (
        "\n[tool.onnxslim-lint.per-file-ignores]\n"
        '"models/asr/big.onnx" = ["OSL101", "OSL201"]\n'
        '"models/messy.onnx" = ["OSL101", "OSL201"]\n'
    )
    after = _cli(project, "models")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "All checks passed!" in after.stdout
    # Run again: nothing new, nothing written.
    again = _cli(project, "--add-ignores", "models")
    assert (again.returncode, again.stderr) == (0, "No ignores to add.\n")
    assert (project / "pyproject.toml").read_text() == text


def test_add_ignores_merges_with_existing_entries(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = PYPROJECT + (
        "\n[tool.onnxslim-lint.per-file-ignores]\n"
        '"models/messy.onnx" = ["OSL201"]   # re-export pending\n'
        '"models/legacy/*.onnx" = ["OSL1"]\n'
    )
    (project / "pyproject.toml").write_text(original)
    assert main(["check", "--add-ignores", "--no-cache", "models"]) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "Added 3 ignores to 2 files in pyproject.toml."
    assert (project / "pyproject.toml").read_text() == original.replace(
        '"models/messy.onnx" = ["OSL201"]', '"models/messy.onnx" = ["OSL101", "OSL201"]'
    ) + '"models/asr/big.onnx" = ["OSL101", "OSL201"]\n'
    assert main(["check", "--no-cache", "models"]) == 0


def test_keys_are_relative_to_the_config_files_folder(project: Path) -> None:
    """From a subfolder, with a standalone config file above it, keys are read the way
    per-file-ignores globs are: from the config file's folder."""
    (project / "onnxslim-lint.toml").write_text('# ours\nselect = ["OSL101"]\n')
    models = project / "models"
    done = _cli(models, "--add-ignores", "asr")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "Added 1 ignore to 1 file in ../onnxslim-lint.toml."
    assert (project / "onnxslim-lint.toml").read_text() == (
        '# ours\nselect = ["OSL101"]\n\n[per-file-ignores]\n"models/asr/big.onnx" = ["OSL101"]\n'
    )
    assert _cli(models, "asr").returncode == 0
    assert _cli(project, "models/asr").returncode == 0
    assert _cli(models, "messy.onnx").returncode == 1  # not ignored: it was not checked


def test_without_a_config_file_a_project_pyproject_gets_the_table(project: Path) -> None:
    original = '[project]\nname = "x"\n\n[tool.ruff]\nline-length = 100\n'
    (project / "pyproject.toml").write_text(original)
    done = _cli(project, "--add-ignores", "models/messy.onnx")
    assert done.returncode == 0, done.stderr
    text = (project / "pyproject.toml").read_text()
    assert text == original + (
        '\n[tool.onnxslim-lint.per-file-ignores]\n"models/messy.onnx" = ["OSL101", "OSL201"]\n'
    )
    assert _cli(project, "models/messy.onnx").returncode == 0


def test_without_any_config_file_one_is_made_at_the_top_of_the_git_tree(project: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=project, check=True, env={**os.environ, **GIT_ENV})
    models = project / "models"
    done = _cli(models, "--add-ignores", "messy.onnx")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "Added 2 ignores to 1 file in ../onnxslim-lint.toml."
    assert (project / "onnxslim-lint.toml").read_text() == (
        '[per-file-ignores]\n"models/messy.onnx" = ["OSL101", "OSL201"]\n'
    )
    assert _cli(models, "messy.onnx").returncode == 0


def test_file_errors_are_not_ignored_and_still_fail_the_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "models" / "broken.onnx").write_bytes(b"")
    assert main(["check", "--add-ignores", "--no-cache", "models"]) == 2
    assert "Added 4 ignores to 2 files" in capsys.readouterr().err
    ignores = _ignores(project / "pyproject.toml")
    assert sorted(ignores) == ["models/asr/big.onnx", "models/messy.onnx"]
    assert main(["check", "--no-cache", "models"]) == 2  # the empty file, still
    assert "OSL001" in capsys.readouterr().out


def test_budget_findings_are_ignored_too(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        PYPROJECT + '\n[tool.onnxslim-lint.budget]\nmax-size = "500 B"\n'
    )
    done = _cli(project, "--add-ignores", "models/asr/big.onnx")
    assert done.returncode == 0, done.stderr
    ignores = _ignores(project / "pyproject.toml")
    assert ignores == {"models/asr/big.onnx": ("OSL101", "OSL201", "OSL301")}
    assert _cli(project, "models/asr/big.onnx").returncode == 0


def test_names_with_glob_characters_match_only_themselves(project: Path) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT)
    ci_models.write(project / "x" / "we[ird].onnx", dead_floats=10)
    ci_models.write(project / "!bang*.onnx", dead_floats=10)
    assert _cli(project, "--add-ignores", "x", "!bang*.onnx").returncode == 0
    assert _ignores(project / "pyproject.toml") == {
        "./!bang[*].onnx": ("OSL101", "OSL201"),
        "x/we[[]ird].onnx": ("OSL101", "OSL201"),
    }
    assert _cli(project, "x", "!bang*.onnx").returncode == 0
    # "we[ird].onnx" as a glob would match "wei.onnx"; "!bang*" would negate and match all.
    ci_models.write(project / "x" / "wei.onnx", dead_floats=10)
    ci_models.write(project / "!bang-2.onnx", dead_floats=10)
    done = _cli(project, "x", "!bang*.onnx", "!bang-2.onnx")
    assert done.returncode == 1
    reported = {line.split(":")[0] for line in done.stdout.splitlines() if ": OSL" in line}
    assert reported == {"!bang-2.onnx", "x/wei.onnx"}


@pytest.mark.parametrize("flag", ["--fix", "--diff", "--isolated"])
def test_add_ignores_refuses_fix_diff_and_isolated(
    project: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT)
    before = (project / "models" / "messy.onnx").read_bytes()
    assert main(["check", "--add-ignores", flag, "models"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"onnxslim-lint: error: --add-ignores cannot be used with {flag}")
    assert (project / "pyproject.toml").read_text() == PYPROJECT
    assert (project / "models" / "messy.onnx").read_bytes() == before


def test_nothing_to_add_writes_no_file(project: Path) -> None:
    done = _cli(project, "--add-ignores", "models/clean.onnx")
    assert (done.returncode, done.stderr) == (0, "No ignores to add.\n")
    assert sorted(p.name for p in project.iterdir()) == ["models"]


def test_a_config_it_cannot_edit_is_left_as_it_was_with_the_entries_to_add(
    project: Path,
) -> None:
    original = '[tool]\nonnxslim-lint = { select = ["OSL1"] }\n'
    (project / "pyproject.toml").write_text(original)
    done = _cli(project, "--add-ignores", "models/messy.onnx")
    assert done.returncode == 2
    assert done.stderr.startswith(
        "onnxslim-lint: error: pyproject.toml: cannot add the ignores to "
        "[tool.onnxslim-lint.per-file-ignores] with a plain edit"
    )
    assert done.stderr.endswith(
        "add them by hand:\n[tool.onnxslim-lint.per-file-ignores]\n"
        '"models/messy.onnx" = ["OSL101"]\n'
    )
    assert (project / "pyproject.toml").read_text() == original


def test_the_config_files_mode_is_kept(project: Path) -> None:
    config = project / "onnxslim-lint.toml"
    config.write_text("")
    config.chmod(0o640)
    assert _cli(project, "--add-ignores", "models/messy.onnx").returncode == 0
    assert config.stat().st_mode & 0o777 == 0o640
    assert config.read_text().startswith("[per-file-ignores]\n")
    assert [p.name for p in project.iterdir() if p.name.endswith(".tmp")] == []


def test_with_the_result_cache_the_next_check_passes_too(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cache is keyed by the settings: new ignores are never answered from it."""
    (project / "pyproject.toml").write_text(PYPROJECT)
    assert main(["check", "models"]) == 1
    assert main(["check", "--add-ignores", "models"]) == 0
    assert (project / ".onnxslim_lint_cache").is_dir()
    capsys.readouterr()
    assert main(["check", "models"]) == 0
    assert "All checks passed!" in capsys.readouterr().out
