"""Size budgets (OSL301 model-size, OSL302 size-growth), --base and --changed-only."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import ci_models
import pytest

from onnxslim_lint.cli import main
from onnxslim_lint.config import budget_settings, load_settings
from onnxslim_lint.sizes import parse_size

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ONNXSLIM_LINT_OUTPUT_FORMAT", raising=False)
    git(tmp_path, "init", "-q", "-b", "main")
    return tmp_path


def commit(repo: Path, message: str = "c") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def config(repo: Path, text: str) -> None:
    (repo / "pyproject.toml").write_text("[tool.onnxslim-lint.budget]\n" + text)


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    code = main(["check", "--output-format", "json", *args])
    captured = capsys.readouterr()
    findings = json.loads(captured.out) if captured.out.strip() else []
    return code, findings, captured.err


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (0, 0),
        (1234, 1234),
        ("512 B", 512),
        ("50 MB", 50_000_000),
        ("1.5 GB", 1_500_000_000),
        ("2kB", 2000),
        ("512 KiB", 524_288),
        ("1 gib", 1024**3),
        ("12", 12),
        (-1, None),
        (True, None),
        ("fifty MB", None),
        ("5 XB", None),
        (1.5, None),
    ],
)
def test_parse_size(text: object, expected: int | None) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('max-size = "big"', "'max-size' in [tool.onnxslim-lint.budget] must be a size"),
        ("max-growth = -5", "'max-growth' in [tool.onnxslim-lint.budget] must be a size"),
        (
            'max-growth-percent = "5%"',
            "'max-growth-percent' in [tool.onnxslim-lint.budget] must be a number >= 0",
        ),
        ("max-sise = 5", "unknown key 'max-sise' in [tool.onnxslim-lint.budget]"),
        ('per-file = "x"', "'per-file' in [tool.onnxslim-lint.budget] must be a table"),
        (
            '[tool.onnxslim-lint.budget.per-file]\n"big/*" = { max-size = [1] }',
            "'max-size' in [tool.onnxslim-lint.budget.per-file.\"big/*\"] must be a size",
        ),
        (
            "message = 5",
            "'message' in [tool.onnxslim-lint.budget] must be a non-empty string, got an "
            "integer (5)",
        ),
        (
            "mesage = 'ask'",
            "unknown key 'mesage' in [tool.onnxslim-lint.budget] (did you mean 'message'?)",
        ),
        (
            '[tool.onnxslim-lint.budget.per-file]\n"big/*" = { message = " " }',
            "'message' in [tool.onnxslim-lint.budget.per-file.\"big/*\"] must be a non-empty "
            "string, got a string (' ')",
        ),
    ],
)
def test_bad_budget_config_names_the_file_and_key(
    repo: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    config(repo, text + "\n")
    ci_models.write(repo / "m.onnx")
    code = main(["check", "m.onnx"])
    err = capsys.readouterr().err
    assert code == 2
    assert "pyproject.toml: " in err
    assert message in err


# --------------------------------------------------------------------------- model-size


def test_model_size_over_and_under_budget_with_per_file_globs(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(
        repo,
        'max-size = "1 kB"\n'
        "[tool.onnxslim-lint.budget.per-file]\n"
        '"big/*.onnx" = { max-size = "100 kB" }\n',
    )
    small = ci_models.write(repo / "small.onnx")
    ci_models.write(repo / "bloated.onnx", dead_floats=1000)
    ci_models.write(repo / "big" / "allowed.onnx", dead_floats=1000)
    code, findings, _ = check(capsys, "--select", "OSL301", ".")
    assert code == 1
    (finding,) = findings
    assert finding["filename"] == "bloated.onnx"
    assert finding["code"] == "OSL301" and finding["name"] == "model-size"
    size = (repo / "bloated.onnx").stat().st_size
    assert finding["message"].startswith("model is 4.")
    assert "above the 1.0 kB budget" in finding["message"]
    assert finding["bytes"] == size - 1000
    assert finding["fixable"] is False
    assert small.stat().st_size < 1000


def test_model_size_counts_external_data(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config(repo, "max-size = 2000\n")
    model = ci_models.write(repo / "ext.onnx", external=True, dead_floats=1000)
    data = repo / "ext.onnx.data"
    assert model.stat().st_size < 2000 < model.stat().st_size + data.stat().st_size
    code, findings, _ = check(capsys, "--select", "OSL301", "ext.onnx")
    assert code == 1
    assert findings[0]["location"][0]["bytes"] == model.stat().st_size + data.stat().st_size


def test_budget_rules_obey_ignore_and_per_file_ignores(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(repo, "max-size = 10\n")
    (repo / "pyproject.toml").write_text(
        (repo / "pyproject.toml")
        .read_text()
        .replace(
            "[tool.onnxslim-lint.budget]",
            '[tool.onnxslim-lint]\nper-file-ignores = { "legacy/*" = ["model-size"] }\n'
            "[tool.onnxslim-lint.budget]",
        )
    )
    ci_models.write(repo / "legacy" / "a.onnx")
    ci_models.write(repo / "b.onnx")
    code, findings, _ = check(capsys, ".")
    assert [(f["filename"], f["code"]) for f in findings] == [("b.onnx", "OSL301")]
    code, findings, _ = check(capsys, "--ignore", "OSL3", ".")
    assert code == 0 and findings == []


def test_model_size_is_measured_after_fix(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config(repo, 'max-size = "10 kB"\n')
    ci_models.write(repo / "m.onnx", dead_floats=5000)
    code, findings, _ = check(capsys, "--fix", "--no-verify", "m.onnx")
    assert code == 0, findings
    assert findings == []


def test_rule_command_explains_budget_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rule", "OSL301"]) == 0
    out = capsys.readouterr().out
    assert "# model-size (OSL301)" in out and "max-size" in out
    assert main(["rule", "size-growth"]) == 0
    assert "max-growth-percent" in capsys.readouterr().out


# --------------------------------------------------------------------------- size-growth


def test_budget_message_is_shown_when_the_budget_is_broken(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(
        repo,
        'max-size = "1 kB"\n'
        'message = "ask #ml-infra before adding weights"\n'
        "[tool.onnxslim-lint.budget.per-file]\n"
        '"asr/*.onnx" = { message = "the ASR budget is set in docs/asr.md" }\n'
        '"big/*.onnx" = { max-size = "2 kB" }\n',
    )
    ci_models.write(repo / "bloated.onnx", dead_floats=1000)
    ci_models.write(repo / "asr" / "bloated.onnx", dead_floats=1000)
    ci_models.write(repo / "big" / "bloated.onnx", dead_floats=1000)
    ci_models.write(repo / "small.onnx")
    code, findings, _ = check(capsys, "--select", "OSL301", ".")
    assert code == 1
    messages = {f["filename"]: f["message"] for f in findings}
    assert sorted(messages) == ["asr/bloated.onnx", "big/bloated.onnx", "bloated.onnx"]
    assert messages["bloated.onnx"].endswith(
        "above the 1.0 kB budget: ask #ml-infra before adding weights"
    )
    # A per-file entry's message replaces the table's; its limits keep the table's message.
    assert messages["asr/bloated.onnx"].endswith(
        "above the 1.0 kB budget: the ASR budget is set in docs/asr.md"
    )
    assert messages["big/bloated.onnx"].endswith(
        "above the 2.0 kB budget: ask #ml-infra before adding weights"
    )


def test_budget_message_is_shown_for_growth_and_not_for_a_kept_budget(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(repo, 'max-growth-percent = 10\nmessage = "see CONTRIBUTING.md#models"\n')
    ci_models.write(repo / "a.onnx")
    ci_models.write(repo / "steady.onnx")
    commit(repo, "base")
    ci_models.write(repo / "a.onnx", dead_floats=100)
    commit(repo, "grow")
    code, findings, _ = check(capsys, "--select", "OSL302", "--base", "HEAD~1", ".")
    assert code == 1
    (finding,) = findings
    assert finding["filename"] == "a.onnx"
    assert finding["message"].endswith("above the 10% budget: see CONTRIBUTING.md#models")


def test_a_budget_of_only_messages_is_not_a_configured_budget(repo: Path) -> None:
    """A message is no limit: with nothing else, no file is measured for a budget."""
    config(
        repo, 'message = "hi"\n[tool.onnxslim-lint.budget.per-file]\n"*.onnx" = { message = "x" }\n'
    )
    table = budget_settings(load_settings(repo / "pyproject.toml"))
    assert table.default.message == "hi" and not table.configured
    config(repo, '[tool.onnxslim-lint.budget.per-file]\n"*.onnx" = { max-size = "1 MB" }\n')
    assert budget_settings(load_settings(repo / "pyproject.toml")).configured


def test_size_growth_against_base(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config(repo, 'max-growth-percent = 10\nmax-growth = "100 kB"\n')
    ci_models.write(repo / "a.onnx")
    ci_models.write(repo / "steady.onnx")
    commit(repo, "base")
    base_size = (repo / "a.onnx").stat().st_size
    git(repo, "checkout", "-q", "-b", "feature")
    ci_models.write(repo / "a.onnx", dead_floats=100)
    commit(repo, "grow")
    head_size = (repo / "a.onnx").stat().st_size
    code, findings, _ = check(capsys, "--select", "OSL302", "--base", "main", ".")
    assert code == 1
    (finding,) = findings
    assert finding["filename"] == "a.onnx"
    growth = head_size - base_size
    percent = growth / base_size * 100
    assert finding["message"] == (
        f"model grew by {growth} B ({percent:+.1f}%) against main "
        f"({base_size} B → {head_size} B), above the 10% budget"
    )
    assert finding["bytes"] == growth


def test_size_growth_compares_with_the_merge_base(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(repo, "max-growth = 10\n")
    ci_models.write(repo / "a.onnx")
    commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    git(repo, "checkout", "-q", "main")
    ci_models.write(repo / "a.onnx", dead_floats=100)  # main grows after the branch point
    commit(repo, "main moves on")
    git(repo, "checkout", "-q", "feature")
    code, findings, _ = check(capsys, "--select", "OSL302", "--base", "main", "a.onnx")
    assert code == 0 and findings == []  # the branch changed nothing


def test_size_growth_reads_an_lfs_pointer_at_the_base(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(repo, "max-growth = 0\n")
    ci_models.lfs_pointer(repo / "big.onnx", 300)
    ci_models.lfs_pointer(repo / "shrunk.onnx", 10**9)
    commit(repo, "pointers")
    ci_models.write(repo / "big.onnx", dead_floats=100)
    ci_models.write(repo / "shrunk.onnx", dead_floats=100)
    size = (repo / "big.onnx").stat().st_size
    _, findings, _ = check(capsys, "--select", "OSL302", "--base", "HEAD", ".")
    (finding,) = findings
    assert finding["filename"] == "big.onnx"
    assert f"(300 B → {size} B)" in finding["message"]
    assert finding["bytes"] == size - 300


def test_new_models_are_reported_as_new(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config(repo, 'max-growth = "100 B"\nmax-growth-percent = 5\n')
    ci_models.write(repo / "old.onnx")
    commit(repo)
    ci_models.write(repo / "fresh.onnx", dead_floats=100)
    _, findings, _ = check(capsys, "--select", "OSL302", "--base", "HEAD", ".")
    (finding,) = findings
    assert finding["filename"] == "fresh.onnx"
    size = (repo / "fresh.onnx").stat().st_size
    assert finding["message"] == (
        f"new model ({size} B) against HEAD, above the 100 B growth budget"
    )


def test_size_growth_needs_base_and_a_limit(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ci_models.write(repo / "a.onnx", dead_floats=100)
    commit(repo)
    # No limit configured: nothing, even with --base.
    code, findings, _ = check(capsys, "--select", "OSL3", "--base", "HEAD", ".")
    assert (code, findings) == (0, [])
    # A limit without --base: nothing to compare with.
    config(repo, "max-growth = 0\n")
    code, findings, _ = check(capsys, "--select", "OSL3", ".")
    assert (code, findings) == (0, [])


def test_unknown_base_ref_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ci_models.write(repo / "a.onnx")
    commit(repo)
    assert main(["check", "--base", "no-such-branch", "."]) == 2
    assert "--base no-such-branch: no such commit" in capsys.readouterr().err
    assert main(["check", "--changed-only", "."]) == 2
    assert "--changed-only needs --base" in capsys.readouterr().err


# --------------------------------------------------------------------------- changed-only


def test_changed_only_checks_changed_models_and_models_whose_data_changed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ci_models.write(repo / "untouched.onnx", dead_floats=10)
    ci_models.write(repo / "edited.onnx", dead_floats=10)
    ci_models.write(repo / "ext" / "m.onnx", dead_floats=10, external=True)
    commit(repo)
    ci_models.write(repo / "edited.onnx", dead_floats=20)
    data = repo / "ext" / "m.onnx.data"
    data.write_bytes(bytes(16) + data.read_bytes()[16:])
    ci_models.write(repo / "untracked.onnx", dead_floats=10)
    code, findings, _ = check(capsys, "--select", "OSL101", "--base", "HEAD", "--changed-only", ".")
    assert code == 1
    assert sorted(f["filename"] for f in findings) == [
        "edited.onnx",
        os.path.join("ext", "m.onnx"),
        "untracked.onnx",
    ]


def test_changed_only_with_nothing_changed_passes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ci_models.write(repo / "a.onnx", dead_floats=10)
    commit(repo)
    code = main(["check", "--base", "HEAD", "--changed-only", "."])
    captured = capsys.readouterr()
    assert code == 0
    assert "No models changed against HEAD." in captured.err


def test_a_bad_override_is_blamed_on_config_not_the_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(repo, 'max-size = "1 MB"\n')
    ci_models.write(repo / "m.onnx")
    assert main(["check", "--config", "budget.max-growth = 'lots'", "m.onnx"]) == 2
    err = capsys.readouterr().err
    assert "--config: 'max-growth' in [budget] must be a size" in err
    # Overrides merge into the file's table key by key.
    assert main(["check", "--config", "budget.max-size = 10", "m.onnx"]) == 1
    assert "OSL301" in capsys.readouterr().out
