"""The GitHub Action (``action.yml``), validated and run in a simulated runner.

The simulated runner does what GitHub's does for a composite action, no more:
substitutes the ``${{ inputs.* }}`` and ``${{ steps.*.outputs.* }}`` expressions,
runs each ``run`` with ``bash -e {0}`` in the workspace, hands ``GITHUB_ENV`` lines
on to later steps, collects ``GITHUB_OUTPUT`` per step, and evaluates the action's
outputs. The workspace is a pull request checkout made the way actions/checkout
makes it: a one-commit fetch of ``refs/pull/1/merge`` from an ``origin`` that holds
the base branch and the pull request's merge commit. The install step really
builds a virtual environment and pip-installs a copy of this checkout into it.

Not simulated: GitHub's rendering of annotations and of the summary, the ten
annotations per step limit, and code scanning's SARIF ingestion (the SARIF is
checked against the 2.1.0 schema in ``test_formats.py`` and here).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import ci_models
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTION_FILES = ("action.yml", "pyproject.toml", "README.md", "LICENSE")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

BUDGET = """\
[tool.onnxslim-lint.budget]
max-size = "50 kB"
max-growth-percent = 20
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    env.update(
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
    )
    env.pop("VIRTUAL_ENV", None)
    env.pop("ONNXSLIM_LINT_OUTPUT_FORMAT", None)
    return env


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=_env(), check=False
    )
    assert done.returncode == 0, f"git {args}: {done.stderr}"
    return done.stdout


# --------------------------------------------------------------------------- the runner

_EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


@dataclass
class ActionRun:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def annotations(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith("::")]


def _parse_github_file(path: Path) -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIM`` blocks, as the runner reads them."""
    values: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            i += 1
            while lines[i] != delimiter:
                block.append(lines[i])
                i += 1
            values[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        i += 1
    return values


class SimulatedRunner:
    def __init__(self, action_dir: Path, workspace: Path, temp: Path) -> None:
        self.action_dir = action_dir
        self.workspace = workspace
        self.temp = temp
        self.action = yaml.safe_load((action_dir / "action.yml").read_text())

    def _eval(self, text: str, context: dict[str, dict[str, object]]) -> str:
        def value(match: re.Match[str]) -> str:
            expression = match.group(1)
            current: object = context
            for part in expression.split("."):
                assert isinstance(current, dict), f"cannot evaluate {expression}"
                current = current.get(part, "")
            return "" if current is None else str(current)

        return _EXPR.sub(value, text)

    def run(
        self,
        inputs: dict[str, str],
        event_env: dict[str, str],
        *,
        runner_temp: Path,
        github: dict[str, str] | None = None,
    ) -> ActionRun:
        # An input's default may be an expression on the github context (github.token).
        defaults: dict[str, dict[str, object]] = {"github": {"token": "", **(github or {})}}
        given = {
            name: inputs.get(name, self._eval(str(spec.get("default", "")), defaults))
            for name, spec in self.action.get("inputs", {}).items()
        }
        unknown = set(inputs) - set(given)
        assert not unknown, f"not inputs of action.yml: {unknown}"
        summary = self.temp / "step_summary.md"
        env_file = self.temp / "github_env"
        summary.write_text("")
        env_file.write_text("")
        job_env = _env()
        job_env.pop("PYTHONPATH", None)  # the tool comes from the Action's environment
        job_env.update(event_env)
        job_env.update(
            GITHUB_ACTIONS="true",
            GITHUB_WORKSPACE=str(self.workspace),
            GITHUB_ACTION_PATH=str(self.action_dir),
            GITHUB_ENV=str(env_file),
            GITHUB_STEP_SUMMARY=str(summary),
            RUNNER_TEMP=str(runner_temp),
        )
        # A step that did not run has empty outputs, as on GitHub.
        steps: dict[str, dict[str, dict[str, str]]] = {
            step["id"]: {"outputs": {}} for step in self.action["runs"]["steps"] if "id" in step
        }
        context: dict[str, dict[str, object]] = {"inputs": given, "steps": steps}  # type: ignore[dict-item]
        stdout, stderr, code = [], [], 0
        for index, step in enumerate(self.action["runs"]["steps"]):
            assert step["shell"] == "bash"
            output_file = self.temp / f"output_{index}"
            output_file.write_text("")
            step_env = dict(job_env)
            step_env.update(_parse_github_file(env_file))
            step_env.update(
                {k: self._eval(str(v), context) for k, v in step.get("env", {}).items()}
            )
            step_env["GITHUB_OUTPUT"] = str(output_file)
            script = self.temp / f"step_{index}.sh"
            script.write_text(self._eval(step["run"], context))
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=self.workspace,
                env=step_env,
                capture_output=True,
                text=True,
                check=False,
            )
            stdout.append(done.stdout)
            stderr.append(done.stderr)
            if "id" in step:
                steps[step["id"]] = {"outputs": _parse_github_file(output_file)}
            if done.returncode != 0:
                code = done.returncode
                break
        outputs = {
            name: self._eval(spec["value"], context)
            for name, spec in self.action.get("outputs", {}).items()
        }
        return ActionRun(
            code, "".join(stdout), "".join(stderr), outputs, summary.read_text(), job_env
        )


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def action_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this checkout, as ``uses: owner/onnxslim-lint@v1`` would fetch it."""
    target = tmp_path_factory.mktemp("action")
    for name in ACTION_FILES:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target / name)
    if not (target / "README.md").exists():
        (target / "README.md").write_text("onnxslim-lint\n")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "onnxslim_lint", target / "onnxslim_lint", ignore=ignore)
    shutil.copytree(ROOT / "scripts", target / "scripts", ignore=ignore)
    return target


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RUNNER_TEMP, shared so the tool's virtual environment is built once."""
    return tmp_path_factory.mktemp("runner-temp")


def _model_size(path: Path) -> int:
    return path.stat().st_size


@dataclass
class PullRequest:
    origin: Path
    base_sizes: dict[str, int]
    head_sizes: dict[str, int]


def make_pull_request(tmp: Path, *, head: str) -> PullRequest:
    """An origin with ``main`` and ``refs/pull/1/merge`` (the PR merged into main)."""
    origin = tmp / "origin.git"
    work = tmp / "dev"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp, "clone", "-q", str(origin), str(work))
    (work / "pyproject.toml").write_text(BUDGET)
    ci_models.write(work / "models" / "legacy.onnx", dead_floats=2000)  # old dead weight
    ci_models.write(work / "models" / "encoder.onnx")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "base")
    base_sizes = {p: _model_size(work / p) for p in ("models/legacy.onnx", "models/encoder.onnx")}
    git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
    git(work, "checkout", "-q", "-b", "feature")
    if head == "bloated":
        # encoder.onnx grows past both budgets and gains dead weight; a new model
        # arrives whose dead tensor's name needs escaping in workflow commands.
        ci_models.write(work / "models" / "encoder.onnx", dead_floats=20_000)
        ci_models.write(work / "models" / "new.onnx", dead_floats=10, dead_name="w%1:a,b\nc")
    else:
        ci_models.write(work / "models" / "clean.onnx")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "pull request")
    head_sizes = {
        p: _model_size(work / p)
        for p in ("models/encoder.onnx", "models/new.onnx", "models/clean.onnx")
        if (work / p).exists()
    }
    git(work, "checkout", "-q", "main")
    git(work, "merge", "-q", "--no-ff", "-m", "Merge pull request #1", "feature")
    git(work, "push", "-q", "origin", "HEAD:refs/pull/1/merge")
    return PullRequest(origin, base_sizes, head_sizes)


def checkout_like_actions(origin: Path, workspace: Path) -> None:
    """actions/checkout for a pull_request event: fetch-depth 1 of the merge ref."""
    workspace.mkdir()
    git(workspace, "init", "-q")
    git(workspace, "remote", "add", "origin", str(origin))
    git(
        workspace,
        "fetch",
        "-q",
        "--no-tags",
        "--depth=1",
        "origin",
        "+refs/pull/1/merge:refs/remotes/pull/1/merge",
    )
    git(workspace, "checkout", "-q", "--detach", "refs/remotes/pull/1/merge")


PR_EVENT = {
    "GITHUB_EVENT_NAME": "pull_request",
    "GITHUB_BASE_REF": "main",
    "GITHUB_HEAD_REF": "feature",
    "GITHUB_REF": "refs/pull/1/merge",
    "GITHUB_REPOSITORY": "octo/models",
}


def run_action(
    tmp: Path, action_dir: Path, runner_temp: Path, *, head: str, inputs: dict[str, str]
) -> tuple[ActionRun, PullRequest, Path]:
    pr = make_pull_request(tmp, head=head)
    workspace = tmp / "workspace"
    checkout_like_actions(pr.origin, workspace)
    scratch = tmp / "runner-files"
    scratch.mkdir()
    runner = SimulatedRunner(action_dir, workspace, scratch)
    result = runner.run(inputs, PR_EVENT, runner_temp=runner_temp)
    return result, pr, workspace


# --------------------------------------------------------------------------- tests


def test_action_yml_is_valid_github_action_metadata() -> None:
    exe = shutil.which("check-jsonschema")
    cmd = [exe] if exe else [sys.executable, "-m", "check_jsonschema"]
    done = subprocess.run(
        [*cmd, "--builtin-schema", "vendor.github-actions", str(ROOT / "action.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {"paths", "args", "base-ref", "changed-only", "sarif-file"}
    assert action["inputs"]["changed-only"]["default"] == "true"
    assert action["inputs"]["version"]["default"] == ""  # the Action's own checkout
    assert action["inputs"]["comment"]["default"] == "false"
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert set(action["outputs"]) == {"findings", "removable-bytes", "size-change-bytes", "version"}
    assert "GITHUB_ACTION_PATH" in str(action)


def test_action_fails_a_pull_request_that_bloats_a_model(
    tmp_path: Path, action_dir: Path, runner_temp: Path
) -> None:
    sarif_path = "reports/onnxslim-lint.sarif"
    result, pr, workspace = run_action(
        tmp_path,
        action_dir,
        runner_temp,
        head="bloated",
        inputs={"sarif-file": sarif_path},
    )
    assert result.returncode == 1, result.stdout + result.stderr

    # Annotations: repository-relative file, line 1, code and name in the title.
    notes = result.annotations
    encoder = [n for n in notes if n.startswith("::error file=models/encoder.onnx,line=1,")]
    titles = sorted(re.search(r"title=([^:]*)::", n).group(1) for n in encoder)  # type: ignore[union-attr]
    assert titles == [
        "OSL101 unused-initializer",
        "OSL201 identity-op",
        "OSL301 model-size",
        "OSL302 size-growth",
    ]
    growth = next(n for n in encoder if "OSL302" in n)
    assert "model grew by" in growth and "above the 20%25 budget" in growth
    dead = next(n for n in encoder if "OSL101" in n)
    assert "initializer legacy.weight float32[20000] 80.0 kB" in dead
    assert "%0A" in dead  # the names come on their own lines
    # The new model's tensor name holds %, :, a comma and a newline: escaped.
    new = [n for n in notes if n.startswith("::error file=models/new.onnx,")]
    assert len(new) == 2
    escaped = next(n for n in new if "OSL101" in n)
    assert "initializer w%251:a,b%0Ac float32[10]" in escaped
    assert all("\n" not in n and "\r" not in n for n in notes)
    # Only changed models: the old model's dead weight is not this PR's business.
    assert not any("legacy.onnx" in n for n in notes)
    assert len(notes) == 6

    # Outputs.
    assert result.outputs["findings"] == "6"
    removable = int(result.outputs["removable-bytes"])
    assert 80_000 < removable < 81_000
    change = (
        pr.head_sizes["models/encoder.onnx"]
        - pr.base_sizes["models/encoder.onnx"]
        + pr.head_sizes["models/new.onnx"]
    )
    assert result.outputs["size-change-bytes"] == str(change)

    # Job summary: a row per model with size, arrow and percent, and a total.
    summary = result.summary
    assert summary.startswith("## onnxslim-lint")
    rows = [line for line in summary.splitlines() if line.startswith("| ")]
    header, encoder_row, new_row, total_row = rows
    assert "Change vs <code>origin/main</code>" in header
    assert "<code>models/encoder.onnx</code>" in encoder_row
    assert "▲ +" in encoder_row and "%)" in encoder_row and "❌" in encoder_row
    assert "4 (OSL101, OSL201, OSL301, OSL302)" in encoder_row
    assert "| 80.1 kB |" in encoder_row  # removable, in human units
    assert "<code>models/new.onnx</code>" in new_row and "new" in new_row
    assert "**Total** (2 models)" in total_row and "**6**" in total_row
    assert "legacy.onnx" not in summary

    # SARIF, written where the input says, valid and repository-relative.
    sarif = json.loads((workspace / sarif_path).read_text())
    from sarif_kit.validate import validation_errors

    assert validation_errors(sarif) == []
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
    }
    assert uris == {"models/encoder.onnx", "models/new.onnx"}


def test_action_passes_a_clean_pull_request(
    tmp_path: Path, action_dir: Path, runner_temp: Path
) -> None:
    result, pr, _ = run_action(tmp_path, action_dir, runner_temp, head="clean", inputs={})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.annotations == []
    assert result.outputs["findings"] == "0"
    assert result.outputs["removable-bytes"] == "0"
    assert result.outputs["size-change-bytes"] == str(pr.head_sizes["models/clean.onnx"])
    assert "| ✅ | <code>models/clean.onnx</code>" in result.summary
    assert "new" in result.summary


def test_action_checks_every_model_when_changed_only_is_off(
    tmp_path: Path, action_dir: Path, runner_temp: Path
) -> None:
    result, _, _ = run_action(
        tmp_path,
        action_dir,
        runner_temp,
        head="clean",
        inputs={"changed-only": "false", "args": "--select OSL101"},
    )
    assert result.returncode == 1
    assert [n.split("::")[1] for n in result.annotations] == [
        "error file=models/legacy.onnx,line=1,title=OSL101 unused-initializer"
    ]
    assert "<code>models/legacy.onnx</code>" in result.summary
    assert "= 0 B" in result.summary  # unchanged against the base


# --------------------------------------------------------------------------- docs


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)


def test_workflow_snippets_in_the_docs_are_valid_and_use_real_inputs(tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "ci.md").read_text()
    workflows = [b for b in _yaml_blocks(docs) if "jobs:" in b and "runs-on:" in b]
    assert len(workflows) >= 2
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    exe = shutil.which("check-jsonschema")
    cmd = [exe] if exe else [sys.executable, "-m", "check_jsonschema"]
    for index, block in enumerate(workflows):
        path = tmp_path / f"workflow{index}.yml"
        path.write_text(block)
        done = subprocess.run(
            [*cmd, "--builtin-schema", "vendor.github-workflows", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, block + done.stdout + done.stderr
        steps = [s for job in yaml.safe_load(block)["jobs"].values() for s in job["steps"]]
        ours = [s for s in steps if "onnxslim-lint/onnxslim-lint@" in s.get("uses", "")]
        assert len(ours) == 1
        assert set(ours[0].get("with", {})) <= set(action["inputs"])


def test_action_reports_a_configuration_error_in_the_summary(
    tmp_path: Path, action_dir: Path, runner_temp: Path
) -> None:
    result, _, _ = run_action(
        tmp_path,
        action_dir,
        runner_temp,
        head="clean",
        inputs={"args": "--config \"budget.max-size = 'big'\""},
    )
    assert result.returncode == 2
    (note,) = result.annotations
    assert note.startswith("::error title=onnxslim-lint::--config: 'max-size' in [budget]")
    assert "❌ **Nothing was checked:** --config: &#x27;max-size&#x27;" in result.summary
    assert result.outputs["findings"] == ""
