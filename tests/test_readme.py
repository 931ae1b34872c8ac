"""The README's examples stay true: its configuration parses, its commands run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from onnxslim_lint.cli import main
from onnxslim_lint.config import load_settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_install_and_test_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    lines = first_block.group(1).strip().splitlines()
    assert lines == [
        "pip install . && onnxslim-lint examples/messy.onnx",
        "pip install '.[test]' && python -m pytest",
    ]
    assert README.index("```bash") < README.index("```console")


def test_readme_configuration_is_valid(tmp_path: Path) -> None:
    block = re.search(r"```toml\n(.*?)```", README, re.S)
    assert block is not None
    (tmp_path / "pyproject.toml").write_text(block.group(1))
    settings = load_settings(tmp_path / "pyproject.toml")
    assert settings.ignore == ("OSL202",)
    assert settings.verify.dims["sequence"] == 16
    shutil.copyfile(ROOT / "examples" / "messy.onnx", tmp_path / "messy.onnx")
    assert main([str(tmp_path / "messy.onnx")]) == 1  # findings, not a config error


def test_readme_lists_every_rule() -> None:
    from onnxslim_lint.rules.registry import ALL_RULES

    for rule in ALL_RULES:
        assert f"| {rule.code} | `{rule.name}` | {rule.summary} |" in README


def test_readme_python_example_runs_as_written(tmp_path: Path) -> None:
    """The Python API block, run from a folder laid out like the repository's root."""
    block = re.search(r"```python\n(.*?)```", README, re.S)
    assert block is not None
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    done = subprocess.run(
        [sys.executable, "-c", block.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "OSL101 3 unused initializers (66.7 kB)"
    assert "True 0.0" in lines  # the fixed copy verifies bit-exactly
    assert lines[-1] == "11 -> 10 initializers"
    assert (tmp_path / "messy.fixed.onnx").stat().st_size < (
        ROOT / "examples/messy.onnx"
    ).stat().st_size


def test_license_is_the_apache_2_text_with_our_copyright_line() -> None:
    text = (ROOT / "LICENSE").read_text()
    first, _, rest = text.partition("\n")
    assert first == "Copyright 2026 The onnxslim-lint authors"
    words = rest.split()
    assert words[:5] == ["Apache", "License", "Version", "2.0,", "January"]
    assert "END OF TERMS AND CONDITIONS" in rest
    # The same text as onnx's own LICENSE (installed with it), whitespace aside.
    import importlib.metadata

    onnx_files = importlib.metadata.files("onnx") or []
    theirs = [f for f in onnx_files if f.name == "LICENSE" and "dist-info" in str(f)]
    if theirs:
        assert " ".join(theirs[0].read_text().split()) == " ".join(words)


def test_pyproject_declares_the_license_as_spdx(tmp_path: Path) -> None:
    """setuptools >= 77 (the build backend pyproject asks for) accepts the SPDX form
    and writes it as License-Expression, with the LICENSE file in the metadata."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'license = "Apache-2.0"' in pyproject
    assert 'requires = ["setuptools>=77"]' in pyproject
    # pip builds the wheel in an isolated environment with the backend pyproject asks
    # for, as a user's install does (the test venv's own setuptools may be older).
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("onnxslim_lint-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert "License-File: LICENSE" in metadata.splitlines()
