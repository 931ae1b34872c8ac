"""The pre-commit hook, run by the real pre-commit from PyPI.

A copy of this checkout (its working tree, so uncommitted edits count) becomes a
hook repository; a temporary user repository points its ``.pre-commit-config.yaml``
at it and commits models through ``git commit`` with the hook installed. pre-commit
builds the hook's own virtual environment with pip, as it does for users (once per
test session: PRE_COMMIT_HOME is shared by the tests here).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import ci_models
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HOOK_FILES = ("pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=check, env=_env()
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
    )
    for name in ("GITHUB_ACTIONS", "PRE_COMMIT", "PRE_COMMIT_ALLOW_NO_CONFIG"):
        env.pop(name, None)
    return env


def _pre_commit() -> list[str]:
    exe = shutil.which("pre-commit")
    return [exe] if exe else [sys.executable, "-m", "pre_commit"]


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This checkout's working tree as a one-commit git repository."""
    repo = tmp_path_factory.mktemp("hook-repo")
    for name in HOOK_FILES:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, repo / name)
    if not (repo / "README.md").exists():  # pyproject's readme must exist to build
        (repo / "README.md").write_text("onnxslim-lint\n")
    shutil.copytree(
        ROOT / "onnxslim_lint",
        repo / "onnxslim_lint",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "hook repo")
    rev = _git(repo, "rev-parse", "HEAD").stdout.strip()
    return repo, rev


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


class UserRepo:
    def __init__(self, path: Path, hook: tuple[Path, str], home: Path) -> None:
        self.path = path
        self.hook = hook
        self.home = home
        path.mkdir(parents=True, exist_ok=True)
        _git(path, "init", "-q", "-b", "main")
        self.configure([])
        _git(path, "add", ".pre-commit-config.yaml")
        _git(path, "commit", "-q", "-m", "config")
        self.run_pre_commit("install")

    def configure(self, args: list[str]) -> None:
        repo, rev = self.hook
        hook: dict[str, object] = {"id": "onnxslim-lint"}
        if args:
            hook["args"] = args
        config = {"repos": [{"repo": str(repo), "rev": rev, "hooks": [hook]}]}
        (self.path / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))

    def env(self) -> dict[str, str]:
        env = _env()
        env["PRE_COMMIT_HOME"] = str(self.home)
        # The hook's venv: make sure pre-commit's pip builds it from PyPI as usual.
        env.pop("PIP_REQUIRE_VIRTUALENV", None)
        env.pop("VIRTUAL_ENV", None)
        return env

    def run_pre_commit(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_pre_commit(), *args],
            cwd=self.path,
            capture_output=True,
            text=True,
            env=self.env(),
            check=False,
        )

    def commit(self, message: str, *paths: str) -> subprocess.CompletedProcess[str]:
        if paths:
            _git(self.path, "add", "--", *paths)
        done = subprocess.run(
            ["git", "commit", "-m", message],
            cwd=self.path,
            capture_output=True,
            text=True,
            env=self.env(),
            check=False,
        )
        done.output = done.stdout + done.stderr  # type: ignore[attr-defined]
        return done

    def head_message(self) -> str:
        return _git(self.path, "log", "-1", "--format=%s").stdout.strip()


@pytest.fixture
def user_repo(tmp_path: Path, hook_repo: tuple[Path, str], pre_commit_home: Path) -> UserRepo:
    return UserRepo(tmp_path / "user", hook_repo, pre_commit_home)


def test_hook_definition_matches_models_and_data_files_and_not_binary_only() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "onnxslim-lint"
    assert hook["language"] == "python"
    assert "types" not in hook  # an LFS pointer is "text" to identify: it must still run
    import re

    files = re.compile(hook["files"])
    for name in ("m.onnx", "m.onnx.data", "m.onnx_data", "weights.bin", "m.onnx.data.1"):
        assert files.search(name), name
    for name in ("README.md", "m.onnx.txt", "train.py"):
        assert not files.search(name), name
    done = subprocess.run(
        [*_pre_commit(), "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hook_stops_a_bloated_model_fixes_it_and_then_passes(user_repo: UserRepo) -> None:
    repo = user_repo.path
    model = ci_models.write(repo / "models" / "net.onnx", dead_floats=20_000)
    size_before = model.stat().st_size

    # 1. Reporting hook: the commit is refused with the finding lines.
    done = user_repo.commit("add model", "models/net.onnx")
    assert done.returncode != 0, done.output
    assert "onnxslim-lint" in done.output and "Failed" in done.output
    assert "models/net.onnx: OSL101 [*] 1 unused initializer (80.0 kB)" in done.output
    assert "models/net.onnx: OSL201 [*]" in done.output
    assert user_repo.head_message() == "config"
    assert model.stat().st_size == size_before  # reporting never writes

    # 2. Fixing hook (args: [--fix]): the file is rewritten, so pre-commit fails.
    user_repo.configure(["--fix"])
    _git(repo, "add", ".pre-commit-config.yaml")
    done = user_repo.commit("add model", "models/net.onnx")
    assert done.returncode != 0, done.output
    assert "files were modified by this hook" in done.output
    assert "models/net.onnx: fixed:" in done.output
    assert model.stat().st_size < size_before - 80_000
    assert user_repo.head_message() == "config"

    # 3. The next run passes and the commit is made.
    done = user_repo.commit("add model", "models/net.onnx")
    assert done.returncode == 0, done.output
    assert "Passed" in done.output
    assert user_repo.head_message() == "add model"


def test_the_shipped_example_fails_then_fixes_then_passes_with_the_default_hook(
    user_repo: UserRepo,
) -> None:
    """The README's example model through the documented hook and ``args: [--fix]``:
    the default rule set has nothing --fix cannot fix, so the second commit passes."""
    repo = user_repo.path
    shutil.copyfile(ROOT / "examples" / "messy.onnx", repo / "messy.onnx")
    done = user_repo.commit("add example", "messy.onnx")
    assert done.returncode != 0 and "Found 6 errors" in done.output, done.output
    user_repo.configure(["--fix"])
    _git(repo, "add", ".pre-commit-config.yaml")
    done = user_repo.commit("add example", "messy.onnx")
    assert done.returncode != 0 and "files were modified by this hook" in done.output
    assert "Found 6 errors (6 fixed, 0 remaining)." in done.output, done.output
    done = user_repo.commit("add example", "messy.onnx")
    assert done.returncode == 0 and "Passed" in done.output, done.output
    assert user_repo.head_message() == "add example"


def test_selected_fusions_need_unsafe_fixes_in_the_hook_to_pass(user_repo: UserRepo) -> None:
    """docs/ci.md's caveat: with ``extend-select = ["OSL4"]`` plain ``--fix`` leaves
    the numeric fixes (messy.onnx's OSL404), so the commit fails again; with
    ``args: [--fix, --unsafe-fixes]`` it is fixed once and then passes."""
    repo = user_repo.path
    (repo / "pyproject.toml").write_text('[tool.onnxslim-lint]\nextend-select = ["OSL4"]\n')
    shutil.copyfile(ROOT / "examples" / "messy.onnx", repo / "messy.onnx")
    user_repo.configure(["--fix"])
    _git(repo, "add", ".pre-commit-config.yaml", "pyproject.toml")
    done = user_repo.commit("add example", "messy.onnx")
    assert done.returncode != 0 and "Found 7 errors (6 fixed, 1 remaining)." in done.output
    done = user_repo.commit("add example", "messy.onnx")
    assert done.returncode != 0 and "OSL404" in done.output, done.output
    assert "files were modified by this hook" not in done.output
    user_repo.configure(["--fix", "--unsafe-fixes"])
    _git(repo, "add", ".pre-commit-config.yaml")
    done = user_repo.commit("add example", "messy.onnx")
    assert done.returncode != 0 and "files were modified by this hook" in done.output
    assert "rules OSL404×4" in done.output, done.output
    done = user_repo.commit("add example", "messy.onnx")
    assert done.returncode == 0 and "Passed" in done.output, done.output


def test_hook_passes_a_clean_model(user_repo: UserRepo) -> None:
    ci_models.write(user_repo.path / "clean.onnx")
    done = user_repo.commit("clean model", "clean.onnx")
    assert done.returncode == 0, done.output
    assert "onnxslim-lint" in done.output and "Passed" in done.output


def test_hook_reports_a_git_lfs_pointer_instead_of_skipping_it(user_repo: UserRepo) -> None:
    ci_models.lfs_pointer(user_repo.path / "big.onnx", 123_456_789)
    done = user_repo.commit("pointer", "big.onnx")
    assert done.returncode != 0, done.output
    assert "big.onnx: OSL004" in done.output
    assert "Skipped" not in done.output


def test_a_change_to_external_data_alone_checks_its_model(user_repo: UserRepo) -> None:
    repo = user_repo.path
    model = ci_models.write(repo / "net.onnx", external=True, dead_floats=1000)
    data = repo / "net.onnx.data"
    assert data.is_file()
    # Committed once without the hook (an existing model with dead weight) ...
    _git(repo, "add", "net.onnx", "net.onnx.data")
    _git(repo, "commit", "-q", "--no-verify", "-m", "existing model")
    # ... then only the weights change (same layout, new values).
    weights = bytearray(data.read_bytes())
    weights[:16] = bytes(16)
    data.write_bytes(bytes(weights))
    assert model.is_file()
    changed = _git(repo, "status", "--porcelain").stdout.split("\n")
    assert [line for line in changed if line.strip()] == [" M net.onnx.data"]

    done = user_repo.commit("new weights", "net.onnx.data")
    assert done.returncode != 0, done.output
    assert "net.onnx: OSL101 [*] 1 unused initializer" in done.output


def test_a_data_file_no_model_uses_is_skipped(user_repo: UserRepo) -> None:
    (user_repo.path / "firmware.bin").write_bytes(b"\x00\x01" * 100)
    done = user_repo.commit("firmware", "firmware.bin")
    assert done.returncode == 0, done.output
    assert user_repo.head_message() == "firmware"


def test_the_docs_snippet_is_a_valid_pre_commit_config(tmp_path: Path) -> None:
    import re

    docs = (ROOT / "docs" / "ci.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", docs, re.DOTALL) if "repos:" in b]
    assert len(blocks) == 1
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(blocks[0])
    done = subprocess.run(
        [*_pre_commit(), "validate-config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (repo,) = yaml.safe_load(blocks[0])["repos"]
    assert [hook["id"] for hook in repo["hooks"]] == ["onnxslim-lint"]
    # The commented alternative is the one-line change users make to fix.
    assert "# args: [--fix]" in blocks[0]


# --------------------------------------------------------------------------- the CLI side


def test_cli_maps_a_data_file_to_the_models_that_use_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from onnxslim_lint.cli import main

    monkeypatch.chdir(tmp_path)
    ci_models.write(tmp_path / "a" / "net.onnx", external=True, dead_floats=10)
    ci_models.write(tmp_path / "a" / "other.onnx")  # same folder, does not use it
    (tmp_path / "a" / "unused.bin").write_bytes(b"\x00" * 10)
    (tmp_path / "notes.txt").write_text("not a model")

    assert main(["check", "--isolated", "a/net.onnx.data", "a/net.onnx"]) == 1
    out = capsys.readouterr().out
    assert out.count("a/net.onnx: OSL101") == 1  # given twice, checked once
    assert "other.onnx" not in out

    assert main(["check", "--isolated", "a/unused.bin"]) == 0
    err = capsys.readouterr().err
    assert "a/unused.bin: no model here uses it; skipped" in err

    # Any other file given by name is still checked (and reported) as a model.
    assert main(["check", "--isolated", "notes.txt"]) == 2
    assert "notes.txt: OSL002" in capsys.readouterr().out
