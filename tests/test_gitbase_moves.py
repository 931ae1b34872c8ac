"""Models deleted or renamed since ``--base``: found with git, measured at the base."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import ci_models
import pytest
from action_pr import commit, git, new_repository

from onnxslim_lint.cli import main
from onnxslim_lint.gitbase import gone_models, open_base

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = new_repository(tmp_path / "repo", "[tool.onnxslim-lint.budget]\nmax-growth = 0\n")
    monkeypatch.chdir(repo)
    monkeypatch.delenv("ONNXSLIM_LINT_OUTPUT_FORMAT", raising=False)
    return repo


def test_deleted_and_renamed_models_under_the_checked_paths(repo: Path) -> None:
    models = repo / "models"
    ci_models.write(models / "gone.onnx", dead_floats=50)
    ci_models.write(models / "ext" / "gone.onnx", external=True, dead_floats=50)
    ci_models.write(models / "old_name.onnx", seed=3)
    ci_models.write(models / "excluded.onnx")
    ci_models.write(models / ".venv" / "vendored.onnx")
    ci_models.write(repo / "elsewhere" / "gone.onnx")
    ci_models.write(models / "kept.onnx")
    commit(repo, "base")
    base_sizes = {
        "ext": (models / "ext" / "gone.onnx").stat().st_size
        + (models / "ext" / "gone.onnx.data").stat().st_size,
        "plain": (models / "gone.onnx").stat().st_size,
    }
    git(repo, "checkout", "-q", "-b", "feature")
    for path in ("models/gone.onnx", "models/ext", "models/excluded.onnx", "models/.venv"):
        git(repo, "rm", "-q", "-r", path)
    git(repo, "rm", "-q", "-r", "elsewhere")
    git(repo, "mv", "models/old_name.onnx", "models/new_name.onnx")
    commit(repo, "pull request")

    base = open_base("main")
    assert sorted(base.gone_files()) == [
        "elsewhere/gone.onnx",
        "models/.venv/vendored.onnx",
        "models/excluded.onnx",
        "models/ext/gone.onnx",
        "models/ext/gone.onnx.data",
        "models/gone.onnx",
        "models/old_name.onnx",
    ]
    found = gone_models(base, [Path("models")], root=repo, exclude=["excluded.onnx"])
    # Models only (not their data), below the checked folder, not skipped or excluded;
    # the renamed model's old path is gone too (renamed_from pairs it with the new).
    assert sorted(found) == ["models/ext/gone.onnx", "models/gone.onnx", "models/old_name.onnx"]
    assert gone_models(base, [Path("models/gone.onnx")]) == ["models/gone.onnx"]
    assert base.renamed_from(models / "new_name.onnx") == "models/old_name.onnx"
    assert base.renamed_from(models / "kept.onnx") is None
    # A deleted model is measured at the base, external data included.
    assert base.model_size(repo / "models/ext/gone.onnx") == base_sizes["ext"]
    assert base.model_size(repo / "models/gone.onnx") == base_sizes["plain"]


def test_a_renamed_model_is_compared_with_its_old_path(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ci_models.write(repo / "old.onnx", seed=3)
    commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    git(repo, "mv", "old.onnx", "new.onnx")
    commit(repo, "rename")
    size = (repo / "new.onnx").stat().st_size
    # max-growth = 0: a model new at the base would break it; a renamed one is the same size.
    assert main(["check", "--output-format", "json", "--select", "OSL302", "--base", "main"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert open_base("main").model_size(repo / "new.onnx") == size
