"""A pull request for the Action's run step, made in a real git repository, and the
step run on it (``scripts/github_action.py`` with the variables GitHub sets).

``main`` holds four models; the pull request (branch ``feature``, checked out)
bloats ``encoder.onnx`` (32 kB of dead weight to 80 kB) past the size and growth
budgets, deletes ``legacy.onnx``,
renames ``decoder.onnx`` to ``decoder_v2.onnx`` and leaves ``steady.onnx`` alone.

``python tests/action_pr.py`` prints the job summary, the annotations and the
outputs of that pull request, to read or to paste into a rendered Markdown view.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import ci_models

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "github_action.py"

BUDGET = """\
[tool.onnxslim-lint.budget]
max-size = "50 kB"
max-growth-percent = 20
"""


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    env.pop("ONNXSLIM_LINT_OUTPUT_FORMAT", None)
    env.update(
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
    )
    return env


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=git_env(), check=False
    )
    assert done.returncode == 0, f"git {args}: {done.stderr}"
    return done.stdout


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def new_repository(path: Path, budget: str = BUDGET) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    (path / "pyproject.toml").write_text(budget)
    return path


def make_pull_request(path: Path) -> Path:
    """The repository described above, on the pull request's commit."""
    repo = new_repository(path)
    models = repo / "models"
    ci_models.write(models / "encoder.onnx", dead_floats=8000)
    ci_models.write(models / "legacy.onnx", dead_floats=3000)
    ci_models.write(models / "decoder.onnx", seed=1)
    ci_models.write(models / "steady.onnx", seed=2)
    commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    ci_models.write(models / "encoder.onnx", dead_floats=20_000)
    (models / "legacy.onnx").unlink()
    git(repo, "mv", "models/decoder.onnx", "models/decoder_v2.onnx")
    commit(repo, "pull request")
    return repo


@dataclass
class StepRun:
    returncode: int
    stdout: str
    stderr: str
    summary: str
    outputs: dict[str, str]

    @property
    def annotations(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith("::")]


def run_step(workspace: Path, **inputs: str) -> StepRun:
    """The action's run step in ``workspace`` for a pull request into ``main``;
    ``inputs`` by their names in action.yml (``paths="models"``, ``base_ref=...``)."""
    files = Path(tempfile.mkdtemp(prefix="runner-"))
    summary, output = files / "step_summary.md", files / "output"
    summary.write_text("")
    output.write_text("")
    env = git_env()
    env.update(
        GITHUB_ACTIONS="true",
        GITHUB_EVENT_NAME="pull_request",
        GITHUB_BASE_REF="main",
        GITHUB_HEAD_REF="feature",
        GITHUB_WORKSPACE=str(workspace),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(output),
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    for name, value in inputs.items():
        env[f"INPUT_{name.upper()}"] = value
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return StepRun(done.returncode, done.stdout, done.stderr, summary.read_text(), outputs)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        workspace = make_pull_request(Path(tmp) / "repo")
        step = run_step(workspace, paths="models")
    print(step.summary)
    print("Annotations:")
    print("\n".join(step.annotations))
    print(f"\nOutputs: {step.outputs}\nExit status: {step.returncode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
