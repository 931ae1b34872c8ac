"""The ``gitlab`` format: a GitLab Code Quality report, checked against the fields
GitLab reads (as a JSON schema), with stable, repository-relative issues."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ci_models
import jsonschema
import pytest

from onnxslim_lint.cli import main

# What GitLab's Code Quality widget requires of each issue (docs: "Code Quality report
# format"); severity is one of the five it knows.
CODE_QUALITY_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path", "lines"],
                "properties": {
                    "path": {"type": "string", "minLength": 1},
                    "lines": {
                        "type": "object",
                        "required": ["begin"],
                        "properties": {"begin": {"type": "integer", "minimum": 1}},
                    },
                },
            },
        },
    },
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("CI_PROJECT_DIR", "GITHUB_WORKSPACE", "ONNXSLIM_LINT_OUTPUT_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    ci_models.write(tmp_path / "models" / "messy.onnx", dead_floats=100)
    ci_models.write(tmp_path / "models" / "clean.onnx")
    (tmp_path / "models" / "broken.onnx").write_bytes(b"")
    return tmp_path


def _report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict]]:
    code = main(["check", "--isolated", "--no-cache", "--output-format", "gitlab", *args])
    return code, json.loads(capsys.readouterr().out)


def test_gitlab_report_is_well_formed(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, issues = _report(capsys, "models")
    assert code == 2  # the empty file
    jsonschema.validate(issues, CODE_QUALITY_SCHEMA)
    by_key = {(i["location"]["path"], i["check_name"]): i for i in issues}
    assert set(by_key) == {
        ("models/broken.onnx", "OSL001"),
        ("models/messy.onnx", "OSL101"),
        ("models/messy.onnx", "OSL201"),
    }
    assert by_key["models/broken.onnx", "OSL001"]["severity"] == "blocker"
    dead = by_key["models/messy.onnx", "OSL101"]
    assert dead["severity"] == "major"
    assert dead["description"] == "OSL101 unused-initializer: 1 unused initializer (423 B)"
    assert dead["location"]["lines"] == {"begin": 1}
    assert len({i["fingerprint"] for i in issues}) == len(issues)


def test_gitlab_report_of_a_clean_model_is_an_empty_list(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _report(capsys, "models/clean.onnx") == (0, [])


def test_gitlab_fingerprints_are_stable_across_runs_folders_and_model_changes(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, first = _report(capsys, "models/messy.onnx")
    # From another folder, with GitLab's CI_PROJECT_DIR: the same paths and identities.
    monkeypatch.setenv("CI_PROJECT_DIR", str(project))
    monkeypatch.chdir(project / "models")
    _, second = _report(capsys, "messy.onnx")
    assert second == first
    # More dead weight changes the message, not the issue's identity.
    ci_models.write(project / "models" / "messy.onnx", dead_floats=300)
    _, third = _report(capsys, "messy.onnx")
    assert [i["fingerprint"] for i in third] == [i["fingerprint"] for i in first]
    assert third[0]["description"] != first[0]["description"]


def test_gitlab_paths_are_relative_to_ci_project_dir(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI_PROJECT_DIR", str(project / "models"))
    _, issues = _report(capsys, "models/messy.onnx")
    assert [i["location"]["path"] for i in issues] == ["messy.onnx", "messy.onnx"]


def test_gitlab_is_an_output_format_setting(project: Path) -> None:
    (project / "onnxslim-lint.toml").write_text('output-format = "gitlab"\n')
    done = subprocess.run(
        [sys.executable, "-m", "onnxslim_lint", "models/messy.onnx", "--no-cache"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    issues = json.loads(done.stdout)
    jsonschema.validate(issues, CODE_QUALITY_SCHEMA)
    assert [i["check_name"] for i in issues] == ["OSL101", "OSL201"]
