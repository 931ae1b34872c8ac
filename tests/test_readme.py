"""The README's examples stay true: its configuration parses, its commands run."""

from __future__ import annotations

import re
import shutil
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
