"""``required-version``: a config file can demand a release of onnxslim-lint (ruff's
setting of the same name), as a PEP 440 specifier or an exact version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ci_models
import pytest
from packaging.version import Version

from onnxslim_lint import __version__
from onnxslim_lint.cli import main
from onnxslim_lint.config import load_settings

RUNNING = Version(__version__)
NEXT_MAJOR = f"{RUNNING.major + 1}"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ONNXSLIM_LINT_OUTPUT_FORMAT", raising=False)
    ci_models.write(tmp_path / "m.onnx")
    return tmp_path


def _pyproject(project: Path, body: str) -> None:
    (project / "pyproject.toml").write_text(f"[tool.onnxslim-lint]\n{body}\n")


@pytest.mark.parametrize(
    "required",
    [
        __version__,
        f"=={__version__}",
        f">={RUNNING.major}.{RUNNING.minor}",
        f"~={RUNNING.major}.{RUNNING.minor}.0",
        f"=={RUNNING.major}.{RUNNING.minor}.*",
        f">={__version__}, <{NEXT_MAJOR}",
        f"!={NEXT_MAJOR}.0.0",
    ],
)
def test_a_satisfied_required_version_lets_the_check_run(
    project: Path, capsys: pytest.CaptureFixture[str], required: str
) -> None:
    _pyproject(project, f'required-version = "{required}"')
    assert main(["check", "--no-cache", "m.onnx"]) == 0
    assert "All checks passed!" in capsys.readouterr().out
    assert load_settings(project / "pyproject.toml").required_version == required


@pytest.mark.parametrize(
    "required",
    [
        f">={NEXT_MAJOR}",
        f"{NEXT_MAJOR}.0.0",
        f"!={__version__}",
        f"<{__version__}",
        f"~={NEXT_MAJOR}.0",
        f">={__version__},<{__version__}",
    ],
)
def test_an_unsatisfied_required_version_is_exit_2_with_both_versions(
    project: Path, capsys: pytest.CaptureFixture[str], required: str
) -> None:
    _pyproject(project, f'required-version = "{required}"')
    assert main(["check", "m.onnx"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"onnxslim-lint: error: required version {required} does not match the running "
        f"version {__version__}\n"
    )


def test_the_version_is_checked_before_keys_this_release_does_not_know(project: Path) -> None:
    _pyproject(project, f'future-key = true\nrequired-version = ">={NEXT_MAJOR}"')
    done = subprocess.run(
        [sys.executable, "-m", "onnxslim_lint", "check", "m.onnx"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"onnxslim-lint: error: required version >={NEXT_MAJOR} does not match the running "
        f"version {__version__}\n"
    )


def test_required_version_in_a_standalone_file_and_in_config_text(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "onnxslim-lint.toml").write_text(f'required-version = ">={NEXT_MAJOR}"\n')
    assert main(["check", "m.onnx"]) == 2
    (project / "onnxslim-lint.toml").unlink()
    capsys.readouterr()
    override = f'required-version = ">={NEXT_MAJOR}"'
    assert main(["check", "--isolated", "--config", override, "m.onnx"]) == 2
    assert "does not match the running version" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ('"latest"', "a string ('latest')"),
        ('"=> 1"', "a string ('=> 1')"),
        ('""', "a string ('')"),
        ("1", "an integer (1)"),
    ],
)
def test_a_bad_required_version_names_the_file_and_key(
    project: Path, capsys: pytest.CaptureFixture[str], value: str, got: str
) -> None:
    _pyproject(project, f"required-version = {value}")
    assert main(["check", "m.onnx"]) == 2
    assert capsys.readouterr().err == (
        "onnxslim-lint: error: pyproject.toml: 'required-version' in [tool.onnxslim-lint] "
        'must be a version or a version specifier, like ">=0.1.0" or "0.1.0", '
        f"got {got}\n"
    )
