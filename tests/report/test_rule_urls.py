"""Every finding links its rule page: ``url`` in json and json-lines, ``helpUri`` in
SARIF, from one base (``docs-url``), and the default base points at pages that exist
in the repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onnxslim_lint.cli import main
from onnxslim_lint.config import DOCS_URL

REPO = Path(__file__).resolve().parents[2]
MESSY = REPO / "examples" / "messy.onnx"


def _out(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    main(list(args))
    return capsys.readouterr().out


def test_json_findings_link_their_rule_page(capsys: pytest.CaptureFixture[str]) -> None:
    findings = json.loads(_out(capsys, str(MESSY), "--output-format", "json", "--isolated"))
    assert findings
    for finding in findings:
        page = f"{finding['code']}-{finding['name']}.md"
        assert finding["url"] == f"{DOCS_URL}/{page}"
        assert (REPO / "docs" / "rules" / page).is_file()  # the default base's target
    lines = _out(capsys, str(MESSY), "--output-format", "json-lines", "--isolated")
    assert [json.loads(line)["url"] for line in lines.splitlines()] == [f["url"] for f in findings]


def test_sarif_rules_carry_help_uri_from_the_configured_base(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "onnxslim-lint.toml"
    config.write_text('docs-url = "https://docs.example.com/rules/"\n')
    sarif = json.loads(
        _out(capsys, str(MESSY), "--output-format", "sarif", "--config", str(config))
    )
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    assert rules
    for rule in rules:
        assert rule["helpUri"] == f"https://docs.example.com/rules/{rule['id']}-{rule['name']}.md"


def test_a_docs_url_that_is_not_a_url_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "onnxslim-lint.toml"
    config.write_text('docs-url = "docs/rules"\n')
    assert main([str(MESSY), "--config", str(config)]) == 2
    assert "docs-url" in capsys.readouterr().err
